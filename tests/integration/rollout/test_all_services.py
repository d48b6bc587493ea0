"""playbooks/site.yml with EVERY catalog service enabled, against the Kubernetes sandbox and a real etcd.

The service list is the catalog itself (``roles/catalog/files/services``), so a service
added there is rolled out here without touching the test. The inventory has a host for
every node role of ``roles/catalog/files/node_roles.yml`` (three controllers), so every
DaemonSet of every role gets a pod to wait for. One deployment, three playbook runs:

1. everything enabled converges;
2. a re-run reports changed=0 and sends no write request to the API server;
3. the services added after the first release of the catalog (everything but
   ``FIRST_RELEASE``) are disabled together: each one's objects are gone from the
   sandbox (but its volume claims: data stays), and every other service's are untouched.
"""
import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.prune import find_owned

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[3]
NODE_ROLES = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
CATALOG = cat.load_directory(str(REPO / 'roles/catalog/files/services'), NODE_ROLES)
# The services of the catalog before "More services and regions"; the others are disabled in turn.
FIRST_RELEASE = ['etcd', 'mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance', 'placement', 'nova', 'neutron',
                 'nova-compute', 'cinder', 'heat', 'horizon']
NEW = sorted(set(CATALOG) - set(FIRST_RELEASE))
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')


def _hosts():
    """Three controllers and one host for every other node role, named after it."""
    hosts = {}
    for role, spec in sorted(NODE_ROLES.items()):
        names = ['ctl-1', 'ctl-2', 'ctl-3'] if role == 'controller' else ['%s-1' % role]
        hosts[spec['group']] = dict((name, {}) for name in names)
    return hosts


HOSTS = _hosts()


def _owned(client, services):
    """``{service: sorted 'Kind/name'}`` of the live objects labelled as each service's."""
    return dict((name, sorted('%s/%s' % (o['kind'], o['metadata']['name'])
                              for o in find_owned(client, 'openstack', name))) for name in services)


def test_every_catalog_service_converges_is_idempotent_and_new_ones_are_removed(
        sandbox, etcd_clean_plain, run_playbook, make_inventory):
    # Every catalog service the first release did not have is disabled in turn below: if
    # there were none, this test would only repeat test_site_playbook.py.
    assert NEW, 'no service beyond the first release in the catalog'
    assert set(FIRST_RELEASE) <= set(CATALOG), sorted(set(FIRST_RELEASE) - set(CATALOG))
    for hosts in HOSTS.values():
        for name in hosts:
            sandbox.control.add_node(name)
    group_vars = {
        'openstack_namespace': 'openstack',
        'openstack_enabled_services': sorted(CATALOG),
        'openstack_etcd_endpoints': etcd_clean_plain.endpoints,
        'openstack_etcd_prefix': '/openstack',
        'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
        'openstack_service_wait_timeout': 180,
        'galera_replicas': 3,
        # galera_bootstrap needs pod exec of galera-start.sh, which the sandbox cannot run.
        'infrastructure_galera_hook': False,
    }
    client = K8sClient({'kubeconfig': sandbox.kubeconfig})

    def run(**extra):
        # One inventory directory for every run: the admin clouds.yaml is written next to it.
        inventory = make_inventory(hosts=HOSTS, group_vars=dict(group_vars, **extra), name='site')
        sandbox.control.clear_request_log()
        result = run_playbook('playbooks/site.yml', inventory, skip_tags=['host_prep'])
        result.writes = dict((v, n) for v, n in sandbox.control.counts_by_verb().items() if v in WRITE_VERBS)
        return result

    first = run()
    assert first.rc == 0, first.explain()
    owned = _owned(client, sorted(CATALOG))
    for name in sorted(CATALOG):
        # Every workload the entry declares exists (one per node role for multi-role components).
        kinds = [o.split('/', 1)[0] for o in owned[name]]
        workloads = sum(len(cat.component_roles(c)) for c in CATALOG[name]['components'].values())
        assert sum(kinds.count(k) for k in ('Deployment', 'StatefulSet', 'DaemonSet')) == workloads, (name, owned[name])
    for name, kind in (('manila-share', 'DaemonSet'), ('ironic-conductor', 'DaemonSet'), ('ironic-dnsmasq', 'DaemonSet')):
        if name.split('-', maxsplit=1)[0] in CATALOG:
            status = client.get('apps/v1', kind, name, 'openstack')['status']
            # The node of its role runs it: the role's label reached the node, the pod is ready.
            assert status['desiredNumberScheduled'] == 1 and status['numberReady'] == 1, (name, status)

    second = run()
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, second.explain()
    assert second.writes == {}, second.writes

    kept = sorted(set(CATALOG) - set(NEW))
    third = run(openstack_enabled_services=kept)
    assert third.rc == 0, third.explain()
    after = _owned(client, sorted(CATALOG))
    for name in NEW:
        assert owned[name], name
        # Volume claims stay (data is never deleted by disabling a service; destroy.yml's
        # openstack_destroy_data does that): everything else of the service is gone.
        assert [o for o in after[name] if not o.startswith('PersistentVolumeClaim/')] == [], (
            '%s still has %s' % (name, after[name]))
    for name in kept:
        assert after[name] == owned[name], name
    deleted = [entry['name'] for entry in sandbox.control.request_log()
               if entry['verb'] == 'delete' and not entry['dry_run']]
    # Only the disabled services' objects were deleted.
    theirs = set(o.split('/', 1)[1] for name in NEW for o in owned[name])
    assert deleted and set(deleted) <= theirs, sorted(set(deleted) - theirs)
