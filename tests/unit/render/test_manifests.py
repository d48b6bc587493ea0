# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every service of the real catalog renders to objects the Kubernetes API accepts, in
phases, with secrets only where they belong and config checksums that roll exactly the
pods whose files changed."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy
import hashlib
import pathlib
import re
import shutil
import subprocess
import time

import kubernetes_validate
import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import is_secret_name
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m

ROOT = pathlib.Path(__file__).resolve().parents[3]
SERVICES = ROOT / 'roles' / 'catalog' / 'files' / 'services'
NODE_ROLES = yaml.safe_load((ROOT / 'roles' / 'catalog' / 'files' / 'node_roles.yml').read_text())
CATALOG = cat.load_directory(str(SERVICES), NODE_ROLES)
NAMES = sorted(CATALOG)
GALERA_SCRIPT = '#!/bin/bash\nexec mariadbd\n'
SCRIPTS = {'galera-start.sh': GALERA_SCRIPT}
KUBERNETES_VERSIONS = ('1.33', '1.37')
LABELS = ('app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of', 'app.kubernetes.io/name',
          'app.kubernetes.io/component')
POD_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet', 'Job')


def credentials():
    """Distinct values per credential, as the credentials role would generate them, and the RabbitMQ user names."""
    values = dict((name, 'cred-' + hashlib.sha256(name.encode()).hexdigest()[:24])
                  for name in cat.secret_names(CATALOG))
    for entry in CATALOG.values():
        values.update(service_users.user_values(entry, {}))
    return values


CREDENTIALS = credentials()


def deployment(**changes):
    settings = dict(namespace='openstack', node_roles=NODE_ROLES, node_cidrs=['10.0.0.0/24'])
    settings.update(changes)
    return m.make_deployment(**settings)


def render(name, dep=None, config=None, creds=None):
    dep = dep or deployment()
    entry = CATALOG[name]
    values = dict(dep['general'])
    values.update(CREDENTIALS if creds is None else creds)
    tree = entry.get('config') if config is None else config
    files = ini.render_config(tree or {}, values, formats=entry.get('config_formats'))
    return m.render_service(entry, dep, files, SCRIPTS)


RENDERED = dict((name, render(name)) for name in NAMES)


def objects(name):
    return m.all_objects(RENDERED[name])


def pod_templates(objs):
    return dict((o['metadata']['name'], o['spec']['template']) for o in objs if o['kind'] in POD_KINDS)


@pytest.mark.parametrize('version', KUBERNETES_VERSIONS)
@pytest.mark.parametrize('name', NAMES)
def test_every_object_validates_strictly(name, version):
    for obj in objects(name):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail('%s %s/%s is invalid for Kubernetes %s: %s'
                        % (name, obj['kind'], obj['metadata']['name'], version, exc))


@pytest.mark.parametrize('name', NAMES)
def test_labels_namespace_and_checksums(name):
    for obj in objects(name):
        meta = obj['metadata']
        assert meta['namespace'] == 'openstack'
        assert [meta['labels'].get(k) is not None for k in LABELS] == [True] * 4, meta['name']
        assert meta['labels']['app.kubernetes.io/managed-by'] == 'openstack_k8s.deploy'
        assert meta['labels']['app.kubernetes.io/name'] == name
        if obj['kind'] in POD_KINDS:
            template = obj['spec']['template']
            assert len(template['metadata']['annotations'][m.CHECKSUM_ANNOTATION]) == 64
            assert template['metadata']['labels']['app.kubernetes.io/name'] == name


def test_phases_are_ordered_with_their_waits():
    assert [(p['name'], p['wait']) for p in RENDERED['keystone']] == [
        ('config', None), ('db-init', 'complete'), ('db-sync', 'complete'), ('bootstrap', 'complete'),
        ('workloads', 'ready')]
    assert [(p['name'], p['wait']) for p in RENDERED['glance']] == [
        ('config', None), ('db-init', 'complete'), ('db-sync', 'complete'), ('register', 'complete'),
        ('workloads', 'ready')]
    assert [p['name'] for p in RENDERED['nova-compute']] == ['config', 'workloads', 'post']
    assert [p['name'] for p in RENDERED['memcached']] == ['config', 'workloads']
    for name in NAMES:
        for phase in RENDERED[name]:
            kinds = set(o['kind'] for o in phase['objects'])
            if phase['wait'] == 'complete':
                assert kinds == {'Job'}


SERVICE_PORTS = [('mariadb', 'mariadb', 3306), ('rabbitmq', 'rabbitmq', 5672), ('memcached', 'memcached', 11211),
                 ('keystone', 'keystone-api', 5000), ('glance', 'glance-api', 9292), ('placement', 'placement-api', 8778),
                 ('nova', 'nova-api', 8774), ('nova', 'nova-metadata', 8775), ('nova', 'nova-novncproxy', 6080),
                 ('neutron', 'neutron-server', 9696), ('cinder', 'cinder-api', 8776), ('heat', 'heat-api', 8004),
                 ('heat', 'heat-cfn', 8000), ('horizon', 'horizon', 80), ('etcd', 'etcd', 2379)]


