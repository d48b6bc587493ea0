"""Fixtures of the rollout tests: a sandbox with labelled nodes and the credentials Secret,
a real etcd holding the catalog's config tree, and the module parameters that reach them."""
import base64
import copy
import pathlib
import secrets

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini

REPO = pathlib.Path(__file__).resolve().parents[3]
NODE_ROLES = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
NAMESPACE = 'openstack'
PREFIX = '/openstack'
# One Kubernetes node per inventory host of the rollout tests, labelled as cluster_nodes would.
NODES = {'ctl-1': 'controller', 'ctl-2': 'controller', 'ctl-3': 'controller', 'cmp-1': 'compute', 'net-1': 'network'}


def load_catalog():
    return cat.load_directory(str(REPO / 'roles/catalog/files/services'), NODE_ROLES)


def etcd_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return ini.format_value(value)


class Deployment(object):
    """The cluster side of a rollout test and the parameters of k8s_openstack_service."""

    def __init__(self, sandbox, etcd):
        self.sandbox = sandbox
        self.etcd = etcd
        self.catalog = load_catalog()
        self.credentials = {}
        self.client = K8sClient({'kubeconfig': sandbox.kubeconfig})

    def label_nodes(self):
        for name, role in NODES.items():
            spec = NODE_ROLES[role]
            taints = [dict(spec['taint'])] if spec.get('taint') else []
            self.sandbox.control.add_node(name, labels={spec['label']['key']: spec['label']['value']}, taints=taints)

    def create_credentials(self):
        self.client.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}})
        self.credentials = dict((name, secrets.token_urlsafe(24)) for name in cat.secret_names(self.catalog))
        self.client.create({'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'openstack-credentials', 'namespace': NAMESPACE},
                            'data': dict((k, base64.b64encode(v.encode()).decode()) for k, v in self.credentials.items())})

    def seed_config(self, overrides=None):
        """Put the catalog's config defaults (merged with ``overrides``) under the prefix."""
        with self.etcd.client() as cli:
            for name, entry in self.catalog.items():
                tree = ini.merge_trees(entry.get('config') or {}, (overrides or {}).get(name) or {})
                for role, files in tree.items():
                    for fname, sections in files.items():
                        for section, options in sections.items():
                            for key, value in options.items():
                                cli.put('%s/%s/%s/%s/%s/%s' % (PREFIX, role, name, fname, section, key), etcd_value(value))

    def set_option(self, role, service, filename, section, key, value):
        with self.etcd.client() as cli:
            cli.put('%s/%s/%s/%s/%s/%s' % (PREFIX, role, service, filename, section, key), value)

    def params(self, *services, **overrides):
        entries = [copy.deepcopy(self.catalog[s]) if isinstance(s, str) else s for s in services]
        params = dict(kubeconfig=self.sandbox.kubeconfig, services=entries, namespace=NAMESPACE,
                      etcd=dict(endpoints=self.etcd.endpoints, prefix=PREFIX), credentials_secret='openstack-credentials',
                      variables={'node_roles': NODE_ROLES}, replicas={}, state='present', wait=True, wait_timeout=60,
                      force_conflicts=False, api_retries=5)
        params.update(overrides)
        return params

    def writes(self):
        counts = self.sandbox.control.counts_by_verb()
        return dict((verb, n) for verb, n in counts.items() if verb in ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection'))

    def live(self, api_version, kind, name):
        return self.client.get(api_version, kind, name, NAMESPACE)

    def owned(self, service):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.prune import find_owned
        return sorted('%s/%s' % (o['kind'], o['metadata']['name']) for o in find_owned(self.client, NAMESPACE, service))


@pytest.fixture(name='deployment')
def deployment_fixture(sandbox, etcd_clean_plain):
    """A fresh sandbox (labelled nodes, namespace, credentials) and etcd seeded with the catalog defaults."""
    dep = Deployment(sandbox, etcd_clean_plain)
    dep.label_nodes()
    dep.create_credentials()
    dep.seed_config()
    sandbox.control.clear_request_log()
    return dep
