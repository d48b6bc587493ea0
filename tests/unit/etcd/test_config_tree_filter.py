"""The config_tree filter: catalog defaults + overrides + general values -> the validated tree."""

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.openstack_k8s.deploy.plugins.filter.config_tree import FilterModule, config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.build import build_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import TreeError, flatten

GENERAL = {'REGION_NAME': 'RegionOne', 'DB_HOST': 'mariadb.openstack.svc', 'DB_PORT': 3306,
           'KEYSTONE_INTERNAL_URL': 'http://keystone-api.openstack.svc:5000'}

CATALOG = {
    'keystone': {
        'secrets': [{'name': 'KEYSTONE_DB_PASSWORD', 'type': 'password'},
                    {'name': 'KEYSTONE_ADMIN_PASSWORD', 'type': 'password'}],
        'config': {'controller': {'keystone.conf': {
            'database': {'connection': 'mysql+pymysql://keystone:$KEYSTONE_DB_PASSWORD@$DB_HOST:$DB_PORT/keystone'},
            'token': {'provider': 'fernet'}}}},
    },
    'glance': {
        'secrets': [{'name': 'GLANCE_DB_PASSWORD', 'type': 'password'},
                    {'name': 'GLANCE_KEYSTONE_PASSWORD', 'type': 'password'}],
        'config': {'controller': {'glance-api.conf': {
            'DEFAULT': {'debug': False, 'enabled_backends': 'file:file'},
            'database': {'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'},
            'keystone_authtoken': {'password': '$GLANCE_KEYSTONE_PASSWORD', 'auth_url': '$KEYSTONE_INTERNAL_URL'}}}},
    },
    'nova': {
        'secrets': [{'name': 'NOVA_DB_PASSWORD', 'type': 'password'}],
        'config': {
            'controller': {'nova.conf': {'database': {'connection': 'mysql+pymysql://nova:$NOVA_DB_PASSWORD@$DB_HOST/nova'}}},
            'compute': {'nova.conf': {'DEFAULT': {'compute_driver': 'libvirt.LibvirtDriver', 'my_ip': '$my_ip'},
                                      'vnc': {'server_listen': '$my_ip'}}},
        },
    },
    'memcached': {'secrets': []},
}

GOOD = [
    ('catalog defaults only', ['keystone'], {}, {
        'general': GENERAL,
        'controller': {'keystone': CATALOG['keystone']['config']['controller']}}),
    ('empty enabled means every service', [], {}, {
        'general': GENERAL,
        'controller': {'keystone': CATALOG['keystone']['config']['controller'],
                       'glance': CATALOG['glance']['config']['controller'],
                       'nova': CATALOG['nova']['config']['controller']},
        'compute': {'nova': CATALOG['nova']['config']['compute']}}),
    ('override changes one option and adds one', ['glance', 'keystone'],
     {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'debug': True, 'workers': 4}}}}},
     {'general': GENERAL,
      'controller': {'keystone': CATALOG['keystone']['config']['controller'],
                     'glance': {'glance-api.conf': dict(CATALOG['glance']['config']['controller']['glance-api.conf'],
                                                        DEFAULT={'debug': True, 'enabled_backends': 'file:file',
                                                                 'workers': 4})}}}),
    ('override adds a section', ['keystone'], {'controller': {'keystone': {'keystone.conf': {'cache': {'enabled': True}}}}},
     {'general': GENERAL,
      'controller': {'keystone': {'keystone.conf': dict(CATALOG['keystone']['config']['controller']['keystone.conf'],
                                                        cache={'enabled': True})}}}),
    ('null removes a default and an emptied section', ['keystone'],
     {'controller': {'keystone': {'keystone.conf': {'token': {'provider': None}}}}},
     {'general': GENERAL,
      'controller': {'keystone': {'keystone.conf': {
          'database': CATALOG['keystone']['config']['controller']['keystone.conf']['database']}}}}),
    ('general override and addition', ['keystone'], {'general': {'REGION_NAME': 'RegionTwo', 'EXTRA_HOST': 'x'}},
     {'general': dict(GENERAL, REGION_NAME='RegionTwo', EXTRA_HOST='x'),
      'controller': {'keystone': CATALOG['keystone']['config']['controller']}}),
    ('service without config', ['memcached', 'keystone'], {}, {
        'general': GENERAL, 'controller': {'keystone': CATALOG['keystone']['config']['controller']}}),
    ('secret override as a reference', ['glance'],
     {'controller': {'glance': {'glance-api.conf': {'keystone_authtoken': {'password': '${GLANCE_KEYSTONE_PASSWORD}'}}}}},
     None),
]