@pytest.mark.parametrize('name, service, port', SERVICE_PORTS)
def test_service_names_and_ports_follow_conventions(name, service, port):
    found = [o for o in objects(name) if o['kind'] == 'Service' and o['metadata']['name'] == service]
    assert len(found) == 1
    assert port in [p['port'] for p in found[0]['spec']['ports']]


def test_no_configmap_holds_a_secret():
    values = set(v for k, v in CREDENTIALS.items() if not k.endswith('_USER'))  # user names are not secret
    configmaps = [o for name in NAMES for o in objects(name) if o['kind'] == 'ConfigMap']
    assert configmaps, 'mariadb ships its start script in a ConfigMap'
    for cm in configmaps:
        for key, text in cm['data'].items():
            assert not is_secret_name(key)
            assert not [v for v in values if v in text]


def test_credentials_appear_only_in_config_secrets():
    # The RabbitMQ user names in CREDENTIALS are not secret (the mq-init Job names its user).
    values = set(CREDENTIALS[name] for name in cat.secret_names(CATALOG))
    seen = set()
    for name in NAMES:
        for obj in objects(name):
            text = yaml.safe_dump(obj)
            if obj['kind'] == 'Secret':
                for data in obj['data'].values():
                    decoded = base64.b64decode(data).decode()
                    seen.update(v for v in values if v in decoded)
                continue
            assert not [v for v in values if v in text], '%s %s' % (obj['kind'], obj['metadata']['name'])
    # Every credential referenced by a config file made it into a Secret.
    assert CREDENTIALS['GLANCE_DB_PASSWORD'] in seen and CREDENTIALS['MEMCACHE_SECRET_KEY'] in seen


def test_every_secret_key_ref_is_a_generated_credential():
    for name in NAMES:
        for template in pod_templates(objects(name)).values():
            for container in template['spec']['containers']:
                for env in container.get('env') or []:
                    ref = (env.get('valueFrom') or {}).get('secretKeyRef')
                    if ref:
                        assert ref['name'] == 'openstack-credentials'
                        assert ref['key'] in CREDENTIALS, '%s: %s' % (name, ref['key'])
                    elif is_secret_name(env['name']):
                        pytest.fail('%s: %s holds a literal secret' % (name, env['name']))
            for volume in template['spec'].get('volumes') or []:
                if 'secret' in volume and volume['secret']['secretName'] == 'openstack-credentials':
                    assert all(item['key'] in CREDENTIALS for item in volume['secret']['items'])


def _workload_checksums(phases):
    out = {}
    for obj in m.all_objects(phases):
        if obj['kind'] in ('Deployment', 'StatefulSet', 'DaemonSet'):
            out[obj['metadata']['name']] = obj['spec']['template']['metadata']['annotations'][m.CHECKSUM_ANNOTATION]
    return out


def test_config_change_rolls_only_that_service():
    tree = copy.deepcopy(CATALOG['glance']['config'])
    tree['controller']['glance-api.conf']['DEFAULT']['debug'] = True
    changed = render('glance', config=tree)
    assert _workload_checksums(changed) != _workload_checksums(RENDERED['glance'])
    for name in NAMES:
        if name != 'glance':
            assert _workload_checksums(render(name)) == _workload_checksums(RENDERED[name])


def test_config_change_of_one_node_role_rolls_only_its_workloads():
    tree = copy.deepcopy(CATALOG['neutron']['config'])
    tree['network']['l3_agent.ini']['DEFAULT']['agent_mode'] = 'dvr_snat'
    before, after = _workload_checksums(RENDERED['neutron']), _workload_checksums(render('neutron', config=tree))
    moved = sorted(n for n in before if before[n] != after[n])
    assert moved == ['neutron-l3-agent']


def test_credential_change_rolls_the_pods_that_read_it():
    creds = dict(CREDENTIALS, PLACEMENT_DB_PASSWORD='rotated-value')
    before, after = _workload_checksums(RENDERED['placement']), _workload_checksums(render('placement', creds=creds))
    assert before['placement-api'] != after['placement-api']


def _jobs(phases):
    return dict((o['metadata']['labels']['app.kubernetes.io/component'], o['metadata']['name'])
                for o in m.all_objects(phases) if o['kind'] == 'Job')


