"""What the sandbox benchmarks share: the real processes (Kubernetes sandbox, etcd), ansible-playbook runs,
the catalog, a deployment's setup outside the timed part, and the figures file run_all.py gathers.

Nothing here fakes a part: the sandbox is ``python -m k8s_sandbox`` (tests/harness/sandbox_fixtures.py), etcd
is Debian's etcd-server (tests/harness/etcd.py), playbooks run through ``ansible-playbook`` exactly as the
integration tests run them (tests/harness/ansible_fixtures.py).
"""
import base64
import json
import os
import pathlib
import secrets
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / 'results'
BENCH_COLLECTIONS = HERE / '.collections'
sys.path[:0] = [str(ROOT / 'tests'), str(ROOT / '.collections')]

# pylint: disable=wrong-import-position
from harness.ansible_fixtures import run_ansible_playbook, write_inventory  # noqa: E402
from harness.etcd import EtcdServer  # noqa: E402
from harness.sandbox_fixtures import SandboxProcess  # noqa: E402
import yaml  # noqa: E402

WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')
NAMESPACE = 'openstack'
PREFIX = '/openstack'


def require_bench_collections():
    """bench/bootstrap.sh copies kubernetes.core and ansible.posix out of the PyPI `ansible` wheel."""
    for name in ('kubernetes/core', 'ansible/posix'):
        if not (BENCH_COLLECTIONS / 'ansible_collections' / name / 'MANIFEST.json').is_file():
            sys.exit('%s is missing: run bench/bootstrap.sh (or make bench) first' % name.replace('/', '.'))


def ansible_env(**extra):
    """The harness environment plus the bench collections (kubernetes.core, ansible.posix)."""
    env = {'ANSIBLE_COLLECTIONS_PATH': os.pathsep.join([str(ROOT / '.collections'), str(BENCH_COLLECTIONS)])}
    env.update(extra)
    return env


def playbook(path, inventory, **kwargs):
    """One timed ansible-playbook run: (seconds, PlaybookResult). Fails loudly: a broken run is no figure."""
    env = ansible_env(**kwargs.pop('env', {}))
    start = time.monotonic()
    result = run_ansible_playbook(path, inventory, env=env, **kwargs)
    seconds = time.monotonic() - start
    if result.rc != 0:
        raise RuntimeError('ansible-playbook failed:\n' + result.explain())
    return seconds, result


def node_roles():
    return yaml.safe_load((ROOT / 'roles' / 'catalog' / 'files' / 'node_roles.yml').read_text())


def load_catalog():
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
    return cat.load_directory(str(ROOT / 'roles' / 'catalog' / 'files' / 'services'), node_roles())


def waves(catalog, names=None):
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
    return cat.waves(catalog, sorted(names or catalog))


class Cluster(object):
    """A sandbox and an etcd for one benchmark, stopped on exit."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='okd-bench-')
        self.workdir = pathlib.Path(self.tmp.name)
        self.sandbox = None
        self.etcd = None

    def __enter__(self):
        try:
            (self.workdir / 'sandbox').mkdir()
            self.sandbox = SandboxProcess(self.workdir / 'sandbox')
            self.sandbox.start()
            (self.workdir / 'etcd').mkdir()
            self.etcd = EtcdServer(base_dir=str(self.workdir / 'etcd'))
            self.etcd.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.etcd is not None:
                self.etcd.stop()
        finally:
            if self.sandbox is not None:
                self.sandbox.stop()
            self.tmp.cleanup()

    def client(self):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
        return K8sClient({'kubeconfig': self.sandbox.kubeconfig})

    def add_nodes(self, hosts):
        """One sandbox Node per inventory host, labelled and tainted as cluster_nodes would do it."""
        roles = node_roles()
        for group, names in hosts.items():
            role = next(spec for spec in roles.values() if spec['group'] == group)
            for name in names:
                taints = [role['taint']] if role.get('taint') else None
                self.sandbox.control.add_node(name, labels={role['label']['key']: role['label']['value']},
                                              taints=taints)

    def seed(self, catalog, services, credentials):
        """What the credentials and config roles leave behind, written directly (outside every timing):
        the namespace, the credentials Secret and the configuration tree in etcd. Returns the general values."""
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.build import build_config_tree
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import run_config_tree
        general = cat.general_defaults(namespace=NAMESPACE)
        tree = build_config_tree(catalog, sorted(services), {}, general)
        run_config_tree(dict(self.etcd.connection(), prefix=PREFIX, tree=tree, prune=True, state='present',
                             timeout=30, max_txn_ops=128))
        api = self.sandbox.api_client()
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException
        core = CoreV1Api(api)
        try:
            core.create_namespace({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}})
        except ApiException as exc:
            if exc.status != 409:
                raise
        core.create_namespaced_secret(NAMESPACE, {
            'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
            'metadata': {'name': 'openstack-credentials'},
            'data': dict((k, base64.b64encode(v.encode()).decode()) for k, v in credentials.items())})
        return general


def make_credentials(catalog, services):
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
    return dict((name, secrets.token_hex(16)) for name in cat.secret_names(catalog, sorted(services)))


def writes(counts):
    return sum(n for verb, n in counts.items() if verb in WRITE_VERBS)


def save_figures(name, rows, notes=()):
    """bench/results/<name>.json: [{label, seconds, ...}] rows and notes, for run_all.py's table and chart."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ('%s.json' % name)).write_text(json.dumps({'benchmark': name, 'rows': rows, 'notes': list(notes)},
                                                         indent=1, sort_keys=True))


def write_yaml(path, data):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


__all__ = ['Cluster', 'write_inventory', 'playbook', 'load_catalog', 'waves', 'make_credentials', 'writes',
           'save_figures', 'write_yaml', 'require_bench_collections', 'ansible_env', 'EtcdServer']
