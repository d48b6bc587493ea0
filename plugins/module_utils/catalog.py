# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service catalog: load, validate, order.

One YAML file per service under ``roles/catalog/files/services/`` describes everything
about it (components, images, ports, probes, config defaults, credentials, databases,
Keystone registration, jobs). This module

* loads a directory of entries (:func:`load_directory`, the only I/O here),
* validates each entry against the schema documented in ``docs/catalog.md``
  (:func:`validate_catalog`), every message naming the file, the field and the fix,
* checks a deployment's choice of services against the dependency graph and orders
  them in waves (:func:`check_enabled`, :func:`waves`),
* checks quorum services have an odd number of replicas (:func:`check_replicas`),
* builds image references from one template (:func:`image_ref`) and the default
  general values (:func:`general_defaults`).

Everything but :func:`load_directory` is pure.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import is_secret_name

KINDS = ('openstack', 'infrastructure')
WORKLOADS = ('Deployment', 'StatefulSet', 'DaemonSet')
JOB_PHASES = ('db-sync', 'bootstrap', 'post', 'upgrade-expand', 'upgrade-migrate', 'upgrade-contract')
DEPLOY_JOB_PHASES = ('db-sync', 'bootstrap', 'post')
ACCESS = ('any', 'namespace', 'peers')
SECRET_TYPES = ('password', 'fernet_key', 'erlang_cookie', 'hex_key')
CONFIG_FORMATS = ('oslo', 'ini', 'dotted', 'python')
NAME_RE = re.compile(r'^[a-z][a-z0-9-]{0,40}[a-z0-9]$')
CREDENTIAL_RE = re.compile(r'^[A-Z][A-Z0-9_]*$')
FILE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')

_TOP_FIELDS = {
    'name': str, 'kind': str, 'description': str, 'depends_on': list, 'after': list,
    'quorum': bool, 'secrets': list, 'databases': list, 'messaging': dict, 'keystone': dict,
    'components': dict, 'config': dict, 'config_formats': dict, 'jobs': list, 'scripts': dict,
    'upgrade': dict,
}
_COMPONENT_FIELDS = {
    'workload': str, 'node_role': str, 'node_roles': list, 'image': str, 'command': list,
    'args': list, 'env': list, 'ports': list, 'probes': dict, 'replicas': int,
    'resources': dict, 'security': dict, 'host_network': bool, 'host_pid': bool,
    'config_files': dict, 'volumes': list, 'rbac': list, 'storage': dict,
    'headless_service': str, 'description': str, 'termination_grace_period': int,
    'pod_management_policy': str, 'init': list,
}
_JOB_FIELDS = {
    'name': str, 'phase': str, 'image': str, 'command': list, 'args': list, 'env': list,
    'node_role': str, 'config_files': dict, 'volumes': list, 'security': dict,
    'backoff_limit': int, 'description': str, 'rbac': list,
}
_SECURITY_FIELDS = ('run_as_user', 'run_as_group', 'fs_group', 'privileged', 'capabilities',
                    'read_only_root_filesystem')
_PROBE_KINDS = ('readiness', 'liveness', 'startup')
_VOLUME_SOURCES = ('empty_dir', 'host_path', 'credentials', 'script', 'storage')


class CatalogError(Exception):
    """Bad catalog data or a bad choice of services; the message names the fix."""


# --------------------------------------------------------------------------- loading

