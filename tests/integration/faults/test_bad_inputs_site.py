"""Bad inputs through the full site.yml: each case fails before any write, naming the field and the fix.

Every case is its own ansible-playbook run, proven on its own: the sandbox's request log
holds no write (no create, update, patch, apply or delete) and etcd holds no key under
the prefix (for the TLS etcd: its own write counters did not move). Cases already covered
in tests/integration/rollout (even galera_replicas=4, rabbitmq=4, unknown service
'keystone2', a missing dependency, a bad strategy, replicas of an unknown component, a
dependency cycle, unreachable etcd/API) are not repeated here.
"""
import pytest

pytestmark = pytest.mark.slow

KEYSTONE = 'keystone'

CASES = [
    # (id, group vars replacing the good ones, fragments the failure message must contain)
    ('galera-replicas-2', {'galera_replicas': 2}, ['galera replicas must be odd (2n+1)', 'got 2', 'set 1 or 3']),
    ('replicas-negative', {'openstack_replicas': {'keystone': {'api': -1}}},
     ['keystone api replicas must be a whole number of at least 1, got -1']),
    ('replicas-not-integer', {'openstack_replicas': {'keystone': {'api': 'three'}}},
     ['keystone api replicas must be a whole number of at least 1', 'three']),
    ('replicas-fraction', {'openstack_replicas': {'memcached': {'server': 1.5}}},
     ['memcached server replicas must be a whole number of at least 1, got 1.5']),
    ('replicas-unknown-service', {'openstack_replicas': {'nova2': {'api': 1}}},
     ['openstack_replicas names unknown services nova2; known:']),
    ('release-unsupported', {'openstack_release': '2099.1'},
     ['openstack_release 2099.1 is not a supported release; set one of 2025.1, 2025.2, 2026.1, 2026.2']),
    ('release-codename', {'openstack_release': 'Hibiscus'}, ['openstack_release Hibiscus is not a supported release']),
    ('namespace-uppercase', {'openstack_namespace': 'OpenStack'},
     ['openstack_namespace must be an RFC 1123 label', 'e.g. openstack; got OpenStack']),
    ('namespace-underscore', {'openstack_namespace': 'open_stack'}, ['openstack_namespace must be an RFC 1123 label']),
    ('namespace-too-long', {'openstack_namespace': 'o' * 64}, ['openstack_namespace must be an RFC 1123 label (at most 63']),
    ('kubeconfig-missing', {'openstack_k8s_connection': {'kubeconfig': '/nonexistent/kubeconfig'}},
     ['/nonexistent/kubeconfig does not exist', 'set kubeconfig']),
    ('etcd-endpoints-string', {'openstack_etcd_endpoints': 'http://127.0.0.1:2379'},
     ['openstack_etcd_endpoints must list the etcd client URLs']),
    ('etcd-prefix-relative', {'openstack_etcd_prefix': 'openstack'},
     ["openstack_etcd_prefix must be an absolute etcd key prefix starting with '/'", 'got openstack']),
    ('overrides-unknown-service', {'openstack_config_overrides': {'controller': {'keystone2': {'keystone.conf': {}}}}},
     ['openstack_config_overrides', 'keystone2']),
    ('overrides-not-mapping', {'openstack_config_overrides': ['debug=true']},
     ['openstack_config_overrides must be a mapping shaped like the tree']),
    ('overrides-section-not-mapping',
     {'openstack_config_overrides': {'controller': {'keystone': {'keystone.conf': {'DEFAULT': 'debug=true'}}}}},
     ['keystone.conf', 'DEFAULT']),
    ('overrides-plaintext-secret',
     {'openstack_config_overrides': {'controller': {'keystone': {'keystone.conf': {'database': {
         'connection': 'mysql+pymysql://keystone:hunter2@db/keystone'}}}}}},
     ['keystone.conf', 'database', 'connection']),
    ('overrides-unknown-node-role',
     {'openstack_config_overrides': {'storage2': {'keystone': {'keystone.conf': {'DEFAULT': {'debug': True}}}}}},
     ['openstack_config_overrides: storage2/keystone: keystone has no configuration on node role storage2',
      'move the override under one of those']),
    ('overrides-unknown-file',
     {'openstack_config_overrides': {'controller': {'keystone': {'keystone2.conf': {'DEFAULT': {'debug': True}}}}}},
     ['keystone writes no file keystone2.conf on controller (files: keystone.conf)']),
    ('overrides-undefined-reference',
     {'openstack_config_overrides': {'controller': {'keystone': {'keystone.conf': {'DEFAULT': {'debug': '$NOPE'}}}}}},
     ['$NOPE is neither a general key nor a credential', 'define it under openstack_config_overrides.general']),
    ('overrides-general-lowercase', {'openstack_config_overrides': {'general': {'region': 'x'}}},
     ['openstack_config_overrides: general/region: general keys are upper-case names']),
    ('overrides-managed-namespace', {'openstack_config_overrides': {'general': {'NAMESPACE': 'other'}}},
     ['openstack_config_overrides.general.NAMESPACE is managed by the deployment', 'set openstack_namespace instead']),
    ('overrides-credential-name', {'openstack_config_overrides': {'general': {'KEYSTONE_ADMIN_PASSWORD': 'hunter2'}}},
     ['openstack_config_overrides.general.KEYSTONE_ADMIN_PASSWORD collides with the credential',
      'openstack_pinned_credentials']),
    ('node-cidr-prefix-too-long', {'openstack_node_cidrs': ['10.0.0.0/24', '10.1.0.0/33']},
     ['openstack_node_cidrs[1] is not a valid CIDR', 'write it as 10.0.0.0/24 or fd00::/64']),
    ('node-cidr-host-bits', {'openstack_node_cidrs': ['10.0.0.7/24']},
     ['openstack_node_cidrs[0] 10.0.0.7/24 has host bits set: write the network, 10.0.0.0/24']),
    ('node-cidr-no-prefix', {'openstack_node_cidrs': ['nodes.example']},
     ["openstack_node_cidrs[0] must be a network in CIDR notation such as 10.0.0.0/24 or fd00::/64, got 'nodes.example'"]),
    ('node-cidrs-not-a-list', {'openstack_node_cidrs': '10.0.0.0/24'},
     ['openstack_node_cidrs must be a list of CIDRs (e.g. [10.0.0.0/24, fd00::/64]), got a string']),
]


