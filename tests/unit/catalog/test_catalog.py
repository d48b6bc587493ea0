# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service catalog: the real entries load, bad entries fail naming file, field and fix,
and the dependency graph orders services the way the seeds learnt the hard way."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import is_secret_name

ROOT = pathlib.Path(__file__).resolve().parents[3]
SERVICES = ROOT / 'roles' / 'catalog' / 'files' / 'services'
NODE_ROLES = yaml.safe_load((ROOT / 'roles' / 'catalog' / 'files' / 'node_roles.yml').read_text())
CORE = ['keystone', 'glance', 'placement', 'nova', 'nova-compute', 'neutron', 'cinder', 'heat', 'horizon']
INFRA = ['mariadb', 'rabbitmq', 'memcached', 'etcd']
# Services added as catalog data only (tests/unit/catalog/test_catalog_only.py), not enabled in
# the example inventory: Barbican, Designate with its BIND 9 server, Manila, Ironic.
OPTIONAL = ['barbican', 'designate', 'designate-bind', 'manila', 'ironic']


@pytest.fixture(scope='module')
def catalog():
    return cat.load_directory(str(SERVICES), NODE_ROLES)


def minimal_entry(name='svc'):
    """A small valid entry; bad cases below change one thing in it."""
    return {
        'name': name,
        'kind': 'openstack',
        'depends_on': [],
        'secrets': [{'name': 'SVC_DB_PASSWORD', 'type': 'password'}],
        'databases': [{'name': 'svc', 'user': 'svc', 'password': 'SVC_DB_PASSWORD'}],
        'components': {
            'api': {
                'workload': 'Deployment', 'node_role': 'controller', 'image': 'svc-api', 'replicas': 2,
                'command': ['svc-api'],
                'ports': [{'name': 'api', 'port': 1234, 'service': 'svc-api', 'access': 'any'}],
                'probes': {'readiness': {'http': '/', 'port': 'api'}},
                'config_files': {'svc.conf': '/etc/svc/svc.conf'},
            },
        },
        'config': {'controller': {'svc.conf': {'database': {
            'connection': 'mysql+pymysql://svc:$SVC_DB_PASSWORD@$DB_HOST/svc'}}}},
        'jobs': [{'name': 'db-sync', 'phase': 'db-sync', 'image': 'svc-api', 'command': ['svc-manage', 'db', 'sync'],
                  'config_files': {'svc.conf': '/etc/svc/svc.conf'}}],
    }


def test_minimal_entry_is_valid():
    assert cat.validate_entry(minimal_entry(), 'svc.yml', NODE_ROLES) == []


def test_real_catalog_has_every_service(catalog):
    assert sorted(catalog) == sorted(CORE + INFRA + OPTIONAL)
    assert all(catalog[name]['kind'] == 'openstack' for name in CORE + OPTIONAL)
    assert all(catalog[name]['kind'] == 'infrastructure' for name in INFRA)


def test_real_catalog_waves_follow_the_dependencies(catalog):
    # Infrastructure first, then Keystone, then everything that needs only Keystone (Neutron,
    # Cinder, Heat and Horizon do not wait for Nova: none needs it to start), Nova once Glance and
    # Placement are up, nova-compute last (it needs Nova, Neutron, Placement and Glance).
    assert cat.waves(catalog, sorted(CORE + INFRA)) == [
        ['etcd', 'mariadb', 'memcached', 'rabbitmq'],
        ['keystone'],
        ['cinder', 'glance', 'heat', 'horizon', 'neutron', 'placement'],
        ['nova'],
        ['nova-compute'],
    ]


@pytest.mark.parametrize('enabled, expected', [
    (['keystone', 'memcached', 'mariadb'], [['mariadb', 'memcached'], ['keystone']]),
    # "after" only orders: ironic waits for Glance and Neutron when they are rolled out too ...
    (['mariadb', 'rabbitmq', 'memcached', 'keystone', 'ironic', 'glance', 'neutron'],
     [['mariadb', 'memcached', 'rabbitmq'], ['keystone'], ['glance', 'neutron'], ['ironic']]),
    # ... and not without them.
    (['mariadb', 'rabbitmq', 'memcached', 'keystone', 'ironic'],
     [['mariadb', 'memcached', 'rabbitmq'], ['keystone'], ['ironic']]),
    (['horizon', 'keystone', 'memcached', 'mariadb'], [['mariadb', 'memcached'], ['keystone'], ['horizon']]),
    (['etcd'], [['etcd']]),
])
def test_waves_of_subsets(catalog, enabled, expected):
    assert cat.waves(catalog, enabled) == expected


