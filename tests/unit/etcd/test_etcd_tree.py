"""The pure half of etcd_config_tree: validate, flatten, render, plan, mask."""

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd import tree as tree_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import EtcdError, parse_endpoints, range_end
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK, is_secret_name

GLANCE_CONNECTION = 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'


def svc(value, key='option', section='DEFAULT', conf='glance-api.conf', service='glance', role='controller'):
    return {role: {service: {conf: {section: {key: value}}}}}


FLATTEN_CASES = [
    ('general string', {'general': {'REGION_NAME': 'RegionOne'}}, {'general/REGION_NAME': 'RegionOne'}),
    ('general int', {'general': {'DB_PORT': 3306}}, {'general/DB_PORT': '3306'}),
    ('reference kept verbatim', svc(GLANCE_CONNECTION, 'connection', 'database'),
     {'controller/glance/glance-api.conf/database/connection': GLANCE_CONNECTION}),
    ('bool true', svc(True, 'debug'), {'controller/glance/glance-api.conf/DEFAULT/debug': 'True'}),
    ('bool false', svc(False, 'debug'), {'controller/glance/glance-api.conf/DEFAULT/debug': 'False'}),
    ('float', svc(0.5, 'ratio'), {'controller/glance/glance-api.conf/DEFAULT/ratio': '0.5'}),
    ('negative int', svc(-1, 'quota'), {'controller/glance/glance-api.conf/DEFAULT/quota': '-1'}),
    ('list joined with commas', svc(['file:file', 'rbd:ceph'], 'enabled_backends'),
     {'controller/glance/glance-api.conf/DEFAULT/enabled_backends': 'file:file,rbd:ceph'}),
    ('list of mixed scalars', svc([1, True, 'x'], 'mixed'), {'controller/glance/glance-api.conf/DEFAULT/mixed': '1,True,x'}),
    ('empty list', svc([], 'nothing'), {'controller/glance/glance-api.conf/DEFAULT/nothing': ''}),
    ('empty string', svc('', 'empty'), {'controller/glance/glance-api.conf/DEFAULT/empty': ''}),
    ('secret key as $VAR', svc('$GLANCE_KEYSTONE_PASSWORD', 'password', 'keystone_authtoken'),
     {'controller/glance/glance-api.conf/keystone_authtoken/password': '$GLANCE_KEYSTONE_PASSWORD'}),
    ('secret key as ${VAR}', svc('${MEMCACHE_SECRET_KEY}', 'memcache_secret_key', 'keystone_authtoken'),
     {'controller/glance/glance-api.conf/keystone_authtoken/memcache_secret_key': '${MEMCACHE_SECRET_KEY}'}),
    ('secret-named key empty', svc('', 'password', 'database'), {'controller/glance/glance-api.conf/database/password': ''}),
    ('path option with key in its name', svc('/etc/ssl/glance.key', 'ssl_key_file'),
     {'controller/glance/glance-api.conf/DEFAULT/ssl_key_file': '/etc/ssl/glance.key'}),
    ('token ttl is not a secret', svc(600, 'token_ttl', 'consoleauth', 'nova.conf', 'nova'),
     {'controller/nova/nova.conf/consoleauth/token_ttl': '600'}),
    ('keystone section/option names', svc('http://keystone:5000', 'www_authenticate_uri', 'keystone_authtoken'),
     {'controller/glance/glance-api.conf/keystone_authtoken/www_authenticate_uri': 'http://keystone:5000'}),
    ('boolean on a secret-named switch', svc(True, 'send_service_user_token', 'service_user', 'nova.conf', 'nova'),
     {'controller/nova/nova.conf/service_user/send_service_user_token': 'True'}),
    ('django cookie flags', svc(True, 'CSRF_COOKIE_HTTPONLY', 'DEFAULT', 'local_settings', 'horizon'),
     {'controller/horizon/local_settings/DEFAULT/CSRF_COOKIE_HTTPONLY': 'True'}),
    ('oslo interpolation is a reference', svc('$my_ip', 'token'), {'controller/glance/glance-api.conf/DEFAULT/token': '$my_ip'}),
    ('unicode value', svc('r\u00e9gion', 'label'), {'controller/glance/glance-api.conf/DEFAULT/label': 'r\u00e9gion'}),
    ('empty tree', {}, {}),
    ('two roles', {'controller': {'nova': {'nova.conf': {'DEFAULT': {'a': 1}}}},
                   'compute': {'nova': {'nova.conf': {'DEFAULT': {'a': 2}}}}},
     {'controller/nova/nova.conf/DEFAULT/a': '1', 'compute/nova/nova.conf/DEFAULT/a': '2'}),
]


