"""Bad region inputs through site.yml: each fails before any write, naming the field and the fix.

The Kubernetes sandbox's request log must hold no write and etcd no key: the region name and
the Keystone mode are checked by validate_inputs before the credentials, the node labels or
the configuration tree are written.
"""
import pytest

pytestmark = pytest.mark.slow

SERVICES = ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance']
HOSTS = {'openstack_control_plane': {'ctl-1': {}}, 'openstack_compute': {'cmp-1': {}}}
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')
SHARED = {'openstack_keystone_mode': 'shared',
          'openstack_shared_keystone_public_url': 'https://keystone-api.region-one.example.net:5000'}

CASES = [
    # (id, group vars, fragments the failure message must contain)
    ('region-name-space', {'openstack_region_name': 'Region One'},
     ['openstack_region_name must be a Keystone region id of 1 to 255 characters', "got 'Region One'"]),
    ('region-name-too-long', {'openstack_region_name': 'R' * 256},
     ['openstack_region_name must be a Keystone region id of 1 to 255 characters']),
    ('keystone-mode-unknown', {'openstack_keystone_mode': 'remote'},
     ['openstack_keystone_mode must be local', "got 'remote'"]),
    ('shared-without-url', {'openstack_keystone_mode': 'shared'},
     ['openstack_keystone_mode is shared but openstack_shared_keystone_public_url is empty']),
    ('local-with-shared-url', {'openstack_shared_keystone_internal_url': 'https://keystone.example.net:5000'},
     ['openstack_shared_keystone_internal_url is set but openstack_keystone_mode is local',
      'set openstack_keystone_mode: shared']),
    ('shared-unpinned-service-user', dict(SHARED, openstack_pinned_credentials={'KEYSTONE_ADMIN_PASSWORD': 'hunter2'}),
     ["openstack_pinned_credentials (vaulted) must hold the shared Keystone's values of GLANCE_KEYSTONE_PASSWORD:"]),
]


@pytest.mark.parametrize('group_vars,fragments', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_region_input_fails_before_any_write(sandbox, etcd_clean_plain, run_playbook, make_inventory,
                                                 group_vars, fragments):
    for hosts in HOSTS.values():
        for name in hosts:
            sandbox.control.add_node(name)
    variables = {'openstack_namespace': 'openstack', 'openstack_enabled_services': SERVICES,
                 'openstack_etcd_endpoints': etcd_clean_plain.endpoints, 'openstack_etcd_prefix': '/openstack',
                 'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig}, 'infrastructure_galera_hook': False}
    variables.update(group_vars)
    sandbox.control.clear_request_log()
    result = run_playbook('playbooks/site.yml', make_inventory(hosts=HOSTS, group_vars=variables),
                          skip_tags=['host_prep'])
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    missing = [f for f in fragments if f not in output]
    assert not missing, (missing, result.explain())
    writes = [e for e in sandbox.control.request_log() if e['apply'] or e['verb'] in WRITE_VERBS]
    assert writes == []
    assert etcd_clean_plain.dump('/openstack') == {}
    assert 'hunter2' not in result.output