def test_job_names_change_with_their_spec_only():
    again = render('keystone')
    assert _jobs(again) == _jobs(RENDERED['keystone'])
    newer = render('keystone', dep=deployment(release='2027.1'))
    assert set(_jobs(newer).values()).isdisjoint(_jobs(RENDERED['keystone']).values())
    tree = copy.deepcopy(CATALOG['keystone']['config'])
    tree['controller']['keystone.conf']['token']['expiration'] = 3600
    reconfigured = _jobs(render('keystone', config=tree))
    assert reconfigured['db-sync'] != _jobs(RENDERED['keystone'])['db-sync']
    # db-init mounts no config file: its name stays.
    assert reconfigured['db-init'] == _jobs(RENDERED['keystone'])['db-init']
    for name in NAMES:
        for job in _jobs(RENDERED[name]).values():
            assert len(job) <= 63


def test_release_changes_every_image():
    newer = render('nova', dep=deployment(release='2027.1'))
    images = [c['image'] for t in pod_templates(m.all_objects(newer)).values() for c in t['spec']['containers']]
    assert images and all(':2027.1-ubuntu-noble' in image for image in images)


def test_image_family_is_one_template():
    dep = deployment(image={'registry': 'quay.io/airshipit', 'distro': 'ubuntu_noble'})
    images = set(c['image'] for t in pod_templates(m.all_objects(render('keystone', dep=dep))).values()
                 for c in t['spec']['containers'])
    assert 'quay.io/airshipit/keystone:2026.2-ubuntu_noble' in images


PLACEMENT = [
    ('keystone-api', 'openstack-k8s.io/control-plane', None),
    ('nova-compute-compute', 'openstack-k8s.io/compute', 'openstack-k8s.io/compute'),
    ('neutron-l3-agent', 'openstack-k8s.io/network', 'openstack-k8s.io/network'),
    ('neutron-openvswitch-agent-compute', 'openstack-k8s.io/compute', 'openstack-k8s.io/compute'),
    ('neutron-openvswitch-agent-network', 'openstack-k8s.io/network', 'openstack-k8s.io/network'),
    ('cinder-volume', 'openstack-k8s.io/storage', None),
]


@pytest.mark.parametrize('workload, label, taint', PLACEMENT)
def test_node_selectors_and_tolerations_come_from_node_roles(workload, label, taint):
    found = [o for n in NAMES for o in objects(n) if o['metadata']['name'] == workload and o['kind'] != 'Service'
             and 'template' in o.get('spec', {})]
    assert len(found) == 1
    spec = found[0]['spec']['template']['spec']
    assert spec['nodeSelector'] == {label: 'enabled'}
    assert [t['key'] for t in spec.get('tolerations', [])] == ([taint] if taint else [])


def test_privileged_only_where_the_host_needs_it():
    privileged = sorted(name for n in NAMES for name, t in pod_templates(objects(n)).items()
                        if t['spec']['containers'][0]['securityContext'].get('privileged'))
    assert privileged == sorted([
        'cinder-volume', 'manila-share', 'neutron-dhcp-agent', 'neutron-l3-agent',
        'neutron-openvswitch-agent-compute', 'neutron-openvswitch-agent-network',
        'neutron-openvswitch-vswitchd-compute', 'neutron-openvswitch-vswitchd-network',
        'nova-compute-compute', 'nova-compute-libvirt', 'nova-compute-virtlogd'])
    for name in ('keystone', 'glance', 'placement', 'heat', 'horizon', 'mariadb', 'rabbitmq', 'memcached'):
        for template in pod_templates(objects(name)).values():
            security = template['spec']['containers'][0]['securityContext']
            assert security['runAsNonRoot'] is True and security['allowPrivilegeEscalation'] is False
            assert security['capabilities'] == {'drop': ['ALL']}


def _policy(name, workload):
    return [o for o in objects(name) if o['kind'] == 'NetworkPolicy' and o['metadata']['name'] == workload][0]


def test_network_policies():
    api = _policy('keystone', 'keystone-api')['spec']
    assert api['ingress'] == [{'ports': [{'port': 5000, 'protocol': 'TCP'}]}]
    galera = _policy('mariadb', 'mariadb-server')['spec']['ingress']
    assert galera[0] == {'from': [{'podSelector': {}}, {'ipBlock': {'cidr': '10.0.0.0/24'}}],
                         'ports': [{'port': 3306, 'protocol': 'TCP'}]}
    assert galera[1]['from'] == [{'podSelector': {'matchLabels': m.selector('mariadb', 'server')}}]
    assert sorted(p['port'] for p in galera[1]['ports']) == [4444, 4567, 4568]
    # Workers without ports accept nothing.
    assert _policy('nova', 'nova-conductor')['spec']['ingress'] == []
    # Jobs accept nothing.
    jobs = _policy('keystone', 'keystone-jobs')['spec']
    assert jobs['ingress'] == [] and jobs['podSelector']['matchExpressions'][0]['values'] == [
        'bootstrap', 'db-init', 'db-sync']