def load_directory(directory, node_roles=None):
    """Load and validate every ``*.yml`` under ``directory``; return ``{name: entry}``.

    Scripts an entry names under ``scripts`` (paths relative to the entry's file) are
    read into ``entry['scripts'][name] = {'path': ..., 'content': text or None}`` so
    that callers without file access (modules) get them with the entry. A missing
    script is not a load error: :func:`render_service` fails on it, naming the path.
    """
    import yaml  # guarded by the caller's environment: PyYAML ships with ansible-core
    if not os.path.isdir(directory):
        raise CatalogError('catalog directory %s does not exist; set catalog_dir to the directory '
                           'holding one <service>.yml per service' % directory)
    sources = {}
    for filename in sorted(os.listdir(directory)):
        if not filename.endswith(('.yml', '.yaml')):
            continue
        path = os.path.join(directory, filename)
        with open(path) as handle:
            try:
                data = yaml.safe_load(handle)
            except yaml.YAMLError as exc:
                raise CatalogError('%s: not valid YAML: %s' % (path, exc))
        if isinstance(data, dict):
            for script_name, rel in (data.get('scripts') or {}).items():
                if isinstance(rel, str):
                    script_path = os.path.normpath(os.path.join(directory, rel))
                    content = None
                    if os.path.isfile(script_path):
                        with open(script_path) as script:
                            content = script.read()
                    data['scripts'][script_name] = {'path': rel, 'content': content}
        sources[filename] = data
    return validate_catalog(sources, node_roles)


def validate_catalog(sources, node_roles=None):
    """Validate ``{filename: entry}``; return ``{name: entry}`` or raise one CatalogError listing every problem."""
    errors = []
    catalog = {}
    for filename in sorted(sources):
        entry = sources[filename]
        errors.extend(validate_entry(entry, filename, node_roles))
        if isinstance(entry, dict) and isinstance(entry.get('name'), str):
            if entry['name'] in catalog:
                errors.append('%s: name %r is already used by another file; service names must be unique'
                              % (filename, entry['name']))
            catalog[entry['name']] = entry
    for filename in sorted(sources):
        entry = sources[filename]
        if not isinstance(entry, dict):
            continue
        for field in ('depends_on', 'after'):
            for dep in entry.get(field) or []:
                if isinstance(dep, str) and dep not in catalog:
                    errors.append('%s: %s names %r, which is not in the catalog; add %s.yml or remove it'
                                  % (filename, field, dep, dep))
    if not errors:
        try:
            order_waves(catalog, sorted(catalog))
        except CatalogError as exc:
            errors.append(str(exc))
    if errors:
        raise CatalogError('invalid service catalog:\n  - ' + '\n  - '.join(errors))
    return catalog


def _type_name(kind):
    return {str: 'a string', list: 'a list', dict: 'a mapping', bool: 'true or false', int: 'an integer'}[kind]


_ARGV_FIELDS = ('command', 'args', 'exec')


def _check_fields(data, fields, where, errors, required=()):
    if not isinstance(data, dict):
        errors.append('%s: must be a mapping' % where)
        return False
    for key in sorted(data, key=str):
        if key not in fields:
            errors.append('%s: unknown field %r; known fields: %s' % (where, key, ', '.join(sorted(fields))))
        elif data[key] is not None and not _is_type(data[key], fields[key]):
            errors.append('%s.%s: must be %s' % (where, key, _type_name(fields[key])))
        elif key in _ARGV_FIELDS and data[key] is not None:
            # An argv: YAML reads 8080 or yes as a number or a boolean, Kubernetes wants strings.
            for index, item in enumerate(data[key]):
                if not isinstance(item, str):
                    errors.append('%s.%s[%d]: %r must be a string; quote it in the YAML (%s: ["..."])'
                                  % (where, key, index, item, key))
    for key in required:
        if data.get(key) in (None, '', [], {}):
            errors.append('%s: missing required field %r' % (where, key))
    return True


