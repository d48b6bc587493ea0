"""etcd_config_tree and etcd_config_tree_info against real etcd (plain, and TLS + client cert + auth).

The module code runs in-process here (runner + adapter, exactly what the module calls);
test_etcd_playbooks.py drives the same modules through ansible-playbook. Every expectation
is read back with a separate raw client or from etcd's own request counters.
"""

import grpc
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import EtcdClient, EtcdConflictError, EtcdError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import (
    client_from_params, run_config_tree, run_config_tree_info)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import TreeError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK

pytestmark = pytest.mark.slow

PREFIX = '/openstack/test'   # inside the limited user's grant (/openstack) on the TLS fixture
GLANCE_CONNECTION = 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'


def params(server, tree=None, **extra):
    result = dict(server.connection(), prefix=PREFIX, tree=tree, prune=False, state='present', timeout=10,
                  max_txn_ops=128)
    result.update(extra)
    return result


def written(server):
    """Keys under PREFIX as read by a separate client, relative to the prefix."""
    return dict((k[len(PREFIX) + 1:], v) for k, v in server.dump(PREFIX + '/').items())


def writes_since(server, before):
    after = server.write_requests()
    return dict((k, after[k] - before[k]) for k in after if after[k] != before[k])


SEED_CASES = [
    ('general only', {'general': {'REGION_NAME': 'RegionOne', 'DB_PORT': 3306}},
     {'general/REGION_NAME': 'RegionOne', 'general/DB_PORT': '3306'}),
    ('glance connection', {'controller': {'glance': {'glance-api.conf': {'database': {'connection': GLANCE_CONNECTION}}}}},
     {'controller/glance/glance-api.conf/database/connection': GLANCE_CONNECTION}),
    ('oslo types', {'compute': {'nova': {'nova.conf': {'DEFAULT': {
        'debug': True, 'use_syslog': False, 'cpu_allocation_ratio': 4.0, 'reserved_host_memory_mb': 512,
        'enabled_filters': ['ComputeFilter', 'ImagePropertiesFilter'], 'host': ''}}}}},
     {'compute/nova/nova.conf/DEFAULT/debug': 'True', 'compute/nova/nova.conf/DEFAULT/use_syslog': 'False',
      'compute/nova/nova.conf/DEFAULT/cpu_allocation_ratio': '4.0',
      'compute/nova/nova.conf/DEFAULT/reserved_host_memory_mb': '512',
      'compute/nova/nova.conf/DEFAULT/enabled_filters': 'ComputeFilter,ImagePropertiesFilter',
      'compute/nova/nova.conf/DEFAULT/host': ''}),
    ('secret references and unicode', {'general': {'NAMESPACE': 'openstack'}, 'controller': {'keystone': {'keystone.conf': {
        'cache': {'memcache_secret_key': '${MEMCACHE_SECRET_KEY}'},
        'DEFAULT': {'description': 'r\u00e9gion \u2603'}}}}},
     {'general/NAMESPACE': 'openstack', 'controller/keystone/keystone.conf/cache/memcache_secret_key': '${MEMCACHE_SECRET_KEY}',
      'controller/keystone/keystone.conf/DEFAULT/description': 'r\u00e9gion \u2603'}),
    ('many sections',
     dict(('role%d' % r, dict(('svc%d' % s, {'s.conf': dict(('sec%d' % c, {'k': c}) for c in range(5))}) for s in range(3)))
          for r in range(2)),
     dict(('role%d/svc%d/s.conf/sec%d/k' % (r, s, c), str(c)) for r in range(2) for s in range(3) for c in range(5))),
]