def test_every_pod_is_selected_by_a_network_policy():
    for name in NAMES:
        objs = objects(name)
        policies = [o['spec']['podSelector'] for o in objs if o['kind'] == 'NetworkPolicy']
        for template in pod_templates(objs).values():
            pod_labels = template['metadata']['labels']
            assert [p for p in policies if _selects(p, pod_labels)], (name, pod_labels)


def _selects(selector, pod_labels):
    if any(pod_labels.get(k) != v for k, v in (selector.get('matchLabels') or {}).items()):
        return False
    return all(pod_labels.get(e['key']) in e['values'] for e in selector.get('matchExpressions') or [])


def test_disruption_budgets_for_replicated_workloads_only():
    budgets = sorted(o['metadata']['name'] for n in NAMES for o in objects(n) if o['kind'] == 'PodDisruptionBudget')
    assert 'mariadb-server' in budgets and 'keystone-api' in budgets and 'nova-api' in budgets
    assert 'memcached-server' not in budgets and 'glance-api' not in budgets
    assert not [b for b in budgets if b.startswith('nova-compute')]


def test_service_accounts_have_no_token_and_no_rbac_by_default():
    for name in NAMES:
        for obj in objects(name):
            assert obj['kind'] not in ('Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding')
            if obj['kind'] == 'ServiceAccount':
                assert obj['automountServiceAccountToken'] is False
        for template in pod_templates(objects(name)).values():
            assert template['spec']['automountServiceAccountToken'] is False


def test_component_rbac_becomes_a_least_privilege_role():
    entry = copy.deepcopy(CATALOG['memcached'])
    entry['components']['server']['rbac'] = [{'resources': ['endpoints'], 'verbs': ['get'],
                                              'resource_names': ['memcached']}]
    objs = m.all_objects(m.render_service(entry, deployment(), {}))
    role = [o for o in objs if o['kind'] == 'Role'][0]
    assert role['rules'] == [{'apiGroups': [''], 'resources': ['endpoints'], 'verbs': ['get'],
                              'resourceNames': ['memcached']}]
    binding = [o for o in objs if o['kind'] == 'RoleBinding'][0]
    assert binding['subjects'] == [{'kind': 'ServiceAccount', 'name': 'memcached-server', 'namespace': 'openstack'}]
    sts = [o for o in objs if o['kind'] == 'StatefulSet'][0]
    assert sts['spec']['template']['spec']['automountServiceAccountToken'] is True
    for obj in objs:
        kubernetes_validate.validate(obj, '1.37', strict=True)


def test_galera_runs_the_start_script_from_a_configmap_with_passwords_from_the_credentials():
    objs = objects('mariadb')
    cm = [o for o in objs if o['kind'] == 'ConfigMap'][0]
    assert cm['data'] == {'galera-start.sh': GALERA_SCRIPT}
    sts = [o for o in objs if o['kind'] == 'StatefulSet'][0]
    container = sts['spec']['template']['spec']['containers'][0]
    assert container['command'][-1].rstrip().endswith('exec /bin/bash /var/lib/openstack-k8s/scripts/galera-start.sh run')
    mounts = dict((v['name'], v['mountPath']) for v in container['volumeMounts'])
    assert mounts['scripts'] == '/var/lib/openstack-k8s/scripts' and mounts['data'] == '/var/lib/mysql'
    # The data directory is prepared by an init container with the same mounts and credentials.
    [init] = sts['spec']['template']['spec']['initContainers']
    assert init['name'] == 'initialize' and init['volumeMounts'] == container['volumeMounts']
    assert init['env'] == container['env'] and 'readinessProbe' not in init
    # The passwords are files of the credentials Secret; the environment only says where.
    files = dict((e['name'], e['value']) for e in container['env'] if e['name'].endswith('PASSWORD_FILE'))
    assert files == {'MARIADB_ROOT_PASSWORD_FILE': m.CREDENTIALS_DIR + '/MARIADB_ROOT_PASSWORD',
                     'MARIADB_SST_PASSWORD_FILE': m.CREDENTIALS_DIR + '/MARIADB_SST_PASSWORD'}
    assert mounts['credentials'] == m.CREDENTIALS_DIR
    assert {'name': 'REPLICAS', 'value': '3'} in container['env']
    assert sts['spec']['podManagementPolicy'] == 'Parallel'


def test_script_change_rolls_galera():
    changed = m.render_service(CATALOG['mariadb'], deployment(), ini.render_config(
        CATALOG['mariadb']['config'], dict(deployment()['general'], **CREDENTIALS),
        formats=CATALOG['mariadb']['config_formats']), {'galera-start.sh': GALERA_SCRIPT + '# v2\n'})
    assert _workload_checksums(changed) != _workload_checksums(RENDERED['mariadb'])


