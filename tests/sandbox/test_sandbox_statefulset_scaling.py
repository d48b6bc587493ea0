"""StatefulSet scaling by pod management policy, as the StatefulSet controller does it.

OrderedReady: scaling up creates one pod at a time, each once its predecessors are Ready;
scaling down removes the highest ordinal first, one at a time, the next only once the one
before is gone (terminated, not just terminating). Parallel: all at once, both ways.
"""
import time

import pytest

from k8s_sandbox import manifests


def _pods(core):
    pods = core.list_namespaced_pod("default", label_selector="app=db").items
    return [(p.metadata.name, p.metadata.deletion_timestamp is not None,
             any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or ()) if p.status))
            for p in pods]


def _follow(core, done, timeout=20.0):
    """Every distinct pod state seen until ``done(state)``."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = sorted(_pods(core))
        if not seen or seen[-1] != state:
            seen.append(state)
        if done(state):
            return seen
        time.sleep(0.03)
    raise AssertionError("not done in %ss; last states %s" % (timeout, seen[-3:]))


@pytest.mark.parametrize("policy, most_starting, most_terminating", [
    ("OrderedReady", 1, 1),
    ("Parallel", 3, 3),
])
def test_scale_up_and_down_by_policy(sandbox, policy, most_starting, most_terminating):
    from kubernetes.client import AppsV1Api, CoreV1Api
    sandbox.control.add_node("n1")
    sandbox.control.settings(ready_delay=0.4, pod_termination_delay=0.8)
    api = sandbox.api_client()
    apps, core = AppsV1Api(api), CoreV1Api(api)
    apps.create_namespaced_stateful_set("default", manifests.statefulset("db", replicas=1, podManagementPolicy=policy))
    _follow(core, lambda s: len(s) == 1 and s[0][2])

    apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 4}})
    up = _follow(core, lambda s: len(s) == 4 and all(ready for _n, _d, ready in s))
    assert max(sum(1 for _n, _d, ready in s if not ready) for s in up) == most_starting, up
    # Created in ordinal order either way.
    assert [name for name, _d, _r in up[-1]] == ["db-0", "db-1", "db-2", "db-3"]

    apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 1}})
    down = _follow(core, lambda s: [name for name, _d, _r in s] == ["db-0"])
    assert max(sum(1 for _n, deleting, _r in s if deleting) for s in down) == most_terminating, down
    if policy == "OrderedReady":
        # The highest ordinal goes first, and each pod is gone before the next one is deleted.
        deleted = []
        for state in down:
            for name, deleting, _r in state:
                if deleting and name not in deleted:
                    deleted.append(name)
        assert deleted == ["db-3", "db-2", "db-1"], down