@pytest.mark.parametrize('tree,expected', [c[1:] for c in SEED_CASES], ids=[c[0] for c in SEED_CASES])
def test_seed_then_reseed_changes_nothing(etcd_clean, tree, expected):
    result = run_config_tree(params(etcd_clean, tree))
    assert result['changed'] is True
    assert sorted(result['added']) == sorted(expected)
    assert written(etcd_clean) == expected
    assert result['writes'] == len(expected)

    before = etcd_clean.write_requests()
    again = run_config_tree(params(etcd_clean, tree))
    assert (again['changed'], again['added'], again['updated'], again['removed']) == (False, [], [], [])
    assert again['writes'] == 0 and 'Txn' not in again['requests']
    assert writes_since(etcd_clean, before) == {}            # the server saw no Put, Txn or DeleteRange
    assert again['revision'] == result['revision']

    info = run_config_tree_info(dict(etcd_clean.connection(), prefix=PREFIX, path=''))
    assert info['tree'] == tree_of(expected)
    assert info['count'] == len(expected)


def tree_of(flat):
    tree = {}
    for key, value in flat.items():
        node = tree
        parts = key.split('/')
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def test_update_changes_only_the_changed_key(etcd_clean):
    tree = {'general': {'A': 1, 'B': 2}}
    run_config_tree(params(etcd_clean, tree))
    with etcd_clean.client() as raw:
        _value, meta_b = raw.get(PREFIX + '/general/B')
    before = etcd_clean.write_requests()
    result = run_config_tree(params(etcd_clean, {'general': {'A': 1, 'B': 3}}))
    assert (result['added'], result['updated'], result['removed']) == ([], ['general/B'], [])
    assert writes_since(etcd_clean, before) == {'Txn': 1, 'mvcc_put': 1}
    with etcd_clean.client() as raw:
        value_a, meta_a = raw.get(PREFIX + '/general/A')
        value_b, meta_b2 = raw.get(PREFIX + '/general/B')
    assert (value_a, value_b) == (b'1', b'3')
    assert meta_a.mod_revision < meta_b2.mod_revision and meta_b2.mod_revision > meta_b.mod_revision


def test_prune_deletes_exactly_the_stale_managed_keys(etcd_clean):
    outside = {'/openstack/testing/general/X': 'shares the textual prefix', '/openstack/other/general/Y': 'y',
               '/openstack/test': 'the prefix key itself is not under prefix/'}
    with etcd_clean.client() as raw:
        for key, value in outside.items():
            raw.put(key, value)
    run_config_tree(params(etcd_clean, {'general': {'KEEP': 'k', 'STALE': 's'},
                                        'controller': {'glance': {'g.conf': {'DEFAULT': {'old': 1, 'kept': 2}}}}}))
    with etcd_clean.client() as raw:
        raw.put(PREFIX + '/handwritten', 'not in any tree')
    result = run_config_tree(params(etcd_clean, {'general': {'KEEP': 'k'},
                                                 'controller': {'glance': {'g.conf': {'DEFAULT': {'kept': 2}}}}}, prune=True))
    assert result['removed'] == ['controller/glance/g.conf/DEFAULT/old', 'general/STALE', 'handwritten']
    assert written(etcd_clean) == {'general/KEEP': 'k', 'controller/glance/g.conf/DEFAULT/kept': '2'}
    everything = etcd_clean.dump()
    for key, value in outside.items():
        assert everything[key] == value


def test_without_prune_stale_keys_stay(etcd_clean):
    run_config_tree(params(etcd_clean, {'general': {'A': 'a', 'B': 'b'}}))
    result = run_config_tree(params(etcd_clean, {'general': {'A': 'a'}}))
    assert result['changed'] is False
    assert written(etcd_clean) == {'general/A': 'a', 'general/B': 'b'}


def test_check_mode_plans_the_same_and_writes_nothing(etcd_clean):
    run_config_tree(params(etcd_clean, {'general': {'A': 'a', 'B': 'b'}}))
    snapshot = etcd_clean.dump()
    before = etcd_clean.write_requests()
    desired = params(etcd_clean, {'general': {'A': 'changed', 'C': 'c'}}, prune=True)
    predicted = run_config_tree(desired, check_mode=True, want_diff=True)
    assert writes_since(etcd_clean, before) == {}
    assert etcd_clean.dump() == snapshot
    assert predicted['writes'] == 0
    real = run_config_tree(desired)
    for field in ('changed', 'added', 'updated', 'removed'):
        assert predicted[field] == real[field]
    assert (real['added'], real['updated'], real['removed']) == (['general/C'], ['general/A'], ['general/B'])