RENDER_ERRORS = [
    ('even galera replicas', 'mariadb', {'replicas': {'mariadb': {'server': 4}}}, None, SCRIPTS,
     'galera replicas must be odd (2n+1), got 4'),
    ('missing start script', 'mariadb', {}, None, {}, 'script galera-start.sh'),
    ('missing config file', 'keystone', {}, {'controller': {}}, SCRIPTS,
     'needs keystone.conf of node role controller, which was not rendered'),
    ('missing node role config', 'neutron', {}, {'controller': {'neutron.conf': 'x', 'ml2_conf.ini': 'y'}}, SCRIPTS,
     'of node role network, which was not rendered; render the network subtree'),
]


@pytest.mark.parametrize('name, changes, files, scripts, message', [c[1:] for c in RENDER_ERRORS],
                         ids=[c[0] for c in RENDER_ERRORS])
def test_render_fails_before_any_write(name, changes, files, scripts, message):
    dep = deployment(**changes)
    if files is None:
        files = ini.render_config(CATALOG[name].get('config') or {}, dict(dep['general'], **CREDENTIALS),
                                  formats=CATALOG[name].get('config_formats'))
    entry = copy.deepcopy(CATALOG[name])
    for spec in (entry.get('scripts') or {}).values():
        spec['content'] = None
    with pytest.raises(m.RenderError) as exc:
        m.render_service(entry, dep, files, scripts)
    assert message in str(exc.value)


@pytest.mark.parametrize('settings, message', [
    ({'node_roles': None}, 'node_roles is required'),
    ({'node_roles': {'controller': {'label': {}}}}, 'node role controller has no label'),
    ({'namespace': 'Open_Stack'}, "namespace 'Open_Stack' is not a valid Kubernetes namespace name"),
    ({'general': {'A': '$B', 'B': '$A'}}, 'cycle'),
])
def test_make_deployment_errors(settings, message):
    with pytest.raises(m.RenderError) as exc:
        deployment(**settings)
    assert message in str(exc.value)


def test_unknown_node_role_in_deployment_fails():
    roles = dict((k, v) for k, v in NODE_ROLES.items() if k != 'storage')
    with pytest.raises(m.RenderError) as exc:
        render('cinder', dep=deployment(node_roles=roles))
    assert "node role 'storage' is not in node_roles" in str(exc.value)


def test_offline_render_keeps_placeholders_and_says_so():
    phases = m.render_service_offline(CATALOG['glance'], deployment())
    secret = [o for o in m.all_objects(phases) if o['kind'] == 'Secret'][0]
    text = base64.b64decode(secret['data']['glance-api.conf']).decode()
    assert 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@mariadb.openstack.svc.cluster.local:3306/glance' in text
    assert 'password = $GLANCE_KEYSTONE_PASSWORD' in text
    assert m.PLACEHOLDER_ANNOTATION in secret['metadata']['annotations']
    for obj in m.all_objects(phases):
        kubernetes_validate.validate(obj, '1.33', strict=True)


def test_offline_render_with_overrides_and_credentials():
    overrides = {'general': {'IGNORED': 'x'},
                 'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'debug': True}}},
                                'nova': {'nova.conf': {'DEFAULT': {'debug': True}}}}}
    phases = m.render_service_offline(CATALOG['glance'], deployment(), overrides, CREDENTIALS)
    secret = [o for o in m.all_objects(phases) if o['kind'] == 'Secret'][0]
    text = base64.b64decode(secret['data']['glance-api.conf']).decode()
    assert 'debug = true' in text and CREDENTIALS['GLANCE_DB_PASSWORD'] in text
    assert m.PLACEHOLDER_ANNOTATION not in secret['metadata']['annotations']
    assert CATALOG['glance']['config']['controller']['glance-api.conf']['DEFAULT']['debug'] is False


def test_upgrade_jobs():
    files = ini.render_config(CATALOG['keystone']['config'], dict(deployment()['general'], **CREDENTIALS))
    expand = m.render_upgrade_jobs(CATALOG['keystone'], deployment(), files, 'expand')
    assert [j['spec']['template']['spec']['containers'][0]['command'] for j in expand] == [
        ['keystone-manage', 'db_sync', '--expand']]
    assert m.render_upgrade_jobs(CATALOG['keystone'], deployment(), files, 'migrate') == []
    with pytest.raises(m.RenderError):
        m.render_upgrade_jobs(CATALOG['keystone'], deployment(), files, 'sideways')


def test_register_job_is_idempotent_shell_with_resolved_urls():
    job = [o for o in objects('cinder') if o['kind'] == 'Job'
           and o['metadata']['labels']['app.kubernetes.io/component'] == 'register'][0]
    script = job['spec']['template']['spec']['containers'][0]['command'][2]
    assert "'http://cinder-api.openstack.svc.cluster.local:8776/v3/%(project_id)s'" in script
    assert 'user create --or-show --domain default --password "$SERVICE_PASSWORD"' in script
    # Only the job's own environment is left for the shell; every catalog reference was resolved.
    assert sorted(set(cat.references(script))) == ['OS_REGION_NAME', 'SERVICE_PASSWORD']


