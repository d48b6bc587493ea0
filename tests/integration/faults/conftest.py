"""Fixtures of the fault-tolerance tests: site.yml against the Kubernetes sandbox and a real etcd.

The inventory lives in the test's temporary directory; the controller is localhost and the
hosts of the node roles are names of sandbox Nodes (host preparation, which needs real
hosts, is skipped by its tag). Every claim about writes is read from the sandbox's own
request log and from etcd, never from the playbook's word.
"""
import base64

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient

CORE = ['mariadb', 'rabbitmq', 'memcached', 'keystone']
HOSTS = {'openstack_control_plane': {'ctl-1': {}, 'ctl-2': {}, 'ctl-3': {}},
         'openstack_compute': {'cmp-1': {}}, 'openstack_network': {'net-1': {}}}
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')


def is_write(entry):
    return bool(entry['apply'] or entry['verb'] in WRITE_VERBS)


class Site(object):
    """One deployment: the sandbox with the inventory's Nodes, an etcd, and site.yml runs."""

    def __init__(self, sandbox, etcd, run_playbook, make_inventory):
        self.sandbox = sandbox
        self.etcd = etcd
        self.run_playbook = run_playbook
        self.make_inventory = make_inventory
        for hosts in HOSTS.values():
            for name in hosts:
                sandbox.control.add_node(name)
        self.group_vars = {
            'openstack_namespace': 'openstack',
            'openstack_enabled_services': list(CORE),
            'openstack_etcd_endpoints': etcd.endpoints,
            'openstack_etcd_prefix': '/openstack',
            'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
            'openstack_service_wait_timeout': 120,
            'galera_replicas': 3,
            # galera_bootstrap reads each member with a pod exec, which the sandbox cannot run;
            # the Galera role has its own tests against real mariadbd.
            'infrastructure_galera_hook': False,
        }

    def run(self, playbook='playbooks/site.yml', extra_vars=None, tags=None, check=False, skip=('host_prep',),
            clear_log=True, **group_vars):
        # One inventory directory: the report writes clouds.yaml next to it, as for an operator.
        inventory = self.make_inventory(hosts=HOSTS, group_vars=dict(self.group_vars, **group_vars))
        if clear_log:
            self.sandbox.control.clear_request_log()
        result = self.run_playbook(playbook, inventory, extra_vars=extra_vars, tags=tags, check=check,
                                   skip_tags=list(skip))
        result.log = self.sandbox.control.request_log()
        result.server_counts = self.sandbox.control.counts_by_verb()
        # Writes the server carried out (an injected fault answers before anything is stored).
        result.writes = [e for e in result.log if is_write(e) and not e['dry_run'] and not e.get('fault')]
        return result

    def client(self):
        return K8sClient({'kubeconfig': self.sandbox.kubeconfig})

    def live(self, api_version, kind, name, namespace='openstack'):
        return self.client().get(api_version, kind, name, namespace)

    def credentials(self):
        secret = self.live('v1', 'Secret', 'openstack-credentials')
        return dict((k, base64.b64decode(v).decode()) for k, v in secret['data'].items())


@pytest.fixture(name='site')
def site_fixture(sandbox, etcd_clean_plain, run_playbook, make_inventory):
    return Site(sandbox, etcd_clean_plain, run_playbook, make_inventory)