def _is_type(value, kind):
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def validate_entry(entry, filename, node_roles=None):
    """Return the list of problems of one entry (empty when valid)."""
    errors = []
    if not _check_fields(entry, _TOP_FIELDS, filename, errors, required=('name', 'kind', 'components')):
        return errors
    name = entry.get('name')
    stem = filename.rsplit('.', 1)[0]
    if isinstance(name, str):
        if not NAME_RE.match(name):
            errors.append('%s: name %r must be lower-case letters, digits and dashes' % (filename, name))
        elif name != stem:
            errors.append('%s: name %r must equal the file name; rename the file to %s.yml' % (filename, name, name))
    if entry.get('kind') is not None and entry.get('kind') not in KINDS:
        errors.append('%s: kind %r must be one of %s' % (filename, entry.get('kind'), ', '.join(KINDS)))
    for field in ('depends_on', 'after'):
        for dep in entry.get(field) or []:
            if not isinstance(dep, str):
                errors.append('%s.%s: entries must be service names' % (filename, field))
            elif dep == name:
                errors.append('%s.%s: a service cannot depend on itself' % (filename, field))
    declared = _validate_secrets(entry, filename, errors)
    roles = _known_roles(node_roles)
    components = entry.get('components') or {}
    if isinstance(components, dict):
        for cname in sorted(components):
            _validate_component(entry, cname, components[cname], filename, roles, declared, errors)
    for index, job in enumerate(entry.get('jobs') or []):
        _validate_job(entry, index, job, filename, roles, declared, errors)
    _validate_config(entry, filename, roles, declared, errors)
    _validate_databases(entry, filename, declared, errors)
    _validate_keystone(entry, filename, declared, errors)
    messaging = entry.get('messaging')
    if messaging is not None:
        _check_fields(messaging, {'user': str, 'password': str}, filename + '.messaging', errors,
                      required=('user', 'password'))
        _need_secret(messaging.get('password'), declared, filename + '.messaging.password', errors)
    return errors


def _known_roles(node_roles):
    if node_roles is None:
        return None
    return set(node_roles)


def _validate_secrets(entry, filename, errors):
    declared = set()
    for index, secret in enumerate(entry.get('secrets') or []):
        where = '%s.secrets[%d]' % (filename, index)
        if not _check_fields(secret, {'name': str, 'type': str, 'description': str}, where, errors,
                             required=('name', 'type')):
            continue
        sname = secret.get('name')
        if isinstance(sname, str):
            if not CREDENTIAL_RE.match(sname):
                errors.append('%s.name: %r must be upper-case letters, digits and underscores' % (where, sname))
            elif not is_secret_name(sname):
                errors.append('%s.name: %r does not look like a secret to the masking rule; include PASSWORD, '
                              'SECRET, KEY, TOKEN or CREDENTIAL in the name so it is never logged' % (where, sname))
            declared.add(sname)
        if secret.get('type') not in SECRET_TYPES:
            errors.append('%s.type: %r must be one of %s' % (where, secret.get('type'), ', '.join(SECRET_TYPES)))
    return declared


def _need_secret(sname, declared, where, errors):
    if isinstance(sname, str) and sname not in declared:
        errors.append('%s: credential %s is not declared; add {name: %s, type: password} to secrets'
                      % (where, sname, sname))


def _validate_env(env, where, declared, errors):
    for index, item in enumerate(env or []):
        here = '%s.env[%d]' % (where, index)
        if not _check_fields(item, {'name': str, 'value': str, 'secret': str, 'field': str}, here, errors,
                             required=('name',)):
            continue
        sources = [k for k in ('value', 'secret', 'field') if k in item]
        if len(sources) != 1:
            errors.append('%s: give exactly one of value, secret (a credential name), field (a pod field path)' % here)
        if 'secret' in item:
            _need_secret(item['secret'], declared, here + '.secret', errors)
        if 'value' in item and isinstance(item.get('name'), str) and is_secret_name(item['name']):
            errors.append('%s: %s looks like a secret; take it from the credentials with secret: <NAME>'
                          % (here, item['name']))


