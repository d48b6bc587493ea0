"""Fixtures of the backup/restore integration tests (helpers in backup_helpers.py)."""
import pytest

from backup_helpers import make_source


@pytest.fixture(scope='module')
def source(galera_cluster, etcd, k8s_sandbox):
    """Two filled databases, an etcd tree and a credentials Secret, made once per test module."""
    yield from make_source(galera_cluster, etcd, k8s_sandbox)