@pytest.mark.parametrize('enabled, message', [
    (['keystone', 'mariadb', 'memcached', 'swift'], "unknown service 'swift' in openstack_enabled_services"),
    (['keystone', 'mariadb'], "keystone depends on memcached, which is not enabled: add 'memcached' to "
                              "openstack_enabled_services or remove 'keystone'"),
    (['nova', 'mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance'],
     "nova depends on placement, which is not enabled"),
    (['nova-compute'], 'nova-compute depends on nova, which is not enabled'),
])
def test_bad_choice_of_services_fails_naming_the_fix(catalog, enabled, message):
    with pytest.raises(cat.CatalogError) as exc:
        cat.waves(catalog, enabled)
    assert message in str(exc.value)


def test_cycle_among_enabled_services_is_named():
    entries = {}
    for name, deps in (('a', ['c']), ('b', ['a']), ('c', ['b']), ('d', [])):
        entry = minimal_entry(name)
        entry['depends_on'] = deps
        entries[name] = entry
    with pytest.raises(cat.CatalogError) as exc:
        cat.waves(entries, ['a', 'b', 'c', 'd'])
    assert 'dependency cycle a -> c -> b -> a' in str(exc.value)


def test_cycle_in_catalog_files_fails_at_load():
    one, two = minimal_entry('one'), minimal_entry('two')
    one['after'] = ['two']
    two['depends_on'] = ['one']
    with pytest.raises(cat.CatalogError) as exc:
        cat.validate_catalog({'one.yml': one, 'two.yml': two}, NODE_ROLES)
    assert 'dependency cycle' in str(exc.value)


def _set(path, value):
    def change(entry):
        target = entry
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