def _validate_volumes(volumes, where, entry, declared, errors):
    for index, vol in enumerate(volumes or []):
        here = '%s.volumes[%d]' % (where, index)
        fields = dict((k, dict) for k in _VOLUME_SOURCES)
        fields.update({'name': str, 'path': str, 'read_only': bool, 'sub_path': str, 'propagation': str})
        if not _check_fields(vol, fields, here, errors, required=('name', 'path')):
            continue
        sources = [k for k in _VOLUME_SOURCES if k in vol]
        if len(sources) != 1:
            errors.append('%s: give exactly one source of %s' % (here, ', '.join(_VOLUME_SOURCES)))
            continue
        source = sources[0]
        if vol.get('propagation') not in (None, 'None', 'HostToContainer', 'Bidirectional'):
            errors.append('%s.propagation: %r must be HostToContainer or Bidirectional' % (here, vol['propagation']))
        if source == 'credentials':
            items = vol['credentials'].get('items') or {}
            if not items:
                errors.append('%s.credentials.items: map credential names to file names' % here)
            for sname in items:
                _need_secret(sname, declared, here + '.credentials.items', errors)
        elif source == 'script':
            script = vol['script'].get('name')
            if script not in (entry.get('scripts') or {}):
                errors.append('%s.script.name: %r is not listed under scripts' % (here, script))
        elif source == 'host_path' and not str(vol['host_path'].get('path', '')).startswith('/'):
            errors.append('%s.host_path.path: must be an absolute path' % here)


def _validate_security(security, where, errors):
    if security is None:
        return
    if not isinstance(security, dict):
        errors.append('%s.security: must be a mapping' % where)
        return
    for key in security:
        if key not in _SECURITY_FIELDS:
            errors.append('%s.security: unknown field %r; known: %s' % (where, key, ', '.join(_SECURITY_FIELDS)))


def _validate_ports(ports, where, errors):
    names = set()
    for index, port in enumerate(ports or []):
        here = '%s.ports[%d]' % (where, index)
        if not _check_fields(port, {'name': str, 'port': int, 'service': str, 'access': str, 'protocol': str,
                                    'service_port': int},
                             here, errors, required=('name', 'port', 'access')):
            continue
        if port.get('access') not in ACCESS:
            errors.append('%s.access: %r must be one of %s (any: from anywhere, namespace: from pods of the '
                          'namespace, peers: from the same component)' % (here, port.get('access'), ', '.join(ACCESS)))
        pname = port.get('name')
        if isinstance(pname, str) and (len(pname) > 15 or not re.match(r'^[a-z][a-z0-9-]*$', pname)):
            errors.append('%s.name: %r must be an IANA service name (lower-case, at most 15 characters)' % (here, pname))
        names.add(pname)
        if isinstance(port.get('port'), int) and not 0 < port['port'] < 65536:
            errors.append('%s.port: %r is not a TCP port' % (here, port['port']))
    return names


def _validate_probes(probes, where, port_names, errors):
    for kind in sorted(probes or {}):
        here = '%s.probes.%s' % (where, kind)
        if kind not in _PROBE_KINDS:
            errors.append('%s: unknown probe; use %s' % (here, ', '.join(_PROBE_KINDS)))
            continue
        probe = probes[kind]
        if not _check_fields(probe, {'http': str, 'tcp': str, 'exec': list, 'port': str, 'initial_delay': int,
                                     'period': int, 'timeout': int, 'failure_threshold': int}, here, errors):
            continue
        actions = [k for k in ('http', 'tcp', 'exec') if k in probe]
        if len(actions) != 1:
            errors.append('%s: give exactly one of http (a path), tcp (a port name), exec (a command)' % here)
        port = probe.get('tcp') or probe.get('port')
        if 'http' in probe and not probe.get('port'):
            errors.append('%s.port: an http probe needs the port name' % here)
        if port and port not in port_names:
            errors.append('%s: port %r is not among the component ports %s' % (here, port, sorted(port_names)))


def _validate_roles(roles_wanted, where, roles, errors):
    for role in roles_wanted:
        if roles is not None and role not in roles:
            errors.append('%s: node role %r is not defined in node_roles (%s); use one of them or add it there'
                          % (where, role, ', '.join(sorted(roles))))