@pytest.mark.parametrize('enabled,overrides,expected', [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_builds_the_tree(enabled, overrides, expected):
    catalog = copy.deepcopy(CATALOG)
    original_overrides = copy.deepcopy(overrides)
    tree = config_tree(catalog, enabled, overrides, GENERAL)
    if expected is not None:
        assert tree == expected
    assert flatten(tree)                       # what etcd_config_tree accepts
    assert catalog == CATALOG and overrides == original_overrides   # inputs are not mutated


BAD = [
    ('unknown service', ['glance'], {'controller': {'swift': {'proxy.conf': {'DEFAULT': {'a': 1}}}}},
     "openstack_config_overrides: controller/swift: unknown service 'swift' (catalog services: glance, keystone, memcached, nova)"),
    ('disabled service', ['glance'], {'controller': {'keystone': {'keystone.conf': {'DEFAULT': {'a': 1}}}}},
     'controller/keystone: service keystone is not enabled; add it to openstack_enabled_services'),
    ('role the service does not have', ['glance'], {'compute': {'glance': {'glance-api.conf': {'DEFAULT': {'a': 1}}}}},
     'compute/glance: glance has no configuration on node role compute (it has: controller)'),
    ('unknown file', ['glance'], {'controller': {'glance': {'glance-registry.conf': {'DEFAULT': {'a': 1}}}}},
     'controller/glance/glance-registry.conf: glance writes no file glance-registry.conf on controller (files: glance-api.conf)'),
    ('too shallow', ['glance'], {'controller': {'glance': {'glance-api.conf': {'DEFAULT': 'x'}}}},
     'openstack_config_overrides: controller/glance/glance-api.conf/DEFAULT: found a value at depth 4'),
    ('too deep', ['glance'], {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'debug': {'x': 1}}}}}},
     'openstack_config_overrides: controller/glance/glance-api.conf/DEFAULT/debug: found a mapping'),
    ('plaintext secret', ['glance'],
     {'controller': {'glance': {'glance-api.conf': {'keystone_authtoken': {'password': 'Sup3rSecret!'}}}}},
     'controller/glance/glance-api.conf/keystone_authtoken/password: refusing to store a plaintext secret'),
    ('secret in general', ['glance'], {'general': {'ADMIN_PASSWORD': '$KEYSTONE_ADMIN_PASSWORD'}},
     'general/ADMIN_PASSWORD: general keys hold no secrets'),
    ('unresolvable reference', ['glance'],
     {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'transport_url': 'rabbit://glance:$GLANCE_RABBITMQ_PASSWORD@x'}}}}},
     '$GLANCE_RABBITMQ_PASSWORD is neither a general key nor a credential of an enabled service'),
    ('credential of a disabled service', ['glance'],
     {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'x': '$NOVA_DB_PASSWORD'}}}}},
     '$NOVA_DB_PASSWORD is neither'),
    ('overrides not a mapping', ['glance'], ['x'], 'openstack_config_overrides must be a mapping'),
    ('enabled service not in the catalog', ['glance', 'swift'], {}, "enabled service 'swift' is not in the catalog"),
    ('slash in an option name', ['glance'], {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'a/b': 1}}}}},
     'contains "/"'),
]


@pytest.mark.parametrize('enabled,overrides,message', [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_overrides_fail_naming_the_path_and_the_fix(enabled, overrides, message):
    with pytest.raises(AnsibleFilterError) as error:
        config_tree(copy.deepcopy(CATALOG), enabled, overrides, GENERAL)
    assert message in str(error.value)
    assert 'Sup3rSecret' not in str(error.value)


def test_every_problem_is_reported_at_once():
    overrides = {'controller': {'swift': {'p': {'s': {'k': 1}}}, 'keystone': {'keystone.conf': {'s': {'k': 1}}}},
                 'compute': {'glance': {'glance-api.conf': {'s': {'k': 1}}}}}
    with pytest.raises(TreeError) as error:
        build_config_tree(CATALOG, ['glance'], overrides, GENERAL)
    assert len(error.value.errors) == 3


def test_catalog_defaults_are_validated_too():
    catalog = {'bad': {'config': {'controller': {'bad.conf': {'DEFAULT': {'admin_password': 'in-the-catalog'}}}}}}
    with pytest.raises(TreeError) as error:
        build_config_tree(catalog, [], {}, {})
    assert 'controller/bad/bad.conf/DEFAULT/admin_password: refusing to store a plaintext secret' in str(error.value)


def test_the_filter_is_registered():
    assert FilterModule().filters() == {'config_tree': config_tree}


def test_the_real_catalog_and_the_config_roles_general_keys_make_a_valid_tree():
    """Every catalog entry's defaults pass the tree rules with the general keys the config role defines."""
    import pathlib
    import yaml
    root = pathlib.Path(__file__).resolve().parents[3]
    catalog = {}
    for path in sorted((root / 'roles' / 'catalog' / 'files' / 'services').glob('*.yml')):
        entry = yaml.safe_load(path.read_text())
        catalog[entry['name']] = entry
    assert catalog, 'no catalog data files found'
    defaults = yaml.safe_load((root / 'roles' / 'config' / 'defaults' / 'main.yml').read_text())
    general = dict((key, 'value-of-%s' % key) for key in defaults['config_general'])
    tree = build_config_tree(catalog, [], {}, general)
    flat = flatten(tree)
    assert len([k for k in flat if not k.startswith('general/')]) > 100
    assert all(key.split('/')[1] in catalog for key in flat if not key.startswith('general/'))