@pytest.mark.parametrize('tree,expected', [c[1:] for c in FLATTEN_CASES], ids=[c[0] for c in FLATTEN_CASES])
def test_flatten(tree, expected):
    assert tree_lib.flatten(tree) == expected


@pytest.mark.parametrize('tree,expected', [c[1:] for c in FLATTEN_CASES if c[2]], ids=[c[0] for c in FLATTEN_CASES if c[2]])
def test_unflatten_round_trips_the_rendered_tree(tree, expected):
    assert tree_lib.flatten(tree_lib.unflatten(expected)) == expected


BAD_TREES = [
    ('service too shallow', {'controller': {'glance': {'glance-api.conf': {'DEFAULT': 'x'}}}},
     'controller/glance/glance-api.conf/DEFAULT: found a value at depth 4'),
    ('service too deep', svc({'deeper': 'x'}, 'option'),
     'controller/glance/glance-api.conf/DEFAULT/option: found a mapping where a value belongs'),
    ('general too deep', {'general': {'DB': {'HOST': 'x'}}}, 'general/DB: found a mapping where a value belongs'),
    ('general not a mapping', {'general': 'x'}, 'general: found a value at depth 1'),
    ('role with a value', {'controller': 'x'}, 'controller: found a value at depth 1'),
    ('empty segment', {'controller': {'': {'f': {'s': {'k': 'v'}}}}}, 'controller/: empty segment'),
    ('slash in a segment', svc('v', 'a/b'), "segment 'a/b' contains \"/\""),
    ('slash in a file name', {'controller': {'glance': {'etc/glance-api.conf': {'s': {'k': 'v'}}}}},
     "controller/glance/etc/glance-api.conf: segment 'etc/glance-api.conf' contains"),
    ('non-string segment', {'controller': {'glance': {'glance-api.conf': {1: {'k': 'v'}}}}}, "key 1 is a int"),
    ('null leaf', svc(None, 'option'), 'the value is null'),
    ('nested list leaf', svc([['a']], 'option'), 'a list value may hold only'),
    ('dict in a list', svc([{'a': 1}], 'option'), 'a list value may hold only'),
    ('list of nulls', svc([None], 'option'), 'a list value may hold only'),
    ('empty mapping', {'controller': {'glance': {}}}, 'controller/glance: empty mapping'),
    ('newline in a value', svc('a\nb', 'option'), 'control character'),
    ('newline in a segment', svc('v', 'a\nb'), 'control character'),
    ('whitespace around a segment', svc('v', ' debug'), 'leading or trailing whitespace'),
    ('lower-case general key', {'general': {'region_name': 'x'}}, 'general keys are upper-case'),
    ('plaintext password', svc('hunter2hunter2', 'password', 'keystone_authtoken'),
     'controller/glance/glance-api.conf/keystone_authtoken/password: refusing to store a plaintext secret'),
    ('plaintext next to a reference', svc('x$GLANCE_DB_PASSWORD', 'password', 'database'), 'refusing to store a plaintext'),
    ('two references', svc('$A$B', 'memcache_secret_key', 'cache'), 'refusing to store a plaintext'),
    ('plaintext secret number', svc(123456, 'auth_encryption_key', 'DEFAULT', 'heat.conf', 'heat'), 'refusing'),
    ('plaintext secret list', svc(['a', 'b'], 'admin_token'), 'refusing'),
    ('string "True" is not a boolean', svc('True', 'admin_password'), 'refusing'),
    ('secret in general', {'general': {'MARIADB_ROOT_PASSWORD': '$MARIADB_ROOT_PASSWORD'}},
     'general/MARIADB_ROOT_PASSWORD: general keys hold no secrets'),
    ('tree not a mapping', ['x'], 'tree must be a mapping'),
]