def component_roles(component):
    """The node roles a component runs on (``node_roles`` or ``[node_role]``)."""
    if component.get('node_roles'):
        return list(component['node_roles'])
    return [component.get('node_role') or 'controller']


def _validate_config_files(config_files, where, entry, roles_wanted, errors):
    config = entry.get('config') or {}
    for fname, path in (config_files or {}).items():
        if not isinstance(path, str) or not path.startswith('/'):
            errors.append('%s.config_files.%s: the mount path must be absolute' % (where, fname))
        for role in roles_wanted:
            if fname not in (config.get(role) or {}):
                errors.append('%s.config_files: %s is not in config.%s; add config.%s.%s (or drop the mount)'
                              % (where, fname, role, role, fname))


def _validate_component(entry, cname, comp, filename, roles, declared, errors):
    where = '%s.components.%s' % (filename, cname)
    if not NAME_RE.match(str(cname)):
        errors.append('%s: component names must be lower-case letters, digits and dashes' % where)
    if not _check_fields(comp, _COMPONENT_FIELDS, where, errors, required=('workload', 'image')):
        return
    workload = comp.get('workload')
    if workload not in WORKLOADS:
        errors.append('%s.workload: %r must be one of %s' % (where, workload, ', '.join(WORKLOADS)))
    if 'node_role' in comp and 'node_roles' in comp:
        errors.append('%s: give node_role or node_roles, not both' % where)
    roles_wanted = component_roles(comp)
    _validate_roles(roles_wanted, where, roles, errors)
    port_names = _validate_ports(comp.get('ports'), where, errors) or set()
    _validate_probes(comp.get('probes'), where, port_names, errors)
    _validate_env(comp.get('env'), where, declared, errors)
    _validate_volumes(comp.get('volumes'), where, entry, declared, errors)
    _validate_security(comp.get('security'), where, errors)
    _validate_config_files(comp.get('config_files'), where, entry, roles_wanted, errors)
    replicas = comp.get('replicas')
    if workload == 'DaemonSet' and replicas is not None:
        errors.append('%s.replicas: a DaemonSet runs one pod per node of its role; remove replicas' % where)
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas < 1:
        errors.append('%s.replicas: must be at least 1' % where)
    if entry.get('quorum') and workload != 'DaemonSet' and isinstance(replicas, int) and replicas % 2 == 0:
        errors.append('%s.replicas: %s needs a quorum, replicas must be odd (2n+1), got %d'
                      % (where, entry.get('name'), replicas))
    if workload == 'StatefulSet' and not comp.get('headless_service'):
        errors.append('%s.headless_service: a StatefulSet needs the name of its headless Service' % where)
    if comp.get('storage') is not None and workload != 'StatefulSet':
        errors.append('%s.storage: only a StatefulSet gets a volume claim template' % where)
    for index, init in enumerate(comp.get('init') or []):
        here = '%s.init[%d]' % (where, index)
        if _check_fields(init, {'name': str, 'command': list, 'args': list, 'env': list, 'description': str}, here,
                         errors, required=('name', 'command')):
            _validate_env(init.get('env'), here, declared, errors)
    for index, rule in enumerate(comp.get('rbac') or []):
        _check_fields(rule, {'api_groups': list, 'resources': list, 'verbs': list, 'resource_names': list},
                      '%s.rbac[%d]' % (where, index), errors, required=('resources', 'verbs'))


