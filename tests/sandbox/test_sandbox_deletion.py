"""Deletion: finalizers, namespace termination, propagation policies and garbage collection."""
import json
import time

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError

from k8s_sandbox import manifests


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _gone(resource, **kwargs):
    try:
        resource.get(**kwargs)
    except NotFoundError:
        return True
    return False


@pytest.fixture
def client(sandbox):
    return sandbox.dynamic_client()


def test_finalizer_keeps_object_until_removed(client):
    """An object with finalizers is only marked (deletionTimestamp) until the finalizers are removed;
    no new finalizers may be added meanwhile."""
    configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
    body = manifests.configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    configmaps.create(namespace="default", body=body)
    configmaps.delete(namespace="default", name="held")
    marked = configmaps.get(namespace="default", name="held")
    assert marked.metadata.deletionTimestamp
    with pytest.raises(ApiException) as caught:
        configmaps.patch(namespace="default", name="held",
                         body={"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
                         content_type="application/merge-patch+json")
    assert caught.value.status == 422
    configmaps.patch(namespace="default", name="held", body={"metadata": {"finalizers": None}},
                     content_type="application/merge-patch+json")
    assert _gone(configmaps, namespace="default", name="held")


def test_namespace_terminates(client):
    """Deleting a namespace marks it Terminating, forbids new content (403), deletes its
    objects, then the namespace disappears."""
    namespaces = client.resources.get(api_version="v1", kind="Namespace")
    configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
    namespaces.create(body=manifests.namespace("doomed"))
    configmaps.create(namespace="doomed", body=manifests.configmap("inside", namespace="doomed"))
    namespaces.delete(name="doomed")
    assert namespaces.get(name="doomed").status.phase == "Terminating"
    with pytest.raises(ApiException) as caught:
        configmaps.create(namespace="doomed", body=manifests.configmap("late", namespace="doomed"))
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (403, "Forbidden")
    assert status["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    assert _wait(lambda: _gone(namespaces, name="doomed"))
    assert _gone(configmaps, namespace="doomed", name="inside")


def test_namespace_waits_for_finalizers_of_its_content(client):
    """A namespace stays Terminating, reporting NamespaceFinalizersRemaining, while an object
    in it still has finalizers; it goes once they are removed."""
    namespaces = client.resources.get(api_version="v1", kind="Namespace")
    configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
    namespaces.create(body=manifests.namespace("sticky"))
    body = manifests.configmap("held", namespace="sticky")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    configmaps.create(namespace="sticky", body=body)
    namespaces.delete(name="sticky")
    assert _wait(lambda: any(c.type == "NamespaceFinalizersRemaining" and c.status == "True"
                             for c in namespaces.get(name="sticky").status.conditions or ()))
    configmaps.patch(namespace="sticky", name="held", body={"metadata": {"finalizers": None}},
                     content_type="application/merge-patch+json")
    assert _wait(lambda: _gone(namespaces, name="sticky"))


def _owned_configmap(configmaps, owner, name):
    body = manifests.configmap(name)
    body["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap",
                                            "name": owner.metadata.name, "uid": owner.metadata.uid,
                                            "blockOwnerDeletion": True}]
    return configmaps.create(namespace="default", body=body)


@pytest.mark.parametrize("policy,dependent_survives", [
    ("Background", False),
    ("Foreground", False),
    ("Orphan", True),
])
def test_propagation_policy(client, policy, dependent_survives):
    """Background and Foreground deletion garbage-collect dependents (ownerReferences);
    Orphan removes the owner reference and keeps them."""
    configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
    owner = configmaps.create(namespace="default", body=manifests.configmap("owner"))
    _owned_configmap(configmaps, owner, "dependent")
    configmaps.delete(namespace="default", name="owner", propagation_policy=policy)
    assert _wait(lambda: _gone(configmaps, namespace="default", name="owner"))
    if dependent_survives:
        time.sleep(0.3)
        survivor = configmaps.get(namespace="default", name="dependent")
        assert not survivor.metadata.ownerReferences
    else:
        assert _wait(lambda: _gone(configmaps, namespace="default", name="dependent"))


def test_deployment_deletion_removes_replicasets_and_pods(sandbox, client):
    """Deleting a Deployment (default Background) garbage-collects its ReplicaSet and Pods."""
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    pods = client.resources.get(api_version="v1", kind="Pod")
    deployments.create(namespace="default", body=manifests.deployment("gc", replicas=2))
    assert _wait(lambda: len(pods.get(namespace="default", label_selector="app=gc").items) == 2)
    deployments.delete(namespace="default", name="gc")
    assert _wait(lambda: not pods.get(namespace="default", label_selector="app=gc").items)
    del sandbox


def test_job_deletion_orphans_pods_by_default(sandbox, client):
    """batch/v1 Jobs default to orphaning their pods on delete (with a warning); Background removes them."""
    sandbox.control.settings(job_delay=30)
    jobs = client.resources.get(api_version="batch/v1", kind="Job")
    pods = client.resources.get(api_version="v1", kind="Pod")
    jobs.create(namespace="default", body=manifests.job("orphaner"))
    assert _wait(lambda: len(pods.get(namespace="default", label_selector="job-name=orphaner").items) == 1)
    jobs.delete(namespace="default", name="orphaner")
    time.sleep(0.3)
    remaining = pods.get(namespace="default", label_selector="job-name=orphaner").items
    assert len(remaining) == 1 and not remaining[0].metadata.ownerReferences


@pytest.mark.parametrize("grace,gone_at_once", [(None, False), (0, True)])
def test_pod_grace_period(sandbox, client, grace, gone_at_once):
    """A running pod deleted with the default grace period lingers (Terminating); gracePeriodSeconds=0 removes it."""
    sandbox.control.settings(pod_termination_delay=2)
    pods = client.resources.get(api_version="v1", kind="Pod")
    pods.create(namespace="default", body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                           "spec": {"containers": [{"name": "c", "image": "img:1"}]}})
    assert _wait(lambda: pods.get(namespace="default", name="p").status.phase == "Running")
    if grace is None:
        pods.delete(namespace="default", name="p")
    else:
        pods.delete(namespace="default", name="p", grace_period_seconds=grace)
    assert _gone(pods, namespace="default", name="p") is gone_at_once


def test_pods_of_deleted_node_are_collected(sandbox, client):
    """Pods bound to a Node that is deleted are removed by the pod garbage collector."""
    sandbox.control.add_node("doomed-node", labels={"only": "here"})
    pods = client.resources.get(api_version="v1", kind="Pod")
    pods.create(namespace="default", body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pinned"},
                                           "spec": {"nodeSelector": {"only": "here"},
                                                    "containers": [{"name": "c", "image": "img:1"}]}})
    assert _wait(lambda: pods.get(namespace="default", name="pinned").spec.nodeName == "doomed-node")
    client.resources.get(api_version="v1", kind="Node").delete(name="doomed-node")
    assert _wait(lambda: _gone(pods, namespace="default", name="pinned"))