@pytest.mark.parametrize('tree,message', [c[1:] for c in BAD_TREES], ids=[c[0] for c in BAD_TREES])
def test_bad_trees_are_refused_naming_the_path(tree, message):
    with pytest.raises(tree_lib.TreeError) as error:
        tree_lib.flatten(tree)
    assert message in str(error.value)


def test_every_error_is_reported_at_once():
    tree = {'general': {'x': 1, 'Y_PASSWORD': 'p'}, 'controller': {'': {}, 'a/b': {}}}
    with pytest.raises(tree_lib.TreeError) as error:
        tree_lib.flatten(tree)
    assert len(error.value.errors) == 4


def test_refused_plaintext_values_are_handed_back_for_scrubbing_but_not_in_the_message():
    with pytest.raises(tree_lib.TreeError) as error:
        tree_lib.flatten(svc('s3cr3t-value', 'password', 'database'))
    assert error.value.secret_values == ['s3cr3t-value']
    assert 's3cr3t-value' not in str(error.value)
    assert '$GLANCE_PASSWORD' in str(error.value)


def test_refused_list_items_are_handed_back_one_by_one():
    with pytest.raises(tree_lib.TreeError) as error:
        tree_lib.flatten(svc(['first-part', 'second-part'], 'admin_token'))
    assert sorted(error.value.secret_values) == ['first-part', 'first-part,second-part', 'second-part']


def test_secret_check_can_be_disabled_for_reading_back():
    assert tree_lib.flatten(svc('plain', 'password'), check_secrets=False) == {
        'controller/glance/glance-api.conf/DEFAULT/password': 'plain'}


@pytest.mark.parametrize('prefix,expected', [
    ('/openstack', '/openstack'), ('/openstack/', '/openstack'), ('/a/b', '/a/b'),
])
def test_prefix_normalised(prefix, expected):
    assert tree_lib.validate_prefix(prefix) == expected


@pytest.mark.parametrize('prefix', ['', '/', 'openstack', '/a//b', None])
def test_bad_prefix(prefix):
    with pytest.raises(tree_lib.TreeError):
        tree_lib.validate_prefix(prefix)


@pytest.mark.parametrize('value,expected', [
    ('$A', True), ('${A_B}', True), ('$a1', True), ('$1A', False), ('A', False), ('$A/x', False), ('${A', False),
    ('', False), (1, False),
])
def test_is_reference(value, expected):
    assert tree_lib.is_reference(value) is expected


PLAN_CASES = [
    # name, desired, current, prune, state, remove_all, (added, updated, removed)
    ('all new', {'a': '1', 'b': '2'}, {}, False, 'present', False, (['a', 'b'], [], [])),
    ('unchanged', {'a': '1'}, {'a': '1'}, False, 'present', False, ([], [], [])),
    ('updated', {'a': '2'}, {'a': '1'}, False, 'present', False, ([], ['a'], [])),
    ('stale kept without prune', {'a': '1'}, {'a': '1', 'b': '2'}, False, 'present', False, ([], [], [])),
    ('stale pruned', {'a': '1'}, {'a': '1', 'b': '2'}, True, 'present', False, ([], [], ['b'])),
    ('prune with empty tree', {}, {'a': '1'}, True, 'present', False, ([], [], ['a'])),
    ('absent only the listed keys', {'a': 'x', 'c': 'y'}, {'a': '1', 'b': '2'}, False, 'absent', False, ([], [], ['a'])),
    ('absent all', {}, {'a': '1', 'b': '2'}, False, 'absent', True, ([], [], ['a', 'b'])),
    ('absent nothing there', {}, {}, False, 'absent', True, ([], [], [])),
]