API = ('components', 'api')
BAD_ENTRIES = [
    ('unknown top field', _set(('colour',), 'red'), "svc.yml: unknown field 'colour'"),
    ('name differs from file', _set(('name',), 'other'), "name 'other' must equal the file name; rename the file"),
    ('bad kind', _set(('kind',), 'database'), "kind 'database' must be one of openstack, infrastructure"),
    ('no components', _set(('components',), {}), "missing required field 'components'"),
    ('missing workload', _set(API + ('workload',), KeyError), "svc.yml.components.api: missing required field 'workload'"),
    ('bad workload', _set(API + ('workload',), 'ReplicaSet'), "components.api.workload: 'ReplicaSet' must be one of"),
    ('daemonset with replicas', _set(API + ('workload',), 'DaemonSet'),
     'components.api.replicas: a DaemonSet runs one pod per node of its role; remove replicas'),
    ('statefulset without headless service', _set(API + ('workload',), 'StatefulSet'),
     'components.api.headless_service: a StatefulSet needs the name of its headless Service'),
    ('unknown node role', _set(API + ('node_role',), 'gpu'), "node role 'gpu' is not defined in node_roles"),
    ('mounted file not in config', _set(API + ('config_files',), {'other.conf': '/etc/svc/other.conf'}),
     'components.api.config_files: other.conf is not in config.controller; add config.controller.other.conf'),
    ('relative mount path', _set(API + ('config_files',), {'svc.conf': 'etc/svc.conf'}),
     'config_files.svc.conf: the mount path must be absolute'),
    ('file name with a directory', _set(('config', 'controller', 'plugins/ml2.ini'), {'ml2': {'a': 1}}),
     'file names are flat (no "/")'),
    ('literal password in config', _set(('config', 'controller', 'svc.conf', 'keystone_authtoken'),
                                        {'password': 'hunter2'}),
     'svc.conf [keystone_authtoken] password: a secret-named option needs a $CREDENTIAL reference'),
    ('undeclared credential in config', _set(('config', 'controller', 'svc.conf', 'keystone_authtoken'),
                                             {'password': '$SVC_KEYSTONE_PASSWORD'}),
     '$SVC_KEYSTONE_PASSWORD is a credential not declared under secrets; add {name: SVC_KEYSTONE_PASSWORD'),
    ('undeclared credential in env', _set(API + ('env',), [{'name': 'PW', 'secret': 'OTHER_PASSWORD'}]),
     'env[0].secret: credential OTHER_PASSWORD is not declared'),
    ('literal secret in env', _set(API + ('env',), [{'name': 'ADMIN_PASSWORD', 'value': 'x'}]),
     'ADMIN_PASSWORD looks like a secret; take it from the credentials with secret: <NAME>'),
    ('env with two sources', _set(API + ('env',), [{'name': 'A', 'value': 'x', 'field': 'metadata.name'}]),
     'give exactly one of value, secret'),
    ('bad port access', _set(API + ('ports',), [{'name': 'api', 'port': 1234, 'access': 'world'}]),
     "ports[0].access: 'world' must be one of any, namespace, peers"),
    ('port name too long', _set(API + ('ports',), [{'name': 'a-very-long-port-name', 'port': 1, 'access': 'any'}]),
     'must be an IANA service name'),
    ('probe on unknown port', _set(API + ('probes',), {'liveness': {'tcp': 'admin'}}),
     "probes.liveness: port 'admin' is not among the component ports"),
    ('two probe actions', _set(API + ('probes',), {'liveness': {'tcp': 'api', 'exec': ['true']}}),
     'probes.liveness: give exactly one of http'),
    ('unknown dependency', _set(('depends_on',), ['swift']), "depends_on names 'swift', which is not in the catalog"),
    ('self dependency', _set(('depends_on',), ['svc']), 'depends_on: a service cannot depend on itself'),
    ('database password undeclared', _set(('databases',), [{'name': 'svc', 'user': 'svc', 'password': 'X_PASSWORD'}]),
     'databases[0].password: credential X_PASSWORD is not declared'),
    ('database name with dash', _set(('databases',), [{'name': 'my-db', 'user': 'svc', 'password': 'SVC_DB_PASSWORD'}]),
     'database names are lower-case letters, digits and _'),
    ('endpoint missing', _set(('keystone',), {'services': [{'name': 's', 'type': 't', 'endpoints': {'public': 'http://x'}}]}),
     'keystone.services[0].endpoints.internal: give the URL template of the internal endpoint'),
    ('endpoint with a credential', _set(('keystone',), {'services': [{'name': 's', 'type': 't', 'endpoints': {
        'public': 'http://$SVC_DB_PASSWORD', 'internal': 'http://x', 'admin': 'http://x'}}]}),
     'endpoints.public: an endpoint URL cannot contain credential $SVC_DB_PASSWORD'),
    ('bad secret type', _set(('secrets',), [{'name': 'SVC_DB_PASSWORD', 'type': 'uuid'}]),
     "secrets[0].type: 'uuid' must be one of"),
    ('password named like a plain value', _set(('secrets',), [{'name': 'SVC_DB_PASSWORD', 'type': 'password'},
                                                              {'name': 'SVC_PASS', 'type': 'password'}]),
     "'SVC_PASS' does not look like a secret to the masking rule"),
    ('script volume without script', _set(API + ('volumes',), [{'name': 's', 'path': '/s', 'script': {'name': 'x.sh'}}]),
     "script.name: 'x.sh' is not listed under scripts"),
    ('volume with two sources', _set(API + ('volumes',), [{'name': 's', 'path': '/s', 'empty_dir': {},
                                                          'host_path': {'path': '/s'}}]),
     'give exactly one source'),
    ('bad job phase', _set(('jobs',), [{'name': 'sync', 'phase': 'sometime', 'image': 'x', 'command': ['x']}]),
     "jobs[0].phase: 'sometime' must be one of"),
    ('bad config format', _set(('config_formats',), {'svc.conf': 'toml'}), "config_formats.svc.conf: 'toml' must be one of"),
    ('command item not a string', _set(API + ('command',), ['svc-api', '--port', 8080]),
     "components.api.command[2]: 8080 must be a string; quote it in the YAML"),
    ('probe exec item not a string', _set(API + ('probes',), {'liveness': {'exec': ['check', 5]}}),
     'probes.liveness.exec[1]: 5 must be a string'),
    ('job args item not a string', _set(('jobs',), [{'name': 'sync', 'phase': 'db-sync', 'image': 'x', 'command': ['x'],
                                                     'args': ['--yes', True]}]),
     'jobs[0].args[1]: True must be a string'),
    ('replicas zero', _set(API + ('replicas',), 0), 'components.api.replicas: must be at least 1'),
    ('replicas not a number', _set(API + ('replicas',), 'three'), 'components.api.replicas: must be an integer'),
]


