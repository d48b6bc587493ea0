# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render every Kubernetes object of one catalog service, in apply order. Pure: no I/O.

The API:

``make_deployment(**settings)``
    The deployment-wide settings every render needs (namespace, release, node roles,
    general values, image settings, replicas), checked and with defaults filled in.
``render_service(entry, deployment, config_files, scripts=None)``
    ``[{'name': phase, 'objects': [...], 'wait': None | 'complete' | 'ready'}, ...]``
    with phases ``config``, ``db-init``, ``db-sync``, ``bootstrap``, ``register``,
    ``workloads``, ``post`` (empty phases left out). Apply each phase, wait as told,
    then the next.
``render_service_offline(entry, deployment, overrides=None, credentials=None, scripts=None)``
    The same without a cluster or etcd (``render.yml``): catalog defaults merged with
    ``overrides``; credentials stay ``$NAME`` placeholders unless given.
``render_upgrade_jobs(entry, deployment, config_files, step, scripts=None)``
    The Jobs of an upgrade step (``expand``, ``migrate``, ``contract``).
``all_objects(phases)``, ``checksum(data)``, ``labels(service, component)``,
``selector(service, component)``, ``config_secret_name(service, role)``
    Helpers.

``config_files`` is ``{node_role: {file: text}}`` as :func:`render.ini.render_config`
returns it: the service's rendered INI files. They go into one Secret per node role
(``<service>-config-<role>``); each pod mounts the files it names and carries their
checksum in ``openstack-k8s.io/config-checksum``, so a config change rolls exactly the
pods that read the changed file. Credentials never appear in any object but that Secret:
pods read them as files projected from the credentials Secret (read-only, mode 0440, group
``fsGroup``), by convention under :data:`CREDENTIALS_DIR`, never as environment variables.
Every container's root filesystem is read-only unless its catalog entry says otherwise;
each gets an emptyDir at ``/tmp`` and writes elsewhere only to the volumes it declares.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy
import hashlib
import json
import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import netcheck
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini

MANAGED_BY = 'openstack_k8s.deploy'
PART_OF = 'openstack'
CHECKSUM_ANNOTATION = 'openstack-k8s.io/config-checksum'
SPEC_HASH_ANNOTATION = 'openstack-k8s.io/spec-hash'
PLACEHOLDER_ANNOTATION = 'openstack-k8s.io/placeholders'
TOOLBOX_IMAGE = 'kolla-toolbox'
DB_CLIENT_IMAGE = 'mariadb-server'
MQ_CLIENT_IMAGE = 'rabbitmq'
# Where a pod finds the credentials it reads, one file per credential name (a projection
# of the credentials Secret): scripts read ``$(cat /run/secrets/openstack-k8s/NAME)``.
CREDENTIALS_DIR = '/run/secrets/openstack-k8s'
# Filled in where the catalog says nothing, so that every container is bounded.
DEFAULT_RESOURCES = {'requests': {'cpu': '100m', 'memory': '128Mi'}, 'limits': {'cpu': '2', 'memory': '1Gi'}}
PHASES = ('config', 'db-init', 'db-sync', 'bootstrap', 'register', 'workloads', 'post')
_WAITS = {'config': None, 'db-init': 'complete', 'db-sync': 'complete', 'bootstrap': 'complete',
          'register': 'complete', 'workloads': 'ready', 'post': 'complete'}


class RenderError(Exception):
    """The service cannot be rendered as asked; the message names the fix."""


# --------------------------------------------------------------------------- helpers