@pytest.mark.parametrize('desired,current,prune,state,remove_all,expected', [c[1:] for c in PLAN_CASES],
                         ids=[c[0] for c in PLAN_CASES])
def test_plan(desired, current, prune, state, remove_all, expected):
    plan = tree_lib.plan(desired, current, prune=prune, state=state, remove_all=remove_all)
    assert (plan.added, plan.updated, plan.removed) == expected
    assert plan.changed is any(expected)
    assert sorted(plan.puts) == sorted(expected[0] + expected[1])


def test_diff_masks_plaintext_secrets_but_shows_references():
    current = {'x/s/f/sec/password': 'old-plaintext', 'x/s/f/sec/debug': 'False'}
    desired = {'x/s/f/sec/password': '$S_PASSWORD', 'x/s/f/sec/debug': 'True', 'x/s/f/sec/token': '$T'}
    diff = tree_lib.plan(desired, current).diff()
    assert diff['before'] == {'x/s/f/sec/password': MASK, 'x/s/f/sec/debug': 'False'}
    assert diff['after'] == {'x/s/f/sec/password': '$S_PASSWORD', 'x/s/f/sec/debug': 'True', 'x/s/f/sec/token': '$T'}


@pytest.mark.parametrize('name,secret', [
    ('password', True), ('GLANCE_DB_PASSWORD', True), ('memcache_secret_key', True), ('auth_encryption_key', True),
    ('metadata_proxy_shared_secret', True), ('RABBITMQ_ERLANG_COOKIE', True), ('admin_token', True),
    ('application_credential_secret', True), ('fixed_key', True), ('a/b/c/d/secret', True),
    ('keystone_password', True), ('passwd', True),
    ('ssl_key_file', False), ('keyfile', False), ('token_ttl', False), ('password_length', False),
    ('key_repository', False), ('max_active_keys', False), ('service_token_roles_required', False),
    ('rbd_secret_uuid', False), ('transport_url', False), ('connection', False), ('auth_url', False),
    ('keystone_authtoken/www_authenticate_uri', False), ('send_service_user_token', False),
    ('SESSION_COOKIE_SECURE', False), ('CSRF_COOKIE_HTTPONLY', False), ('secret_name', False),
    # Barbican: which plugins hold the secrets is not a secret (an override switching to Vault must show).
    ('enabled_secretstore_plugins', False), ('enabled_crypto_plugins', False), ('secret_store_plugin', False),
    ('kek', True), ('vault_approle_secret_id', True),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize('endpoints,expected', [
    (['http://127.0.0.1:2379'], [('http', '127.0.0.1:2379')]),
    (['https://etcd.openstack.svc'], [('https', 'etcd.openstack.svc:2379')]),
    (['https://[::1]:2379/'], [('https', '[::1]:2379')]),
    (['https://a:1', 'https://b:2'], [('https', 'a:1'), ('https', 'b:2')]),
])
def test_parse_endpoints(endpoints, expected):
    assert parse_endpoints(endpoints) == expected


@pytest.mark.parametrize('endpoints,message', [
    ([], 'endpoints is empty'),
    (['127.0.0.1:2379'], 'is not an http:// or https:// URL'),
    (['ftp://x:1'], 'is not an http'),
    (['http://a:1', 'https://b:2'], 'mix http and https'),
    (['http://a:1/v3'], 'has a path'),
    (['http://a:99999'], 'invalid port'),
])
def test_bad_endpoints(endpoints, message):
    with pytest.raises(EtcdError) as error:
        parse_endpoints(endpoints)
    assert message in error.value.message


@pytest.mark.parametrize('prefix,end', [(b'/openstack/', b'/openstack0'), (b'a\xff', b'b'), (b'\xff', b'\x00')])
def test_range_end(prefix, end):
    assert range_end(prefix) == end