@pytest.mark.parametrize('mutate, message', [c[1:] for c in BAD_ENTRIES], ids=[c[0] for c in BAD_ENTRIES])
def test_bad_entry_fails_naming_file_field_and_fix(mutate, message):
    entry = minimal_entry()
    mutate(entry)
    with pytest.raises(cat.CatalogError) as exc:
        cat.validate_catalog({'svc.yml': entry}, NODE_ROLES)
    assert message in str(exc.value)
    assert 'svc.yml' in str(exc.value)


def test_quorum_service_with_even_default_replicas_fails():
    entry = minimal_entry()
    entry['quorum'] = True
    entry['components']['api']['replicas'] = 4
    with pytest.raises(cat.CatalogError) as exc:
        cat.validate_catalog({'svc.yml': entry}, NODE_ROLES)
    assert 'svc needs a quorum, replicas must be odd (2n+1), got 4' in str(exc.value)


def test_duplicate_names_fail():
    with pytest.raises(cat.CatalogError) as exc:
        cat.validate_catalog({'svc.yml': minimal_entry(), 'svc.yaml': minimal_entry()}, NODE_ROLES)
    assert "name 'svc' is already used by another file" in str(exc.value)


def test_every_problem_is_reported_at_once():
    entry = minimal_entry()
    entry['kind'] = 'nope'
    entry['components']['api']['node_role'] = 'gpu'
    with pytest.raises(cat.CatalogError) as exc:
        cat.validate_catalog({'svc.yml': entry}, NODE_ROLES)
    assert "kind 'nope'" in str(exc.value) and "node role 'gpu'" in str(exc.value)


@pytest.mark.parametrize('service, overrides, message', [
    ('mariadb', {'mariadb': {'server': 4}}, 'galera replicas must be odd (2n+1), got 4: set 3 or 5'),
    ('mariadb', {'mariadb': {'server': 2}}, 'galera replicas must be odd (2n+1), got 2'),
    ('rabbitmq', {'rabbitmq': {'server': 6}}, 'rabbitmq replicas must be odd (2n+1), got 6'),
    ('etcd', {'etcd': {'server': 2}}, 'etcd replicas must be odd (2n+1), got 2'),
    ('keystone', {'keystone': {'api': 0}}, 'keystone api replicas must be a whole number of at least 1, got 0'),
    ('keystone', {'keystone': {'api': 'two'}}, "got 'two'"),
    ('nova-compute', {'nova-compute': {'compute': 3}}, 'nova-compute compute is a DaemonSet'),
])
def test_bad_replica_counts_fail(catalog, service, overrides, message):
    with pytest.raises(cat.CatalogError) as exc:
        cat.check_replicas(catalog[service], overrides)
    assert message in str(exc.value)


@pytest.mark.parametrize('service, overrides', [
    ('mariadb', {'mariadb': {'server': 5}}),
    ('mariadb', {'mariadb': {'server': 1}}),
    ('mariadb', None),
    ('keystone', {'keystone': {'api': 2}}),
    ('rabbitmq', {'rabbitmq': {'server': 3}}),
])
def test_good_replica_counts_pass(catalog, service, overrides):
    cat.check_replicas(catalog[service], overrides)


def test_effective_replicas(catalog):
    assert cat.effective_replicas(catalog['keystone'], 'api') == 3
    assert cat.effective_replicas(catalog['keystone'], 'api', {'keystone': {'api': 5}}) == 5
    assert cat.effective_replicas(catalog['nova-compute'], 'compute') is None


@pytest.mark.parametrize('release, image, expected', [
    ('2026.2', None, 'quay.io/openstack.kolla/keystone:2026.2-ubuntu-noble'),
    ('2027.1', None, 'quay.io/openstack.kolla/keystone:2027.1-ubuntu-noble'),
    ('2026.2', {'registry': 'registry.local:5000/kolla', 'distro': 'rocky-10'},
     'registry.local:5000/kolla/keystone:2026.2-rocky-10'),
    ('2026.2', {'registry': 'quay.io/airshipit', 'template': '{registry}/{name}:{release}-{distro}',
                'distro': 'ubuntu_noble'}, 'quay.io/airshipit/keystone:2026.2-ubuntu_noble'),
    ('2026.2', {'overrides': {'keystone': 'example.org/keystone@sha256:abc'}}, 'example.org/keystone@sha256:abc'),
])
def test_image_ref(release, image, expected):
    assert cat.image_ref('keystone', release, image) == expected