def test_diff_masks_secrets_and_shows_only_changed_keys(etcd_clean):
    with etcd_clean.client() as raw:
        raw.put(PREFIX + '/controller/heat/heat.conf/DEFAULT/auth_encryption_key', 'plaintext-left-by-hand')
    run_config_tree(params(etcd_clean, {'general': {'A': 'a'}}))
    tree = {'general': {'A': 'a'}, 'controller': {'heat': {'heat.conf': {'DEFAULT': {
        'auth_encryption_key': '$HEAT_AUTH_ENCRYPTION_KEY', 'debug': True}}}}}
    result = run_config_tree(params(etcd_clean, tree), check_mode=True, want_diff=True)
    diff = result['diff']
    assert 'plaintext-left-by-hand' not in diff['before'] + diff['after']
    assert diff['before'] == 'controller/heat/heat.conf/DEFAULT/auth_encryption_key = %s\n' % MASK
    assert diff['after'] == ('controller/heat/heat.conf/DEFAULT/auth_encryption_key = $HEAT_AUTH_ENCRYPTION_KEY\n'
                             'controller/heat/heat.conf/DEFAULT/debug = True\n')


def test_state_absent_removes_the_managed_tree_only(etcd_clean):
    with etcd_clean.client() as raw:
        raw.put('/openstack/testing/keep', 'k')
    run_config_tree(params(etcd_clean, {'general': {'A': 'a', 'B': 'b'}}))
    partial = run_config_tree(params(etcd_clean, {'general': {'A': 'ignored value', 'Z': 'absent already'}}, state='absent'))
    assert partial['removed'] == ['general/A']
    assert written(etcd_clean) == {'general/B': 'b'}
    result = run_config_tree(params(etcd_clean, None, state='absent'))
    assert result['removed'] == ['general/B']
    assert written(etcd_clean) == {}
    assert etcd_clean.dump() == {'/openstack/testing/keep': 'k'}
    assert run_config_tree(params(etcd_clean, None, state='absent'))['changed'] is False


BAD_TREES = [
    ('wrong depth', {'controller': {'glance': {'glance-api.conf': {'DEFAULT': 'x'}}}}, 'found a value at depth 4'),
    ('too deep', {'general': {'A': {'B': 'c'}}}, 'general/A: found a mapping'),
    ('empty segment', {'controller': {'glance': {'': {'s': {'k': 1}}}}}, 'controller/glance/: empty segment'),
    ('slash in a segment', {'controller': {'glance': {'g.conf': {'s': {'a/b': 1}}}}}, 'contains "/"'),
    ('non-scalar leaf', {'controller': {'glance': {'g.conf': {'s': {'k': [{'x': 1}]}}}}}, 'a list value may hold only'),
    ('null leaf', {'general': {'A': None}}, 'the value is null'),
    ('plaintext secret', {'controller': {'glance': {'g.conf': {'database': {'password': 'hunter22'}}}}},
     'refusing to store a plaintext secret'),
    ('secret in general', {'general': {'DB_PASSWORD': '$DB_PASSWORD'}}, 'general keys hold no secrets'),
]


@pytest.mark.parametrize('tree,message', [c[1:] for c in BAD_TREES], ids=[c[0] for c in BAD_TREES])
def test_bad_trees_fail_before_any_request(etcd_clean, tree, message):
    # A good key alongside the bad one must not be written either.
    tree = dict(tree)
    tree.setdefault('general', {}).setdefault('GOOD', 'value') if isinstance(tree.get('general', {}), dict) else None
    opened = []

    def factory(p):
        opened.append(p)
        return client_from_params(p)

    before = etcd_clean.write_requests()
    with pytest.raises(TreeError) as error:
        run_config_tree(params(etcd_clean, tree), client_factory=factory)
    assert message in str(error.value)
    assert opened == []
    assert writes_since(etcd_clean, before) == {}
    assert etcd_clean.dump() == {}