def _validate_job(entry, index, job, filename, roles, declared, errors):
    where = '%s.jobs[%d]' % (filename, index)
    if not _check_fields(job, _JOB_FIELDS, where, errors, required=('name', 'phase', 'image', 'command')):
        return
    if not NAME_RE.match(str(job.get('name'))):
        errors.append('%s.name: %r must be lower-case letters, digits and dashes' % (where, job.get('name')))
    if job.get('phase') not in JOB_PHASES:
        errors.append('%s.phase: %r must be one of %s' % (where, job.get('phase'), ', '.join(JOB_PHASES)))
    role = job.get('node_role') or 'controller'
    _validate_roles([role], where, roles, errors)
    _validate_env(job.get('env'), where, declared, errors)
    _validate_volumes(job.get('volumes'), where, entry, declared, errors)
    _validate_security(job.get('security'), where, errors)
    _validate_config_files(job.get('config_files'), where, entry, [role], errors)


_REF_RE = re.compile(r'\$(?:\{([A-Z][A-Z0-9_]*)\}|([A-Z][A-Z0-9_]*))')


def references(text):
    """The upper-case ``$NAME`` / ``${NAME}`` references in ``text`` (``$$`` escapes a dollar)."""
    if not isinstance(text, str):
        return []
    found = []
    for match in _REF_RE.finditer(text.replace('$$', '')):
        found.append(match.group(1) or match.group(2))
    return found


def _validate_config(entry, filename, roles, declared, errors):
    config = entry.get('config') or {}
    formats = entry.get('config_formats') or {}
    for fname, fmt in formats.items():
        if fmt not in CONFIG_FORMATS:
            errors.append('%s.config_formats.%s: %r must be one of %s' % (filename, fname, fmt, ', '.join(CONFIG_FORMATS)))
    if not isinstance(config, dict):
        errors.append('%s.config: must be {node-role: {file: {section: {key: value}}}}' % filename)
        return
    for role in sorted(config):
        _validate_roles([role], '%s.config' % filename, roles, errors)
        files = config[role]
        if not isinstance(files, dict):
            errors.append('%s.config.%s: must be {file: {section: {key: value}}}' % (filename, role))
            continue
        for fname in sorted(files):
            where = '%s.config.%s.%s' % (filename, role, fname)
            if not FILE_RE.match(str(fname)):
                errors.append('%s: file names are flat (no "/"): the mount path goes in a component\'s config_files'
                              % where)
            sections = files[fname]
            if not isinstance(sections, dict):
                errors.append('%s: must be {section: {key: value}}' % where)
                continue
            for section in sorted(sections):
                options = sections[section]
                if not isinstance(options, dict):
                    errors.append('%s.%s: must be {key: value}' % (where, section))
                    continue
                for key in sorted(options):
                    value = options[key]
                    here = '%s [%s] %s' % (where, section, key)
                    if isinstance(value, (dict,)):
                        errors.append('%s: values are scalars or lists of scalars' % here)
                        continue
                    if is_secret_name(key) and isinstance(value, str) and not references(value):
                        errors.append('%s: a secret-named option needs a $CREDENTIAL reference, never a literal'
                                      % here)
                    values = value if isinstance(value, list) else [value]
                    for item in values:
                        for ref in references(item):
                            if is_secret_name(ref) and ref not in declared:
                                errors.append('%s: $%s is a credential not declared under secrets; add '
                                              '{name: %s, type: password}' % (here, ref, ref))


def _validate_databases(entry, filename, declared, errors):
    for index, database in enumerate(entry.get('databases') or []):
        where = '%s.databases[%d]' % (filename, index)
        if _check_fields(database, {'name': str, 'user': str, 'password': str}, where, errors,
                         required=('name', 'user', 'password')):
            if not re.match(r'^[a-z][a-z0-9_]*$', str(database.get('name'))):
                errors.append('%s.name: database names are lower-case letters, digits and _' % where)
            if not re.match(r'^[a-z][a-z0-9_]*$', str(database.get('user'))):
                errors.append('%s.user: database users are lower-case letters, digits and _' % where)
            _need_secret(database.get('password'), declared, where + '.password', errors)