@pytest.mark.parametrize('group_vars,fragments', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_write(site, group_vars, fragments):
    result = site.run(**group_vars)
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    missing = [f for f in fragments if f not in output]
    assert not missing, (missing, failures(result))
    assert result.writes == [], written(result)
    assert site.etcd.dump('/openstack') == {}
    assert 'hunter2' not in result.output


def failures(result):
    """The failed tasks' lines of the output (the full output is too long for an assertion message)."""
    lines = result.stdout.splitlines()
    return '\n'.join(line[:1500] for i, line in enumerate(lines) if 'fatal:' in line or 'FAILED!' in line) or result.explain()


def written(result):
    return sorted(set('%s %s/%s' % ('apply' if e['apply'] else e['verb'], e['resource'], e['name']) for e in result.writes))


TLS_CASES = [
    # (id, etcd connection options replacing the right ones, fragments of the message)
    ('etcd-wrong-password', {'password': 'not-the-password'}, ['etcd at https://', 'cannot be read', 'authentication failed']),
    ('etcd-no-client-certificate', {'client_cert': None, 'client_key': None}, ['etcd at https://', 'cannot be read']),
    ('etcd-plain-http-to-tls', 'http', ['etcd at http://', 'cannot be read']),
]


@pytest.mark.parametrize('change,fragments', [c[1:] for c in TLS_CASES], ids=[c[0] for c in TLS_CASES])
def test_wrong_etcd_credentials_fail_before_any_write(site, etcd_clean_tls, change, fragments):
    """The TLS + auth etcd: wrong credentials are refused by etcd itself, before the run writes anything."""
    options = etcd_clean_tls.connection(timeout=5)
    endpoints = options.pop('endpoints')
    if change == 'http':
        endpoints = [e.replace('https://', 'http://') for e in endpoints]
    else:
        options.update(change)
    options = dict((k, v) for k, v in options.items() if v is not None)
    before = etcd_clean_tls.write_requests()
    result = site.run(openstack_etcd_endpoints=endpoints, openstack_etcd_connection=options)
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    missing = [f for f in fragments if f not in output]
    assert not missing, (missing, failures(result))
    assert result.writes == [], written(result)
    assert etcd_clean_tls.write_requests() == before
    assert etcd_clean_tls.dump('/openstack') == {}
    assert etcd_clean_tls.password not in result.output and 'not-the-password' not in result.output