def test_whole_catalog_renders_fast():
    started = time.monotonic()
    for name in NAMES:
        render(name)
    assert time.monotonic() - started < 1.0


def test_checksum_helper():
    assert m.checksum('abc') == hashlib.sha256(b'abc').hexdigest()
    assert m.checksum({'b': 1, 'a': 2}) == m.checksum({'a': 2, 'b': 1})


@pytest.mark.parametrize('resources, expected', [
    (None, m.DEFAULT_RESOURCES),
    ({'requests': {'memory': '2Gi'}}, {'requests': {'cpu': '100m', 'memory': '2Gi'}, 'limits': {'cpu': '2', 'memory': '2Gi'}}),
    ({'requests': {'cpu': '500m'}, 'limits': {'memory': '4Gi'}},
     {'requests': {'cpu': '500m', 'memory': '128Mi'}, 'limits': {'cpu': '2', 'memory': '4Gi'}}),
    ({'limits': {}}, {'requests': {'cpu': '100m', 'memory': '128Mi'}}),
])
def test_resources_are_bounded_by_default(resources, expected):
    entry = copy.deepcopy(CATALOG['memcached'])
    entry['components']['server']['resources'] = resources
    sts = [o for o in m.all_objects(m.render_service(entry, deployment(), {})) if o['kind'] == 'StatefulSet'][0]
    assert sts['spec']['template']['spec']['containers'][0]['resources'] == expected


def test_pull_policy_follows_tag_or_digest():
    dep = deployment(image={'overrides': {'memcached': 'quay.io/x/memcached@sha256:' + '0' * 64}})
    pinned = [o for o in m.all_objects(m.render_service(CATALOG['memcached'], dep, {})) if o['kind'] == 'StatefulSet'][0]
    assert pinned['spec']['template']['spec']['containers'][0]['imagePullPolicy'] == 'IfNotPresent'
    tagged = [o for o in objects('memcached') if o['kind'] == 'StatefulSet'][0]
    assert tagged['spec']['template']['spec']['containers'][0]['imagePullPolicy'] == 'Always'


def test_libvirt_has_no_limits_so_guests_are_not_capped():
    libvirt = [o for o in objects('nova-compute') if o['metadata']['name'] == 'nova-compute-libvirt' and o['kind'] == 'DaemonSet'][0]
    assert 'limits' not in libvirt['spec']['template']['spec']['containers'][0]['resources']


def _shell_scripts():
    """(where, shell, script) of every container that runs an inline shell script."""
    out = []
    for name in NAMES:
        for workload, template in sorted(pod_templates(objects(name)).items()):
            spec = template['spec']
            for container in spec.get('initContainers', []) + spec['containers']:
                command = container.get('command') or []
                if len(command) == 3 and command[0] in ('/bin/sh', '/bin/bash') and command[1] in ('-ec', '-c'):
                    out.append(('%s/%s' % (workload, container['name']), command[0], command[2]))
                probe = ((container.get('readinessProbe') or {}).get('exec') or {}).get('command') or []
                if len(probe) == 3 and probe[0] in ('/bin/sh', '/bin/bash'):
                    out.append(('%s/%s readiness' % (workload, container['name']), probe[0], probe[2]))
    return out


SHELL_SCRIPTS = _shell_scripts()