class InterferingClient(EtcdClient):
    """After the plan's read, another writer changes ``key`` (through a separate client)."""

    def __init__(self, server, key, value, **kwargs):
        super(InterferingClient, self).__init__(**kwargs)
        self._server, self._key, self._value = server, key, value

    def read_prefix(self, prefix):
        found = super(InterferingClient, self).read_prefix(prefix)
        if self._key is not None:
            with self._server.client() as other:
                other.put(self._key, self._value)
            self._key = None
        return found


def interfering(server, key, value):
    def factory(p):
        return InterferingClient(server, key, value, endpoints=p['endpoints'], ca_cert=p['ca_cert'],
                                 client_cert=p['client_cert'], client_key=p['client_key'], username=p['username'],
                                 password=p['password'], timeout=p['timeout'], max_txn_ops=p['max_txn_ops'])
    return factory


@pytest.mark.parametrize('other_key,max_txn_ops', [
    ('general/A', 128),             # a key the plan updates
    ('general/NEW_BY_OTHER', 128),  # a key the plan does not know: the prefix guard catches it
    ('general/Z', 128),             # a key the plan would create
    ('general/Z', 3),               # ... in a later transaction
])
def test_concurrent_writer_makes_the_run_fail_without_losing_its_update(etcd_clean, other_key, max_txn_ops):
    run_config_tree(params(etcd_clean, {'general': {'A': 'a'}}))
    desired = {'general': dict([('A', 'mine')] + [('K%d' % i, i) for i in range(4)] + [('Z', 'mine')])}
    factory = interfering(etcd_clean, PREFIX + '/' + other_key, 'theirs')
    with pytest.raises(EtcdConflictError) as error:
        run_config_tree(params(etcd_clean, desired, max_txn_ops=max_txn_ops), client_factory=factory)
    assert other_key in error.value.message and 'Re-run' in error.value.message
    assert written(etcd_clean)[other_key] == 'theirs'
    if max_txn_ops == 128:
        assert written(etcd_clean) == {'general/A': 'a' if other_key != 'general/A' else 'theirs', other_key: 'theirs'}
    # The next run reconciles (and overwrites deliberately, having seen the other change).
    assert run_config_tree(params(etcd_clean, desired))['changed'] is True
    assert written(etcd_clean)['general/Z'] == 'mine'


def test_large_plan_is_split_into_guarded_transactions(etcd_clean):
    tree = {'general': dict(('K%03d' % i, i) for i in range(300))}
    before = etcd_clean.write_requests()
    result = run_config_tree(params(etcd_clean, tree, max_txn_ops=50))
    assert result['requests']['Txn'] == 7        # 49 writes + 1 prefix guard per transaction
    assert writes_since(etcd_clean, before) == {'Txn': 7, 'mvcc_put': 300}
    assert len(written(etcd_clean)) == 300


def test_info_reads_a_subtree_and_masks_plaintext_secrets(etcd_clean):
    run_config_tree(params(etcd_clean, {'controller': {'glance': {'g.conf': {'database': {'connection': GLANCE_CONNECTION}}},
                                                       'nova': {'nova.conf': {'DEFAULT': {'debug': False}}}}}))
    with etcd_clean.client() as raw:
        raw.put(PREFIX + '/controller/glance/g.conf/database/password', 'left-by-hand')
    info = run_config_tree_info(dict(etcd_clean.connection(), prefix=PREFIX, path='controller/glance'))
    assert info['tree'] == {'g.conf': {'database': {'connection': GLANCE_CONNECTION, 'password': MASK}}}
    assert info['masked'] == ['g.conf/database/password']
    with pytest.raises(TreeError):
        run_config_tree_info(dict(etcd_clean.connection(), prefix=PREFIX, path='controller//glance'))


