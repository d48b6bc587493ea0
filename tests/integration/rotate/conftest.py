"""Fixture of the rotation tests: ``cloud``, a deployed keystone (see rotate_helpers.py)."""
import pytest

from rotate_helpers import Cloud


@pytest.fixture(scope='module')
def cloud(k8s_sandbox, etcd, galera_cluster):
    k8s_sandbox.reset()
    etcd.wipe()
    # Old pods linger while terminating, new ones take a moment to turn ready: rollouts overlap.
    k8s_sandbox.control.settings(ready_delay=0.4, pod_termination_delay=0.6, job_delay=0.1)
    deployed = Cloud(k8s_sandbox, etcd, galera_cluster)
    deployed.setup()
    yield deployed
    deployed.teardown()
    k8s_sandbox.reset()