def _validate_keystone(entry, filename, declared, errors):
    keystone = entry.get('keystone')
    if keystone is None:
        return
    where = filename + '.keystone'
    if not _check_fields(keystone, {'services': list, 'user': dict}, where, errors):
        return
    for index, service in enumerate(keystone.get('services') or []):
        here = '%s.services[%d]' % (where, index)
        if _check_fields(service, {'name': str, 'type': str, 'description': str, 'endpoints': dict}, here, errors,
                         required=('name', 'type', 'endpoints')):
            endpoints = service.get('endpoints') or {}
            for interface in ('public', 'internal', 'admin'):
                if not endpoints.get(interface):
                    errors.append('%s.endpoints.%s: give the URL template of the %s endpoint'
                                  % (here, interface, interface))
            for interface in endpoints:
                for ref in references(endpoints[interface]):
                    if is_secret_name(ref):
                        errors.append('%s.endpoints.%s: an endpoint URL cannot contain credential $%s'
                                      % (here, interface, ref))
    user = keystone.get('user')
    if user is not None and _check_fields(user, {'name': str, 'password': str, 'project': str, 'roles': list,
                                                 'trustee': bool},
                                          where + '.user', errors, required=('name', 'password', 'roles')):
        _need_secret(user.get('password'), declared, where + '.user.password', errors)


# --------------------------------------------------------------------------- graph

def check_enabled(catalog, enabled):
    """Fail when ``enabled`` names an unknown service or misses a hard dependency.

    Returns the enabled names, de-duplicated, in the given order.
    """
    seen = []
    unknown = [name for name in enabled if name not in catalog]
    if unknown:
        raise CatalogError('unknown service %s in openstack_enabled_services; known services: %s'
                           % (', '.join(repr(n) for n in unknown), ', '.join(sorted(catalog))))
    for name in enabled:
        if name not in seen:
            seen.append(name)
    missing = []
    for name in seen:
        for dep in catalog[name].get('depends_on') or []:
            if dep not in seen:
                missing.append('%s depends on %s, which is not enabled: add %r to openstack_enabled_services '
                               'or remove %r' % (name, dep, dep, name))
    if missing:
        raise CatalogError('; '.join(missing))
    return seen


def order_waves(catalog, enabled):
    """Group ``enabled`` into waves: every service comes after its ``depends_on`` and ``after`` services.

    ``after`` orders only (the other service may be disabled); ``depends_on`` also
    requires it (checked by :func:`check_enabled`). Raises on a cycle, naming it.
    """
    enabled = list(enabled)
    edges = {}
    for name in enabled:
        entry = catalog[name]
        edges[name] = sorted(set(d for d in (entry.get('depends_on') or []) + (entry.get('after') or [])
                                 if d in enabled))
    cycle = _find_cycle(edges)
    if cycle:
        raise CatalogError('dependency cycle %s: remove one of these depends_on/after links' % ' -> '.join(cycle))
    level = {}

    def depth(name):
        if name not in level:
            level[name] = 1 + max([depth(d) for d in edges[name]] or [-1])
        return level[name]

    for name in enabled:
        depth(name)
    result = []
    for index in range(max(level.values()) + 1 if level else 0):
        result.append(sorted(n for n in enabled if level[n] == index))
    return result


def _find_cycle(edges):
    state = {}
    stack = []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for dep in edges[node]:
            if state.get(dep) == 'open':
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 'done'
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def waves(catalog, enabled):
    """Check ``enabled`` (:func:`check_enabled`) and return its waves (:func:`order_waves`)."""
    return order_waves(catalog, check_enabled(catalog, enabled))


# --------------------------------------------------------------------------- replicas

def effective_replicas(entry, component_name, overrides=None):
    """Replicas of a component: ``overrides[service][component]``, else the catalog default, else 1."""
    component = entry['components'][component_name]
    if component.get('workload') == 'DaemonSet':
        return None
    wanted = ((overrides or {}).get(entry['name']) or {}).get(component_name)
    if wanted is None:
        wanted = component.get('replicas', 1)
    return wanted


