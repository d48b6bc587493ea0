"""Session-wide test wiring.

The collection must be importable as ``ansible_collections.openstack_k8s.deploy`` for
unit tests and findable by ``ansible-playbook`` for integration tests, so a link from
``.collections/ansible_collections/openstack_k8s/deploy`` to this checkout is kept.
Each real part of the harness (etcd, Galera, the Kubernetes sandbox, Ansible runs)
brings its fixtures as a pytest plugin from ``tests/harness``.
"""
import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
COLLECTIONS_DIR = REPO_ROOT / ".collections"


def _ensure_collection_link():
    link = COLLECTIONS_DIR / "ansible_collections" / "openstack_k8s" / "deploy"
    if link.is_symlink() or link.exists():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(REPO_ROOT, link.parent), link)


_ensure_collection_link()

pytest_plugins = [
    "harness.etcd_fixtures",
    "harness.galera_fixtures",
    "harness.sandbox_fixtures",
    "harness.ansible_fixtures",
]