def test_bad_image_template_names_the_fields():
    with pytest.raises(cat.CatalogError) as exc:
        cat.image_ref('keystone', '2026.2', {'template': '{registry}/{image}:{tag}'})
    assert 'use the fields {registry}, {name}, {release}, {distro}' in str(exc.value)


def test_every_password_credential_is_masked_by_name(catalog):
    secrets = cat.secret_names(catalog)
    unmasked = sorted(name for name, kind in secrets.items() if not is_secret_name(name))
    # RABBITMQ_ERLANG_COOKIE is the one convention name the masking rule misses ("cookie").
    assert unmasked in ([], ['RABBITMQ_ERLANG_COOKIE'])
    assert all(is_secret_name(name) for name, kind in secrets.items() if kind == 'password')


def test_every_credential_of_conventions_exists(catalog):
    secrets = cat.secret_names(catalog)
    for name in ('MARIADB_ROOT_PASSWORD', 'MARIADB_SST_PASSWORD', 'RABBITMQ_ERLANG_COOKIE', 'KEYSTONE_ADMIN_PASSWORD',
                 'NEUTRON_METADATA_SECRET', 'HORIZON_SECRET_KEY', 'HEAT_AUTH_ENCRYPTION_KEY', 'MEMCACHE_SECRET_KEY'):
        assert name in secrets
    for service in ('glance', 'placement', 'nova', 'neutron', 'cinder', 'heat'):
        assert '%s_DB_PASSWORD' % service.upper() in secrets
        assert '%s_KEYSTONE_PASSWORD' % service.upper() in secrets


def test_secret_names_of_enabled_services_only(catalog):
    assert sorted(cat.secret_names(catalog, ['mariadb', 'memcached'])) == ['MARIADB_ROOT_PASSWORD', 'MARIADB_SST_PASSWORD']


def test_references():
    assert cat.references('a $FOO ${BAR}x $$BAZ $lower') == ['FOO', 'BAR']


def test_general_defaults_follow_conventions():
    general = cat.general_defaults(namespace='cloud', memcached_replicas=2)
    assert general['DB_HOST'] == 'mariadb.cloud.svc.cluster.local'
    assert general['MEMCACHED_SERVERS'] == ('memcached-server-0.memcached.cloud.svc.cluster.local:11211,'
                                            'memcached-server-1.memcached.cloud.svc.cluster.local:11211')
    for key in ('OPENSTACK_RELEASE', 'REGION_NAME', 'NAMESPACE', 'DB_HOST', 'DB_PORT', 'RABBITMQ_HOST', 'RABBITMQ_PORT',
                'MEMCACHED_SERVERS', 'KEYSTONE_PUBLIC_URL', 'KEYSTONE_INTERNAL_URL', 'PUBLIC_DOMAIN'):
        assert key in general


def test_load_directory_errors(tmp_path):
    with pytest.raises(cat.CatalogError) as exc:
        cat.load_directory(str(tmp_path / 'missing'))
    assert 'does not exist; set catalog_dir' in str(exc.value)
    (tmp_path / 'svc.yml').write_text('name: [unclosed\n')
    with pytest.raises(cat.CatalogError) as exc:
        cat.load_directory(str(tmp_path))
    assert 'svc.yml: not valid YAML' in str(exc.value)


def test_load_directory_reads_scripts(tmp_path):
    entry = minimal_entry()
    entry['scripts'] = {'start.sh': '../scripts/start.sh', 'absent.sh': '../scripts/absent.sh'}
    (tmp_path / 'services').mkdir()
    (tmp_path / 'scripts').mkdir()
    (tmp_path / 'scripts' / 'start.sh').write_text('#!/bin/sh\necho start\n')
    (tmp_path / 'services' / 'svc.yml').write_text(yaml.safe_dump(entry))
    loaded = cat.load_directory(str(tmp_path / 'services'), NODE_ROLES)
    assert loaded['svc']['scripts']['start.sh'] == {'path': '../scripts/start.sh', 'content': '#!/bin/sh\necho start\n'}
    assert loaded['svc']['scripts']['absent.sh']['content'] is None


def test_real_entries_do_not_share_mutable_state(catalog):
    before = copy.deepcopy(catalog['neutron'])
    cat.waves(catalog, sorted(catalog))
    assert catalog['neutron'] == before