def check_replicas(entry, overrides=None):
    """Fail on a bad replica count (below 1, or even for a quorum service) before anything is written."""
    for cname in sorted(entry['components']):
        component = entry['components'][cname]
        replicas = effective_replicas(entry, cname, overrides)
        if replicas is None:
            if ((overrides or {}).get(entry['name']) or {}).get(cname) is not None:
                raise CatalogError('%s %s is a DaemonSet (one pod per node of its role): remove its replica count'
                                   % (entry['name'], cname))
            continue
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise CatalogError('%s %s replicas must be a whole number of at least 1, got %r'
                               % (entry['name'], cname, replicas))
        if entry.get('quorum') and replicas % 2 == 0:
            label = 'galera' if entry['name'] == 'mariadb' else entry['name']
            raise CatalogError('%s replicas must be odd (2n+1), got %d: set %d or %d (a quorum needs a majority)'
                               % (label, replicas, replicas - 1, replicas + 1))
        del component


# --------------------------------------------------------------------------- images and general values

DEFAULT_IMAGE = {
    'registry': 'quay.io/openstack.kolla',
    'template': '{registry}/{name}:{release}-{distro}',
    'distro': 'ubuntu-noble',
    'overrides': {},
}


def image_ref(name, release, image=None):
    """The image reference of catalog image ``name``.

    ``image`` is ``{registry, template, distro, overrides}``; ``overrides[name]`` (a full
    reference) wins, else ``template`` is formatted with ``registry``, ``name``,
    ``release`` and ``distro``, so changing ``release`` changes every image.
    """
    settings = dict(DEFAULT_IMAGE)
    settings.update(dict((k, v) for k, v in (image or {}).items() if v is not None))
    override = (settings.get('overrides') or {}).get(name)
    if override:
        return override
    try:
        return settings['template'].format(registry=settings['registry'], name=name, release=release,
                                           distro=settings['distro'])
    except (KeyError, IndexError, ValueError) as exc:
        raise CatalogError('openstack_image_template %r is not a valid template (%s); use the fields '
                           '{registry}, {name}, {release}, {distro}' % (settings['template'], exc))


def general_defaults(namespace='openstack', release='2026.2', region_name='RegionOne',
                     public_domain='openstack.local', cluster_domain='cluster.local', memcached_replicas=1):
    """The general keys of ``docs/conventions.md`` for services reached through their Kubernetes Services.

    Memcached is the StatefulSet ``memcached-server`` behind the headless Service ``memcached``;
    clients list every member (``memcached-server-<i>.memcached...``, the pods' DNS names) so a
    key always lands on the same one.
    """
    svc = '%s.svc.%s' % (namespace, cluster_domain)
    memcached = ','.join('memcached-server-%d.memcached.%s:11211' % (i, svc) for i in range(max(1, memcached_replicas)))
    return {
        'OPENSTACK_RELEASE': release,
        'REGION_NAME': region_name,
        'NAMESPACE': namespace,
        'PUBLIC_DOMAIN': public_domain,
        'CLUSTER_DOMAIN': cluster_domain,
        'DB_HOST': 'mariadb.%s' % svc,
        'DB_PORT': '3306',
        'RABBITMQ_HOST': 'rabbitmq.%s' % svc,
        'RABBITMQ_PORT': '5672',
        'MEMCACHED_SERVERS': memcached,
        'KEYSTONE_PUBLIC_URL': 'http://keystone-api.%s:5000' % public_domain,
        'KEYSTONE_INTERNAL_URL': 'http://keystone-api.%s:5000' % svc,
    }


def secret_names(catalog, enabled=None):
    """Every credential name the enabled services declare, sorted, with its type."""
    out = {}
    for name in sorted(enabled if enabled is not None else catalog):
        for secret in catalog[name].get('secrets') or []:
            out[secret['name']] = secret['type']
    return out