def checksum(data):
    """sha256 hex digest of ``data``: text as UTF-8, anything else as canonical JSON."""
    if not isinstance(data, str):
        data = json.dumps(data, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(data.encode('utf-8')).hexdigest()


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def labels(service, component):
    """The labels of ``docs/conventions.md`` for one object."""
    return {
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/part-of': PART_OF,
        'app.kubernetes.io/name': service,
        'app.kubernetes.io/component': component,
    }


def selector(service, component):
    """The immutable selector labels of a workload's pods."""
    return {
        'app.kubernetes.io/part-of': PART_OF,
        'app.kubernetes.io/name': service,
        'app.kubernetes.io/component': component,
    }


def _meta(name, namespace, service, component, annotations=None):
    meta = {'name': name, 'namespace': namespace, 'labels': labels(service, component)}
    if annotations:
        meta['annotations'] = annotations
    return meta


def config_secret_name(service, role):
    """Name of the Secret holding ``service``'s rendered files for node role ``role``."""
    return '%s-config-%s' % (service, role)


def scripts_configmap_name(service):
    """Name of the ConfigMap holding ``service``'s (non-secret) scripts."""
    return '%s-scripts' % service


def _quote(text):
    return "'" + str(text).replace("'", "'\"'\"'") + "'"


# --------------------------------------------------------------------------- deployment settings

def make_deployment(namespace='openstack', release='2026.2', node_roles=None, general=None, image=None,
                    replicas=None, credentials_secret='openstack-credentials', cluster_domain='cluster.local',
                    node_cidrs=None, storage_class=None, placeholders=False, region_name='RegionOne',
                    public_domain='openstack.local'):
    """Deployment-wide render settings, checked; missing general values get :func:`catalog.general_defaults`.

    * ``node_roles``: ``{role: {label: {key, value}, taint: {key, value, effect} | None}}``
      (``roles/catalog/files/node_roles.yml``); required.
    * ``general``: general keys (``DB_HOST``...) overriding the defaults.
    * ``image``: ``{registry, template, distro, overrides}`` (see :func:`catalog.image_ref`).
    * ``replicas``: ``{service: {component: n}}`` overriding catalog defaults.
    * ``node_cidrs``: CIDRs of the nodes; host-network pods reach namespace-only ports from them.
    * ``placeholders``: True when rendering without credentials (``render.yml``): the
      config Secrets then hold ``$NAME`` placeholders and are annotated so.
    """
    if not isinstance(node_roles, dict) or not node_roles:
        raise RenderError('node_roles is required: pass the content of roles/catalog/files/node_roles.yml '
                          '(or openstack_node_roles)')
    for role, spec in node_roles.items():
        label = (spec or {}).get('label') or {}
        if not label.get('key') or label.get('value') is None:
            raise RenderError('node role %s has no label {key, value}; fix openstack_node_roles' % role)
    if not re.match(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', str(namespace)):
        raise RenderError('namespace %r is not a valid Kubernetes namespace name' % namespace)
    problems = netcheck.cidr_problems(node_cidrs or [], 'node_cidrs (openstack_node_cidrs)')
    if problems:
        raise RenderError('; '.join(problems))
    defaults = cat.general_defaults(namespace=namespace, release=release, region_name=region_name,
                                    public_domain=public_domain, cluster_domain=cluster_domain,
                                    memcached_replicas=((replicas or {}).get('memcached') or {}).get('server', 1))
    defaults.update(general or {})
    try:
        resolved = ini.resolve_values(defaults)
    except ini.RenderError as exc:
        raise RenderError(str(exc))
    return {
        'namespace': namespace,
        'release': str(release),
        'node_roles': node_roles,
        'general': resolved,
        'image': dict(cat.DEFAULT_IMAGE, **dict((k, v) for k, v in (image or {}).items() if v is not None)),
        'replicas': replicas or {},
        'credentials_secret': credentials_secret,
        'cluster_domain': cluster_domain,
        'node_cidrs': list(node_cidrs or []),
        'storage_class': storage_class,
        'placeholders': bool(placeholders),
    }


# --------------------------------------------------------------------------- pod building blocks

def _env(items, deployment, where):
    out = []
    for item in items or []:
        if 'secret' in item:
            out.append({'name': item['name'], 'valueFrom': {'secretKeyRef': {
                'name': deployment['credentials_secret'], 'key': item['secret']}}})
        elif 'field' in item:
            out.append({'name': item['name'], 'valueFrom': {'fieldRef': {'fieldPath': item['field']}}})
        else:
            value = str(item.get('value', ''))
            for ref in cat.references(value):
                if ref not in deployment['general']:
                    raise RenderError('%s env %s: $%s is not a general value; credentials go in env as '
                                      'secret: <NAME>' % (where, item['name'], ref))
            out.append({'name': item['name'], 'value': ini.substitute(value, deployment['general'],
                                                                      '%s env %s' % (where, item['name']))
                        .replace('$$', '$')})
    return out


_UNITS = {'m': 0.001, '': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12,
          'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40}


def _quantity(value):
    match = re.match(r'^([0-9.]+)([a-zA-Z]*)$', str(value))
    if not match or match.group(2) not in _UNITS:
        raise RenderError('resource quantity %r is not understood; use e.g. 500m, 2, 512Mi, 1Gi' % (value,))
    return float(match.group(1)) * _UNITS[match.group(2)]


def _resources(spec):
    """The catalog's resources over :data:`DEFAULT_RESOURCES`.

    A section the catalog gives is merged over the default one; an empty one is left
    out (no limits for libvirt, whose guests are not the container's). A default limit
    never ends up below the request.
    """
    given = spec.get('resources') or {}
    out = {}
    for section in ('requests', 'limits'):
        if section in given and not given[section]:
            continue
        merged = dict(DEFAULT_RESOURCES[section])
        merged.update(given.get(section) or {})
        out[section] = merged
    for key, request in (out.get('requests') or {}).items():
        limits = out.get('limits') or {}
        if key in limits and key not in (given.get('limits') or {}) and _quantity(limits[key]) < _quantity(request):
            limits[key] = request
    return out


def _pull_policy(image):
    """Tags are rebuilt upstream: pull them always so every node runs the same build; digests never change."""
    return 'IfNotPresent' if '@sha256:' in image else 'Always'


def _probe(spec):
    if 'http' in spec:
        action = {'httpGet': {'path': spec['http'], 'port': spec['port']}}
    elif 'tcp' in spec:
        action = {'tcpSocket': {'port': spec['tcp']}}
    else:
        action = {'exec': {'command': list(spec['exec'])}}
    action.update({
        'initialDelaySeconds': spec.get('initial_delay', 10),
        'periodSeconds': spec.get('period', 10),
        'timeoutSeconds': spec.get('timeout', 5),
        'failureThreshold': spec.get('failure_threshold', 3),
    })
    return action


def read_only_root(spec):
    """True unless the catalog spec says its container must write its root filesystem."""
    return bool((spec.get('security') or {}).get('read_only_root_filesystem', True))


def credential_files(names, name='credentials', path=CREDENTIALS_DIR):
    """A catalog volume projecting credentials ``names`` as files ``<path>/<NAME>`` (read-only, mode 0440)."""
    return {'name': name, 'path': path, 'read_only': True,
            'credentials': {'items': dict((cred, cred) for cred in names)}}


def _security(spec):
    security = spec.get('security') or {}
    uid = security.get('run_as_user', 0)
    container = {'seccompProfile': {'type': 'RuntimeDefault'}, 'readOnlyRootFilesystem': read_only_root(spec)}
    if security.get('privileged'):
        container.update({'privileged': True, 'runAsUser': uid})
    else:
        caps = {'drop': ['ALL']}
        if security.get('capabilities'):
            caps['add'] = list(security['capabilities'])
        container.update({
            'allowPrivilegeEscalation': False,
            'capabilities': caps,
            'runAsUser': uid,
            'runAsGroup': security.get('run_as_group', uid),
            'runAsNonRoot': uid != 0,
        })
    pod = {}
    if security.get('fs_group') is not None:
        pod['fsGroup'] = security['fs_group']
    if not security.get('privileged'):
        pod['seccompProfile'] = {'type': 'RuntimeDefault'}
    return container, pod


def _placement(deployment, role):
    spec = deployment['node_roles'].get(role)
    if spec is None:
        raise RenderError('node role %r is not in node_roles (%s); add it to openstack_node_roles'
                          % (role, ', '.join(sorted(deployment['node_roles']))))
    label = spec['label']
    placement = {'nodeSelector': {label['key']: str(label['value'])}}
    taint = spec.get('taint')
    if taint:
        placement['tolerations'] = [{'key': taint['key'], 'operator': 'Equal', 'value': str(taint.get('value', '')),
                                     'effect': taint.get('effect', 'NoSchedule')}]
    return placement


class _Context(object):
    """What one render of one service needs, gathered once."""

    def __init__(self, entry, deployment, config_files, scripts):
        self.entry = entry
        self.name = entry['name']
        self.deployment = deployment
        self.namespace = deployment['namespace']
        self.config_files = config_files or {}
        self.scripts = {}
        for sname, spec in (entry.get('scripts') or {}).items():
            content = (scripts or {}).get(sname)
            if content is None and isinstance(spec, dict):
                content = spec.get('content')
            if content is None:
                path = spec.get('path') if isinstance(spec, dict) else spec
                raise RenderError('%s: script %s (%s) is missing; write it or pass its text in scripts'
                                  % (self.name, sname, path))
            self.scripts[sname] = content

    def image(self, name):
        return cat.image_ref(name, self.deployment['release'], self.deployment['image'])

    def file_text(self, role, fname, where):
        files = self.config_files.get(role)
        if files is None or fname not in files:
            raise RenderError('%s: %s needs %s of node role %s, which was not rendered; render the %s subtree '
                              'of the config tree' % (self.name, where, fname, role, role))
        return files[fname]

    def pod(self, spec, role, container_name, sa_name, restart_policy, where):
        """(pod spec, config checksum) for a component or job ``spec`` on node role ``role``."""
        mounts, volumes, digest = [], [], {}
        config_files = spec.get('config_files') or {}
        if config_files:
            items = []
            for fname in sorted(config_files):
                digest['config/' + fname] = checksum(self.file_text(role, fname, where))
                items.append({'key': fname, 'path': fname})
                mounts.append({'name': 'config', 'mountPath': config_files[fname], 'subPath': fname,
                               'readOnly': True})
            volumes.append({'name': 'config', 'secret': {'secretName': config_secret_name(self.name, role),
                                                         'items': items, 'defaultMode': 0o440}})
        spec_volumes = list(spec.get('volumes') or [])
        if read_only_root(spec) and not [v for v in spec_volumes if v['path'].rstrip('/') == '/tmp']:
            # Every program may want a scratch directory: a read-only root still gets /tmp.
            if [v for v in spec_volumes if v['name'] == 'tmp']:
                raise RenderError('%s %s: the volume named tmp is not mounted at /tmp; rename it (a read-only root '
                                  'filesystem gets an emptyDir named tmp at /tmp)' % (self.name, where))
            spec_volumes.append({'name': 'tmp', 'path': '/tmp', 'empty_dir': {}})
        security = spec.get('security') or {}
        if ([v for v in spec_volumes if 'credentials' in v] and security.get('run_as_user', 0) != 0
                and security.get('fs_group') is None):
            raise RenderError('%s %s: credentials are mounted as files readable by their group only; set '
                              'security.fs_group (the group of run_as_user) so the container can read them'
                              % (self.name, where))
        for vol in spec_volumes:
            mount = {'name': vol['name'], 'mountPath': vol['path']}
            if vol.get('read_only') or 'credentials' in vol:
                mount['readOnly'] = True
            if vol.get('sub_path'):
                mount['subPath'] = vol['sub_path']
            if vol.get('propagation'):
                mount['mountPropagation'] = vol['propagation']
            mounts.append(mount)
            if 'empty_dir' in vol:
                source = {'emptyDir': dict(('medium' if k == 'medium' else 'sizeLimit', v)
                                           for k, v in vol['empty_dir'].items() if k in ('medium', 'size_limit'))}
            elif 'host_path' in vol:
                source = {'hostPath': {'path': vol['host_path']['path'],
                                       'type': vol['host_path'].get('type', 'DirectoryOrCreate')}}
            elif 'credentials' in vol:
                items = [{'key': key, 'path': path} for key, path in sorted(vol['credentials']['items'].items())]
                source = {'secret': {'secretName': self.deployment['credentials_secret'], 'items': items,
                                     'defaultMode': vol['credentials'].get('mode', 0o440)}}
            elif 'script' in vol:
                sname = vol['script']['name']
                digest['script/' + sname] = checksum(self.scripts[sname])
                source = {'configMap': {'name': scripts_configmap_name(self.name),
                                        'items': [{'key': sname, 'path': sname}], 'defaultMode': 0o555}}
            else:  # storage: the StatefulSet's volume claim template of the same name
                continue
            volume = {'name': vol['name']}
            volume.update(source)
            volumes.append(volume)
        container_security, pod_security = _security(spec)
        image = self.image(spec['image'])
        container = {
            'name': container_name,
            'image': image,
            'imagePullPolicy': _pull_policy(image),
            'command': list(spec['command']) if spec.get('command') else None,
            'args': list(spec['args']) if spec.get('args') else None,
            'env': _env(spec.get('env'), self.deployment, '%s %s' % (self.name, where)) or None,
            'ports': [{'name': p['name'], 'containerPort': p['port'], 'protocol': p.get('protocol', 'TCP')}
                      for p in spec.get('ports') or []] or None,
            'resources': _resources(spec) or None,
            'securityContext': container_security,
            'volumeMounts': mounts or None,
        }
        for kind in ('readiness', 'liveness', 'startup'):
            if (spec.get('probes') or {}).get(kind):
                container['%sProbe' % kind] = _probe(spec['probes'][kind])
        container = dict((k, v) for k, v in container.items() if v is not None)
        init_containers = []
        for init in spec.get('init') or []:
            # Same image, mounts and environment as the main container: it prepares what that one uses.
            first = copy.deepcopy(dict((k, v) for k, v in container.items() if not k.endswith('Probe') and k != 'ports'))
            first.update({'name': init['name'], 'command': list(init['command'])})
            first.pop('args', None)
            if init.get('args'):
                first['args'] = list(init['args'])
            extra = _env(init.get('env'), self.deployment, '%s %s init %s' % (self.name, where, init['name']))
            if extra:
                first['env'] = first.get('env', []) + extra
            init_containers.append(first)
        pod = {
            'serviceAccountName': sa_name,
            'automountServiceAccountToken': bool(spec.get('rbac')),
            'restartPolicy': restart_policy,
            'containers': [container],
            'securityContext': pod_security,
        }
        if init_containers:
            pod['initContainers'] = init_containers
        pod.update(_placement(self.deployment, role))
        if volumes:
            pod['volumes'] = volumes
        if spec.get('host_network'):
            pod['hostNetwork'] = True
            pod['dnsPolicy'] = 'ClusterFirstWithHostNet'
        if spec.get('host_pid'):
            pod['hostPID'] = True
        if spec.get('termination_grace_period') is not None:
            pod['terminationGracePeriodSeconds'] = spec['termination_grace_period']
        return pod, checksum(digest)

    def service_account(self, sa_name, component, rules):
        objs = [{'apiVersion': 'v1', 'kind': 'ServiceAccount',
                 'metadata': _meta(sa_name, self.namespace, self.name, component),
                 'automountServiceAccountToken': bool(rules)}]
        if rules:
            objs.append({'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'Role',
                         'metadata': _meta(sa_name, self.namespace, self.name, component),
                         'rules': [dict((k, v) for k, v in {
                             'apiGroups': list(rule.get('api_groups') or ['']),
                             'resources': list(rule['resources']),
                             'verbs': list(rule['verbs']),
                             'resourceNames': list(rule['resource_names']) if rule.get('resource_names') else None,
                         }.items() if v is not None) for rule in rules]})
            objs.append({'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'RoleBinding',
                         'metadata': _meta(sa_name, self.namespace, self.name, component),
                         'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'Role', 'name': sa_name},
                         'subjects': [{'kind': 'ServiceAccount', 'name': sa_name, 'namespace': self.namespace}]})
        return objs


# --------------------------------------------------------------------------- jobs

def _job(ctx, key, spec, role, sa_name):
    """A Job whose name ends in a hash of its spec: a changed Job is a new Job (templates are immutable)."""
    pod, config_sum = ctx.pod(spec, role, key, sa_name, 'OnFailure', 'job %s' % key)
    template = {'metadata': {'labels': labels(ctx.name, key),
                             'annotations': {CHECKSUM_ANNOTATION: config_sum}},
                'spec': pod}
    job_spec = {'backoffLimit': spec.get('backoff_limit', 6), 'template': template}
    digest = checksum(job_spec)[:10]
    name = '%s-%s-%s' % (ctx.name, key, digest)
    if len(name) > 63:
        raise RenderError('%s: job name %s is longer than 63 characters; shorten the job name' % (ctx.name, name))
    return {'apiVersion': 'batch/v1', 'kind': 'Job',
            'metadata': _meta(name, ctx.namespace, ctx.name, key, {SPEC_HASH_ANNOTATION: digest}),
            'spec': job_spec}


_DB_INIT_SCRIPT = r'''sql_quote() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g"; }
run_sql() { mariadb --host="$DB_HOST" --port="$DB_PORT" --user=root --batch -e "$1"; }
'''


def _read_credential(var, name, export=False):
    """Shell lines setting ``var`` from the credential file ``name`` (``set -e`` stops on a missing file)."""
    lines = ['%s=$(cat %s/%s)' % (var, CREDENTIALS_DIR, name)]
    if export:
        lines.append('export %s' % var)
    return lines


def _db_init_spec(ctx):
    databases = ctx.entry.get('databases') or []
    env = [{'name': 'DB_HOST', 'value': '$DB_HOST'}, {'name': 'DB_PORT', 'value': '$DB_PORT'}]
    # The client reads the root password from MYSQL_PWD, set in the script's own environment only.
    lines = [_DB_INIT_SCRIPT] + _read_credential('MYSQL_PWD', 'MARIADB_ROOT_PASSWORD', export=True)
    passwords = []
    for database in databases:
        if database['password'] not in passwords:
            passwords.append(database['password'])
            lines.extend(_read_credential('DB_PASSWORD_%d' % (len(passwords) - 1), database['password']))
        var = 'DB_PASSWORD_%d' % passwords.index(database['password'])
        lines.append('pw=$(sql_quote "$%s")' % var)
        lines.append('run_sql "CREATE DATABASE IF NOT EXISTS \\`%s\\`;'
                     " CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '$pw';"
                     " ALTER USER '%s'@'%%' IDENTIFIED BY '$pw';"
                     " GRANT ALL PRIVILEGES ON \\`%s\\`.* TO '%s'@'%%';\""
                     % (database['name'], database['user'], database['user'], database['name'], database['user']))
    return {'image': DB_CLIENT_IMAGE, 'command': ['/bin/sh', '-ec', '\n'.join(lines) + '\n'], 'env': env,
            'volumes': [credential_files(['MARIADB_ROOT_PASSWORD'] + passwords)],
            'security': {'run_as_user': 42434, 'run_as_group': 42434, 'fs_group': 42434}}


def _mq_init_spec(ctx):
    messaging = ctx.entry['messaging']
    domain = ctx.deployment['cluster_domain']
    node = 'rabbit@rabbitmq-0.rabbitmq-nodes.%s.svc.%s' % (ctx.namespace, domain)
    # The CLI reads the Erlang cookie from $HOME/.erlang.cookie, which must be private to its owner.
    script = '\n'.join([
        'umask 077',
        'cat %s/RABBITMQ_ERLANG_COOKIE > "$HOME/.erlang.cookie"' % CREDENTIALS_DIR,
    ] + _read_credential('MQ_PASSWORD', messaging['password']) + [
        'ctl() { rabbitmqctl --longnames -n %s "$@"; }' % _quote(node),
        'if ctl list_users --silent | cut -f1 | grep -qx %s; then' % _quote(messaging['user']),
        '  ctl change_password %s "$MQ_PASSWORD"' % _quote(messaging['user']),
        'else',
        '  ctl add_user %s "$MQ_PASSWORD"' % _quote(messaging['user']),
        'fi',
        "ctl set_permissions -p / %s '.*' '.*' '.*'" % _quote(messaging['user']),
    ]) + '\n'
    return {'image': MQ_CLIENT_IMAGE, 'command': ['/bin/sh', '-ec', script],
            'env': [{'name': 'HOME', 'value': '/tmp'}],
            'volumes': [{'name': 'tmp', 'path': '/tmp', 'empty_dir': {}},
                        credential_files(['RABBITMQ_ERLANG_COOKIE', messaging['password']])],
            'security': {'run_as_user': 42439, 'run_as_group': 42439, 'fs_group': 42439}}


def _register_spec(ctx):
    keystone = ctx.entry['keystone']
    general = ctx.deployment['general']
    lines = _read_credential('OS_PASSWORD', 'KEYSTONE_ADMIN_PASSWORD', export=True)
    credentials = ['KEYSTONE_ADMIN_PASSWORD']
    lines.append('openstack project create --or-show --domain default service >/dev/null')
    env = [{'name': 'OS_AUTH_URL', 'value': '$KEYSTONE_INTERNAL_URL/v3'},
           {'name': 'OS_IDENTITY_API_VERSION', 'value': '3'},
           {'name': 'OS_INTERFACE', 'value': 'internal'},
           {'name': 'OS_REGION_NAME', 'value': '$REGION_NAME'},
           # Identity calls go to Keystone's URL, not to this region's identity endpoint in the catalog:
           # with a shared Keystone (openstack_keystone_mode shared) a new region has none yet.
           {'name': 'OS_IDENTITY_ENDPOINT_OVERRIDE', 'value': '$KEYSTONE_INTERNAL_URL/v3'},
           {'name': 'OS_USERNAME', 'value': 'admin'},
           {'name': 'OS_PROJECT_NAME', 'value': 'admin'},
           {'name': 'OS_USER_DOMAIN_NAME', 'value': 'Default'},
           {'name': 'OS_PROJECT_DOMAIN_NAME', 'value': 'Default'}]
    if any(service['type'] == 'identity' for service in keystone.get('services') or []):
        # A region's identity endpoints come first in it: with a shared Keystone, its region is new there.
        lines.append('openstack region show "$OS_REGION_NAME" >/dev/null 2>&1 || '
                     'openstack region create "$OS_REGION_NAME" >/dev/null')
    for service in keystone.get('services') or []:
        lines.append('svc=$(openstack service list -f value -c ID -c Type | awk -v t=%s \'$2 == t {print $1; exit}\')'
                     % _quote(service['type']))
        lines.append('[ -n "$svc" ] || svc=$(openstack service create -f value -c id --name %s --description %s %s)'
                     % (_quote(service['name']), _quote(service.get('description', service['name'])),
                        _quote(service['type'])))
        for interface in ('public', 'internal', 'admin'):
            url = ini.substitute(service['endpoints'][interface], general,
                                 '%s keystone endpoint %s %s' % (ctx.name, service['type'], interface))
            lines.append('ep=$(openstack endpoint list --service "$svc" --interface %s --region "$OS_REGION_NAME" '
                         '-f value -c ID | head -n1)' % interface)
            lines.append('if [ -z "$ep" ]; then openstack endpoint create --region "$OS_REGION_NAME" "$svc" %s %s '
                         '>/dev/null; else openstack endpoint set --url %s "$ep"; fi'
                         % (interface, _quote(url), _quote(url)))
    user = keystone.get('user')
    if user:
        lines.extend(_read_credential('SERVICE_PASSWORD', user['password']))
        if user['password'] not in credentials:
            credentials.append(user['password'])
        project = user.get('project', 'service')
        lines.append('openstack user create --or-show --domain default --password "$SERVICE_PASSWORD" %s >/dev/null'
                     % _quote(user['name']))
        lines.append('openstack user set --password "$SERVICE_PASSWORD" %s' % _quote(user['name']))
        for role in user['roles']:
            lines.append('openstack role create --or-show %s >/dev/null' % _quote(role))
            lines.append('openstack role add --project %s --user %s %s'
                         % (_quote(project), _quote(user['name']), _quote(role)))
    return {'image': TOOLBOX_IMAGE, 'command': ['/bin/sh', '-ec', '\n'.join(lines) + '\n'], 'env': env,
            'volumes': [{'name': 'tmp', 'path': '/tmp', 'empty_dir': {}}, credential_files(credentials)],
            'security': {'run_as_user': 42401, 'run_as_group': 42401, 'fs_group': 42401}}


# --------------------------------------------------------------------------- workloads

def _instances(entry):
    """``[(instance name, component name, role)]``: a component on several node roles becomes one workload per role."""
    out = []
    for cname in sorted(entry['components']):
        roles = cat.component_roles(entry['components'][cname])
        if len(roles) == 1:
            out.append((cname, cname, roles[0]))
        else:
            out.extend(('%s-%s' % (cname, role), cname, role) for role in roles)
    return out


def _workload(ctx, instance, cname, role, replicas_overrides):
    comp = ctx.entry['components'][cname]
    sa_name = '%s-%s' % (ctx.name, instance)
    pod, config_sum = ctx.pod(comp, role, instance, sa_name, 'Always', 'component %s' % instance)
    sel = selector(ctx.name, instance)
    template = {'metadata': {'labels': labels(ctx.name, instance),
                             'annotations': {CHECKSUM_ANNOTATION: config_sum}},
                'spec': pod}
    kind = comp['workload']
    spec = {'selector': {'matchLabels': sel}, 'template': template}
    replicas = cat.effective_replicas(ctx.entry, cname, replicas_overrides)
    if kind in ('Deployment', 'StatefulSet'):
        spec['replicas'] = replicas
    if kind == 'StatefulSet':
        # Members find their peers by ordinal: tell them how many there are.
        for container in pod['containers'] + pod.get('initContainers', []):
            container.setdefault('env', []).append({'name': 'REPLICAS', 'value': str(replicas)})
        spec['serviceName'] = comp['headless_service']
        spec['podManagementPolicy'] = comp.get('pod_management_policy', 'OrderedReady')
        storage = comp.get('storage')
        if storage:
            claim = {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': storage['size']}}}
            if ctx.deployment.get('storage_class'):
                claim['storageClassName'] = ctx.deployment['storage_class']
            spec['volumeClaimTemplates'] = [{'metadata': {'name': storage.get('name', 'data'),
                                                          'labels': labels(ctx.name, instance)},
                                             'spec': claim}]
            for container in pod['containers'] + pod.get('initContainers', []):
                container.setdefault('volumeMounts', []).append(
                    {'name': storage.get('name', 'data'), 'mountPath': storage['path']})
    if kind == 'DaemonSet':
        spec['updateStrategy'] = {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': 1}}
    workload = {'apiVersion': 'apps/v1', 'kind': kind,
                'metadata': _meta('%s-%s' % (ctx.name, instance), ctx.namespace, ctx.name, instance), 'spec': spec}
    objects = [workload]
    if kind != 'DaemonSet' and replicas and replicas > 1:
        objects.append({'apiVersion': 'policy/v1', 'kind': 'PodDisruptionBudget',
                        'metadata': _meta('%s-%s' % (ctx.name, instance), ctx.namespace, ctx.name, instance),
                        'spec': {'maxUnavailable': 1, 'selector': {'matchLabels': sel}}})
    return objects, sa_name


def _services(ctx, instance, comp):
    sel = selector(ctx.name, instance)
    by_service = {}
    for port in comp.get('ports') or []:
        if port.get('service'):
            by_service.setdefault(port['service'], []).append(port)
    headless = comp.get('headless_service')
    out = []
    names = sorted(set(by_service) | ({headless} if headless else set()))
    for svc in names:
        ports = comp.get('ports') if svc == headless else by_service[svc]
        spec = {'selector': sel,
                'ports': [{'name': p['name'], 'port': p.get('service_port', p['port']), 'targetPort': p['name'],
                           'protocol': p.get('protocol', 'TCP')} for p in ports or []]}
        if svc == headless:
            spec['clusterIP'] = 'None'
            spec['publishNotReadyAddresses'] = True
        else:
            spec['type'] = 'ClusterIP'
        if not spec['ports']:
            raise RenderError('%s: Service %s has no ports; give the component ports' % (ctx.name, svc))
        out.append({'apiVersion': 'v1', 'kind': 'Service',
                    'metadata': _meta(svc, ctx.namespace, ctx.name, instance), 'spec': spec})
    return out


def _network_policy(ctx, instance, comp):
    """Ingress only on the component's ports: from anywhere (APIs), the namespace, or the same component."""
    sel = selector(ctx.name, instance)
    rules = []
    by_access = {}
    for port in comp.get('ports') or []:
        by_access.setdefault(port['access'], []).append({'port': port['port'], 'protocol': port.get('protocol', 'TCP')})
    if by_access.get('any'):
        rules.append({'ports': by_access['any']})
    if by_access.get('namespace'):
        sources = [{'podSelector': {}}] + [{'ipBlock': {'cidr': cidr}} for cidr in ctx.deployment['node_cidrs']]
        rules.append({'from': sources, 'ports': by_access['namespace']})
    if by_access.get('peers'):
        rules.append({'from': [{'podSelector': {'matchLabels': sel}}], 'ports': by_access['peers']})
    return {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy',
            'metadata': _meta('%s-%s' % (ctx.name, instance), ctx.namespace, ctx.name, instance),
            'spec': {'podSelector': {'matchLabels': sel}, 'policyTypes': ['Ingress'], 'ingress': rules}}


def _jobs_network_policy(ctx, keys):
    """Jobs serve nothing: no ingress to their pods."""
    return {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy',
            'metadata': _meta('%s-jobs' % ctx.name, ctx.namespace, ctx.name, 'jobs'),
            'spec': {'podSelector': {'matchLabels': {'app.kubernetes.io/part-of': PART_OF,
                                                     'app.kubernetes.io/name': ctx.name},
                                     'matchExpressions': [{'key': 'app.kubernetes.io/component', 'operator': 'In',
                                                           'values': keys}]},
                     'policyTypes': ['Ingress'], 'ingress': []}}


# --------------------------------------------------------------------------- the service

def _config_objects(ctx, roles_used):
    objects = []
    for role in sorted(roles_used):
        files = ctx.config_files.get(role)
        if files is None:
            raise RenderError('%s: no rendered config for node role %s; render config.%s of the catalog entry'
                              % (ctx.name, role, role))
        annotations = {CHECKSUM_ANNOTATION: checksum(dict(files))}
        if ctx.deployment['placeholders']:
            annotations[PLACEHOLDER_ANNOTATION] = ('credentials are $NAME placeholders: this Secret was rendered '
                                                   'without a cluster and must not be applied as is')
        objects.append({'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
                        'metadata': _meta(config_secret_name(ctx.name, role), ctx.namespace, ctx.name, 'config',
                                          annotations),
                        'data': dict((fname, _b64(files[fname])) for fname in sorted(files))})
    if ctx.scripts:
        objects.append({'apiVersion': 'v1', 'kind': 'ConfigMap',
                        'metadata': _meta(scripts_configmap_name(ctx.name), ctx.namespace, ctx.name, 'scripts'),
                        'data': dict(sorted(ctx.scripts.items()))})
    return objects


def render_service(entry, deployment, config_files, scripts=None):
    """Every object of catalog service ``entry``, grouped in ordered phases.

    :param entry: one catalog entry (``openstack_catalog[name]``).
    :param deployment: :func:`make_deployment` output.
    :param config_files: ``{node_role: {file: text}}`` (:func:`render.ini.render_config`).
    :param scripts: ``{script name: text}`` overriding the texts loaded with the catalog.
    :returns: ``[{'name', 'objects', 'wait'}]`` in apply order; ``wait`` is ``None``,
      ``'complete'`` (Jobs) or ``'ready'`` (workloads). Empty phases are left out.
    :raises RenderError: on anything that would fail on the cluster (missing config file,
      unknown node role, even quorum replicas...), before any API write.
    """
    try:
        cat.check_replicas(entry, deployment['replicas'])
    except cat.CatalogError as exc:
        raise RenderError(str(exc))
    ctx = _Context(entry, deployment, config_files, scripts)
    phases = dict((name, []) for name in PHASES)
    roles_used = set()

    job_specs = []
    if entry.get('databases'):
        job_specs.append(('db-init', 'db-init', _db_init_spec(ctx)))
    if entry.get('messaging'):
        job_specs.append(('db-init', 'mq-init', _mq_init_spec(ctx)))
    for job in entry.get('jobs') or []:
        if job['phase'] in cat.DEPLOY_JOB_PHASES:
            job_specs.append((job['phase'], job['name'], job))
    if entry.get('keystone') and (entry['keystone'].get('services') or entry['keystone'].get('user')):
        job_specs.append(('register', 'register', _register_spec(ctx)))
    if job_specs:
        sa_name = '%s-jobs' % ctx.name
        rules = [rule for _phase, _key, spec in job_specs for rule in spec.get('rbac') or []]
        phases['config'].extend(ctx.service_account(sa_name, 'jobs', rules))
        phases['config'].append(_jobs_network_policy(ctx, sorted(set(key for _p, key, _s in job_specs))))
        for phase, key, spec in job_specs:
            role = spec.get('node_role') or 'controller'
            if spec.get('config_files'):
                roles_used.add(role)
            phases[phase].append(_job(ctx, key, spec, role, sa_name))

    for instance, cname, role in _instances(entry):
        comp = entry['components'][cname]
        if comp.get('config_files'):
            roles_used.add(role)
        objects, sa_name = _workload(ctx, instance, cname, role, deployment['replicas'])
        phases['config'].extend(ctx.service_account(sa_name, instance, comp.get('rbac')))
        # Host-network pods are outside NetworkPolicy's reach; theirs still documents intent.
        phases['config'].append(_network_policy(ctx, instance, comp))
        phases['workloads'].extend(_services(ctx, instance, comp))
        phases['workloads'].extend(objects)
    phases['config'][:0] = _config_objects(ctx, roles_used)
    return [{'name': name, 'objects': phases[name], 'wait': _WAITS[name]} for name in PHASES if phases[name]]


def render_upgrade_jobs(entry, deployment, config_files, step, scripts=None):
    """The Jobs of upgrade ``step`` (``expand``, ``migrate`` or ``contract``) of ``entry``, in catalog order."""
    if step not in ('expand', 'migrate', 'contract'):
        raise RenderError('upgrade step %r must be expand, migrate or contract' % step)
    ctx = _Context(entry, deployment, config_files, scripts)
    return [_job(ctx, job['name'], job, job.get('node_role') or 'controller', '%s-jobs' % ctx.name)
            for job in entry.get('jobs') or [] if job['phase'] == 'upgrade-' + step]


def service_config_tree(entry, overrides=None):
    """``{node_role: {file: {section: {key: value}}}}`` of ``entry``: catalog defaults merged with overrides.

    ``overrides`` has the shape of the config tree (``openstack_config_overrides``):
    ``{node_role: {service: {file: {section: {key: value}}}}}`` (a ``general`` key is
    ignored here: general values go to :func:`make_deployment`). A ``None`` value
    removes the option.
    """
    tree = {}
    for role, files in (entry.get('config') or {}).items():
        tree[role] = copy.deepcopy(files)
    for role, services in (overrides or {}).items():
        if role == 'general' or not isinstance(services, dict):
            continue
        wanted = services.get(entry['name'])
        if wanted:
            tree[role] = ini.merge_trees(tree.get(role, {}), wanted)
    return tree


def render_service_offline(entry, deployment, overrides=None, credentials=None, scripts=None):
    """:func:`render_service` without a cluster and without etcd (``render.yml``).

    The config tree is the catalog defaults merged with ``overrides``. Without
    ``credentials`` every credential the entry declares stays a ``$NAME`` placeholder in
    the config Secrets, which are annotated ``openstack-k8s.io/placeholders``: nothing
    secret is written, and the output must not be applied as is. Given ``credentials``
    (``{NAME: value}``), they are substituted exactly as on a cluster.
    """
    deployment = dict(deployment, placeholders=credentials is None)
    keep = () if credentials is not None else tuple(s['name'] for s in entry.get('secrets') or [])
    values = dict(deployment['general'])
    values.update(credentials or {})
    values.update(service_users.user_values(entry, credentials))
    try:
        config_files = ini.render_config(service_config_tree(entry, overrides), values, keep=keep,
                                         formats=entry.get('config_formats'), prefix='%s: ' % entry['name'])
    except ini.RenderError as exc:
        raise RenderError(str(exc))
    return render_service(service_users.with_current_user(entry, credentials), deployment, config_files, scripts)


def all_objects(phases):
    """The objects of rendered phases, flattened in apply order."""
    return [obj for phase in phases for obj in phase['objects']]