def test_failover_to_the_next_endpoint_for_reads(etcd_clean):
    from harness.etcd import free_port
    dead = '%s://127.0.0.1:%d' % (etcd_clean.scheme, free_port())
    p = params(etcd_clean, {'general': {'A': 'a'}}, endpoints=[dead] + etcd_clean.endpoints, timeout=3)
    result = run_config_tree(p)
    assert result['changed'] and written(etcd_clean) == {'general/A': 'a'}


# -- connection failures: clear messages, nothing written, no secret in the message --------

def test_unreachable_endpoint(etcd):
    from harness.etcd import free_port
    port = free_port()
    with pytest.raises(EtcdError) as error:
        run_config_tree(params(etcd, {'general': {'A': 1}}, endpoints=['http://127.0.0.1:%d' % port], timeout=3))
    assert 'etcd at http://127.0.0.1:%d is unreachable' % port in error.value.message
    assert error.value.code == 'unreachable'


@pytest.mark.parametrize('change,code,message', [
    (dict(password='wrong-password-1234'), 'auth', 'refused the credentials of user openstack-config'),
    (dict(username='nobody', password='wrong-password-1234'), 'auth', 'refused the credentials of user nobody'),
    (dict(username=None, password=None), 'auth', 'requires authentication'),
    (dict(client_cert=None, client_key=None), 'unreachable', 'is unreachable'),
    (dict(ca_cert=None), 'unreachable', 'is unreachable'),
])
def test_wrong_credentials_fail_clearly(etcd_clean_tls, change, code, message):
    before = etcd_clean_tls.write_requests()
    with pytest.raises(EtcdError) as error:
        run_config_tree(params(etcd_clean_tls, {'general': {'A': 1}}, timeout=5, **change))
    assert error.value.code == code
    assert message in error.value.message
    assert etcd_clean_tls.password not in error.value.message and 'wrong-password' not in error.value.message
    assert writes_since(etcd_clean_tls, before) == {}


def test_limited_user_outside_its_grant_is_denied(etcd_clean_tls):
    with pytest.raises(EtcdError) as error:
        run_config_tree(params(etcd_clean_tls, {'general': {'A': 1}}, prefix='/elsewhere'))
    assert error.value.code == 'permission'
    assert 'denied Range to user openstack-config' in error.value.message


def test_raw_client_confirms_tls_auth_is_enforced(etcd_tls):
    # The fixture really requires auth: an anonymous raw client is refused.
    import pyetcd
    with pyetcd.client(host='127.0.0.1', port=etcd_tls.client_port, ca_cert=etcd_tls.ca_cert,
                       cert_cert=etcd_tls.client_cert, cert_key=etcd_tls.client_key, timeout=5) as anonymous:
        with pytest.raises(grpc.RpcError):
            anonymous.get(PREFIX + '/general/A')


@pytest.mark.parametrize('change,message', [
    (dict(client_cert=None), 'client_cert and client_key go together'),
    (dict(password=None), 'username and password go together'),
    (dict(ca_cert='/nonexistent/ca.crt'), 'cannot read ca_cert /nonexistent/ca.crt'),
])
def test_bad_connection_options(etcd_tls, change, message):
    with pytest.raises(EtcdError) as error:
        run_config_tree(params(etcd_tls, {'general': {'A': 1}}, **change))
    assert message in error.value.message


def test_tls_options_with_http_endpoints_are_refused(etcd, etcd_tls):
    with pytest.raises(EtcdError) as error:
        run_config_tree(params(etcd, {'general': {'A': 1}}, ca_cert=etcd_tls.ca_cert))
    assert 'use https:// endpoints for TLS' in error.value.message


def test_non_utf8_keys_and_values_under_the_prefix_are_pruned_cleanly(etcd_clean):
    with etcd_clean.client() as raw:
        raw.put(PREFIX.encode() + b'/general/\xff\xfe', b'\xff binary')
        raw.put(PREFIX + '/general/TEXT', b'\xc3')
    result = run_config_tree(params(etcd_clean, {'general': {'TEXT': 'now valid'}}, prune=True))
    assert result['updated'] == ['general/TEXT'] and len(result['removed']) == 1
    assert written(etcd_clean) == {'general/TEXT': 'now valid'}