@pytest.mark.parametrize('where, shell, script', SHELL_SCRIPTS, ids=[s[0] for s in SHELL_SCRIPTS])
def test_inline_scripts_pass_shellcheck(where, shell, script, tmp_path):
    path = tmp_path / 'script'
    path.write_text('#!%s\nset -e\n%s' % (shell, script))
    dialect = 'bash' if shell.endswith('bash') else 'sh'
    syntax = subprocess.run([shell.rsplit('/', 1)[1], '-n', str(path)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    if shutil.which('shellcheck'):
        check = subprocess.run(['shellcheck', '-s', dialect, '-S', 'warning', str(path)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stdout


# --------------------------------------------------------------------------- credentials as files, read-only roots

def _all_pod_templates():
    """``[(service, object name, pod template, claim names)]`` of every deploy and upgrade pod of the catalog."""
    out = []
    files_of = dict((name, ini.render_config(CATALOG[name].get('config') or {},
                                             dict(deployment()['general'], **CREDENTIALS),
                                             formats=CATALOG[name].get('config_formats'))) for name in NAMES)
    for name in NAMES:
        objs = objects(name)
        for step in ('expand', 'migrate', 'contract'):
            objs = objs + m.render_upgrade_jobs(CATALOG[name], deployment(), files_of[name], step)
        for obj in objs:
            if obj['kind'] in POD_KINDS:
                claims = set(c['metadata']['name'] for c in obj['spec'].get('volumeClaimTemplates') or [])
                out.append((name, obj['metadata']['name'], obj['spec']['template'], claims))
    return out


ALL_PODS = _all_pod_templates()
POD_IDS = [p[1] for p in ALL_PODS]
CREDENTIAL_FILE_RE = re.compile(re.escape(m.CREDENTIALS_DIR) + r'/([A-Z0-9_]+)')


def _containers(template):
    return template['spec'].get('initContainers', []) + template['spec']['containers']


def _texts(container):
    """Everything a container runs or is told: command, args, literal env values."""
    return list(container.get('command') or []) + list(container.get('args') or []) + [
        e['value'] for e in container.get('env') or [] if 'value' in e]


@pytest.mark.parametrize('name, workload, template, claims', ALL_PODS, ids=POD_IDS)
def test_credentials_are_files_read_only_to_the_pod_group(name, workload, template, claims):
    volumes = dict((v['name'], v) for v in template['spec'].get('volumes') or [])
    for container in _containers(template):
        assert not [e['name'] for e in container.get('env') or [] if 'secretKeyRef' in e.get('valueFrom', {})], (
            '%s/%s takes a credential from its environment' % (workload, container['name']))
        assert not [s for s in container.get('envFrom') or [] if 'secretRef' in s]
        read = set(n for text in _texts(container) for n in CREDENTIAL_FILE_RE.findall(text))
        mounted = {}
        for mount in container.get('volumeMounts') or []:
            secret = (volumes.get(mount['name']) or {}).get('secret') or {}
            if secret.get('secretName') != 'openstack-credentials':
                continue
            assert mount.get('readOnly') is True and secret['defaultMode'] == 0o440, (workload, mount)
            if mount['mountPath'] == m.CREDENTIALS_DIR:
                mounted.update((item['path'], item['key']) for item in secret['items'])
        # Every file a script reads is mounted, holds the credential of that name, and nothing else is mounted.
        where = '%s/%s' % (workload, container['name'])
        assert read == set(mounted), '%s reads %s, mounts %s' % (where, sorted(read), sorted(mounted))
        assert all(path == key for path, key in mounted.items())
        uid = container['securityContext']['runAsUser']
        if mounted and uid != 0:
            # Mode 0440: only the owner (root) and the group read them, so the pod's fsGroup must be its group.
            assert template['spec']['securityContext'].get('fsGroup') == container['securityContext']['runAsGroup']


# Options (and environment variables) naming a path the process writes.
WRITTEN_OPTIONS = ('state_path', 'lock_path', 'filesystem_store_datadir', 'instances_path', 'log_dir',
                   'image_conversion_dir', 'STATIC_ROOT', 'datadir', 'socket', 'pid-file', 'tmpdir')
WRITTEN_ENV = ('HOME', 'RABBITMQ_LOG_BASE', 'GALERA_CONTROL_DIR')
WRITABLE_ROOT = ['cinder-volume', 'manila-share', 'neutron-dhcp-agent', 'neutron-l3-agent', 'neutron-openvswitch-agent-compute',
                 'neutron-openvswitch-agent-network', 'nova-compute-compute', 'nova-compute-libvirt',
                 'nova-compute-virtlogd']


def _written_paths(name, template, container):
    """The absolute paths ``container`` writes, read from the config files it mounts and its environment."""
    volumes = dict((v['name'], v) for v in template['spec'].get('volumes') or [])
    paths = []
    for mount in container.get('volumeMounts') or []:
        secret = (volumes.get(mount['name']) or {}).get('secret') or {}
        prefix = '%s-config-' % name
        if not secret.get('secretName', '').startswith(prefix):
            continue
        tree = CATALOG[name]['config'][secret['secretName'][len(prefix):]][mount['subPath']]
        for section in tree.values():
            for key, value in section.items():
                if key in WRITTEN_OPTIONS and str(value).startswith('/'):
                    paths.append((key, str(value)))
    paths.extend((e['name'], e['value']) for e in container.get('env') or []
                 if e['name'] in WRITTEN_ENV and str(e.get('value', '')).startswith('/'))
    return paths


@pytest.mark.parametrize('name, workload, template, claims', ALL_PODS, ids=POD_IDS)
def test_read_only_roots_write_only_to_volumes(name, workload, template, claims):
    volumes = dict((v['name'], v) for v in template['spec'].get('volumes') or [])
    for container in _containers(template):
        read_only = container['securityContext']['readOnlyRootFilesystem']
        assert read_only is (workload not in WRITABLE_ROOT), workload
        if not read_only:
            continue
        writable = [mt['mountPath'].rstrip('/') for mt in container.get('volumeMounts') or [] if not mt.get('readOnly')
                    and (mt['name'] in claims or set(volumes.get(mt['name']) or {}) & {'emptyDir', 'hostPath'})]
        assert '/tmp' in writable, workload
        for option, path in _written_paths(name, template, container):
            assert [w for w in writable if path == w or path.startswith(w + '/')], (
                '%s/%s writes %s (%s) on its read-only root filesystem; mount a volume there'
                % (workload, container['name'], path, option))


def test_written_paths_are_found_where_services_write():
    """The check above reads real paths: state and lock paths of the services, Galera's and RabbitMQ's."""
    found = dict((w, set(p for _o, p in _written_paths(n, t, t['spec']['containers'][0])))
                 for n, w, t, _c in ALL_PODS)
    assert {'/var/lib/nova', '/var/lib/nova/tmp'} <= found['nova-api']
    assert '/var/lib/glance/images/' in found['glance-api'] and '/var/lib/neutron/tmp' in found['neutron-server']
    assert {'/var/lib/mysql', '/run/mysqld/mysqld.sock', '/var/lib/mysql-control'} <= found['mariadb-server']
    assert {'/var/lib/rabbitmq', '/var/log/rabbitmq'} <= found['rabbitmq-server']
    assert '/var/lib/horizon/static' in found['horizon-server']


@pytest.mark.parametrize('change, message', [
    ({'volumes': [{'name': 'credentials', 'path': '/run/secrets/x', 'credentials': {'items': {'X_PASSWORD': 'x'}}}],
      'security': {'run_as_user': 42457}},
     'credentials are mounted as files readable by their group only; set security.fs_group'),
    ({'volumes': [{'name': 'tmp', 'path': '/scratch', 'empty_dir': {}}]},
     'the volume named tmp is not mounted at /tmp; rename it'),
], ids=['credentials without fs_group', 'tmp volume elsewhere'])
def test_pod_security_errors_fail_before_any_write(change, message):
    entry = copy.deepcopy(CATALOG['memcached'])
    entry['components']['server'].update(change)
    with pytest.raises(m.RenderError) as exc:
        m.render_service(entry, deployment(), {})
    assert message in str(exc.value)


@pytest.mark.parametrize('security, mounts', [
    ({'run_as_user': 42457}, ['/tmp']),
    ({'run_as_user': 42457, 'read_only_root_filesystem': False}, []),
    ({'privileged': True, 'run_as_user': 0}, ['/tmp']),
], ids=['default read-only', 'opted out', 'privileged read-only'])
def test_read_only_root_by_default_with_a_tmp_volume(security, mounts):
    entry = copy.deepcopy(CATALOG['memcached'])
    entry['components']['server']['security'] = security
    sts = [o for o in m.all_objects(m.render_service(entry, deployment(), {})) if o['kind'] == 'StatefulSet'][0]
    container = sts['spec']['template']['spec']['containers'][0]
    assert container['securityContext']['readOnlyRootFilesystem'] is (mounts == ['/tmp'])
    assert [v['mountPath'] for v in container.get('volumeMounts') or []] == mounts
    assert [v.get('emptyDir') for v in sts['spec']['template']['spec'].get('volumes') or []] == [{}] * len(mounts)


PEER_NAME = re.compile(r'\b([a-z0-9][a-z0-9-]*?)-(\d+)\.([a-z0-9][a-z0-9-]*)\.openstack\.svc\b')


@pytest.mark.parametrize('name', NAMES)
def test_peer_names_in_config_are_pods_of_the_statefulset(name):
    """Every ``<pod>-<n>.<headless service>.<ns>.svc`` name a config file lists (RabbitMQ's
    classic_config nodes, the Memcached members, Galera or etcd peers) is the DNS name of a pod
    a StatefulSet of the catalog creates: its name, an ordinal below its replicas, and its
    serviceName. (RabbitMQ once listed rabbitmq-N and the clients memcached-N, while the pods
    are rabbitmq-server-N and memcached-server-N.)"""
    sets = dict((o['spec']['serviceName'], o) for other in NAMES for o in objects(other) if o['kind'] == 'StatefulSet')
    found = []
    for obj in objects(name):
        if obj['kind'] != 'Secret' or not obj['metadata']['name'].startswith(name + '-config-'):
            continue
        for text in obj['data'].values():
            for pod, ordinal, headless in PEER_NAME.findall(base64.b64decode(text).decode()):
                found.append((pod, int(ordinal), headless))
    for pod, ordinal, headless in found:
        assert headless in sets, '%s: %s-%d.%s names no StatefulSet serviceName' % (name, pod, ordinal, headless)
        sts = sets[headless]
        assert pod == sts['metadata']['name'], '%s: peer %s-%d is not a pod of StatefulSet %s' % (
            name, pod, ordinal, sts['metadata']['name'])
        assert ordinal < sts['spec']['replicas'], '%s: %s-%d beyond %d replicas' % (name, pod, ordinal, sts['spec']['replicas'])
    if name == 'rabbitmq':
        assert len(found) == 3
