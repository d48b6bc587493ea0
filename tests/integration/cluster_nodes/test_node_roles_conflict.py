"""A Node that changes between our read and our patch: the sandbox answers 409 to the stale
resourceVersion, reconcile reads the Node again, and the other writer's taint survives."""
import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient, K8sError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import node_roles

REPO = pathlib.Path(__file__).resolve().parents[3]
CATALOG = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
UNREACHABLE = {'key': 'node.kubernetes.io/unreachable', 'effect': 'NoExecute'}


class RacingClient(K8sClient):
    """The real client; before its first patch another writer (the node lifecycle controller,
    here through the official client) taints the Node, so our resourceVersion is stale."""

    def __init__(self, params, other_writer):
        super().__init__(params)
        self.other_writer = other_writer
        self.raced = False

    def patch(self, *args, **kwargs):
        if not self.raced:
            self.raced = True
            self.other_writer()
        return super().patch(*args, **kwargs)


def is_conflict(exc):
    return isinstance(exc, K8sError) and exc.status == 409


def test_a_concurrent_taint_is_kept(sandbox):
    sandbox.control.add_node('compute-0')
    nodes = sandbox.dynamic_client().resources.get(api_version='v1', kind='Node')

    def lifecycle_controller():
        nodes.patch(name='compute-0', body={'spec': {'taints': [UNREACHABLE]}}, content_type='application/merge-patch+json')

    client = RacingClient({'kubeconfig': sandbox.kubeconfig}, lifecycle_controller)
    changed, report, dummy = node_roles.reconcile(client, CATALOG, {'openstack_compute': ['compute-0']}, {}, True, False, is_conflict)
    assert changed is True and report['compute-0']['changed'] is True
    assert client.requests.get('patch') == 2 and client.requests.get('get') == 1
    node = nodes.get(name='compute-0').to_dict()
    assert node['spec']['taints'] == [UNREACHABLE, {'key': 'openstack-k8s.io/compute', 'value': 'true', 'effect': 'NoSchedule'}]
    assert node['metadata']['labels']['openstack-k8s.io/compute'] == 'enabled'


def test_other_errors_are_not_retried(sandbox):
    sandbox.control.add_node('compute-0')
    nodes = sandbox.dynamic_client().resources.get(api_version='v1', kind='Node')

    def delete_node():
        nodes.delete(name='compute-0')

    client = RacingClient({'kubeconfig': sandbox.kubeconfig, 'api_retries': 0}, delete_node)
    with pytest.raises(K8sError) as failure:
        node_roles.reconcile(client, CATALOG, {'openstack_compute': ['compute-0']}, {}, True, False, is_conflict)
    assert failure.value.status == 404
    assert client.requests.get('patch') == 1
