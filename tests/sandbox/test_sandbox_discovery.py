"""Discovery: the documents the official clients read before anything else."""
import json
import urllib.request

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from k8s_sandbox import manifests

KINDS = [
    ("v1", "Namespace", False), ("v1", "Node", False), ("v1", "Pod", True), ("v1", "Service", True),
    ("v1", "ConfigMap", True), ("v1", "Secret", True), ("v1", "ServiceAccount", True),
    ("v1", "PersistentVolumeClaim", True), ("v1", "Event", True),
    ("apps/v1", "Deployment", True), ("apps/v1", "StatefulSet", True), ("apps/v1", "DaemonSet", True),
    ("apps/v1", "ReplicaSet", True), ("batch/v1", "Job", True), ("batch/v1", "CronJob", True),
    ("policy/v1", "PodDisruptionBudget", True), ("networking.k8s.io/v1", "NetworkPolicy", True),
    ("networking.k8s.io/v1", "Ingress", True), ("rbac.authorization.k8s.io/v1", "Role", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", True), ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False), ("coordination.k8s.io/v1", "Lease", True),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", False),
]


def _get(url, path):
    with urllib.request.urlopen(url + path) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("api_version,kind,namespaced", KINDS)
def test_dynamic_client_discovers_kind(sandbox, api_version, kind, namespaced):
    """DynamicClient finds every served kind through /api, /apis and the group-version
    APIResourceLists, with the scope the real API reports."""
    resource = sandbox.dynamic_client().resources.get(api_version=api_version, kind=kind)
    assert resource.namespaced is namespaced
    assert resource.kind == kind


@pytest.mark.parametrize("path,name,kind,group", [
    ("/apis/apps/v1", "deployments/scale", "Scale", "autoscaling"),
    ("/apis/apps/v1", "statefulsets/scale", "Scale", "autoscaling"),
    ("/apis/apps/v1", "deployments/status", "Deployment", None),
    ("/apis/batch/v1", "jobs/status", "Job", None),
    ("/api/v1", "pods/status", "Pod", None),
])
def test_subresources_are_listed(sandbox, path, name, kind, group):
    """Subresources appear as '<resource>/<sub>' entries; scale names autoscaling/v1 Scale."""
    document = _get(sandbox.url, path)
    entry = next(r for r in document["resources"] if r["name"] == name)
    assert entry["kind"] == kind
    assert entry.get("group") == group
    assert entry["verbs"] == ["get", "patch", "update"]


@pytest.mark.parametrize("path,kind", [
    ("/api", "APIVersions"), ("/apis", "APIGroupList"), ("/api/v1", "APIResourceList"),
    ("/apis/apps", "APIGroup"), ("/apis/apps/v1", "APIResourceList"),
])
def test_discovery_documents_have_kind(sandbox, path, kind):
    """Discovery documents are typed objects (kind set), as DynamicClient expects."""
    assert _get(sandbox.url, path)["kind"] == kind


def test_version_endpoint(sandbox):
    """/version reports major/minor and a gitVersion like a real server."""
    info = _get(sandbox.url, "/version")
    assert (info["major"], info["minor"]) == ("1", "37")
    assert info["gitVersion"].startswith("v1.37")


def test_unknown_group_is_404(sandbox):
    """An unknown group answers 404 with a Status body."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(sandbox.url, "/apis/nonexistent.example.com/v1")
    assert caught.value.code == 404


def test_lists_carry_kind_and_api_version(sandbox):
    """List responses carry kind <Kind>List and apiVersion (DynamicClient relies on them)."""
    listing = _get(sandbox.url, "/apis/apps/v1/namespaces/default/deployments")
    assert (listing["kind"], listing["apiVersion"]) == ("DeploymentList", "apps/v1")
    assert listing["metadata"]["resourceVersion"]


def test_crd_appears_in_discovery_once_created(sandbox):
    """A CustomResourceDefinition's kind is served (and discoverable) as soon as it is created,
    and its status reports Established."""
    client = sandbox.dynamic_client()
    crds = client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=manifests.crd(plural="gadgets", kind="Gadget"))
    client.resources.invalidate_cache()
    gadgets = client.resources.get(api_version="example.com/v1", kind="Gadget")
    created = gadgets.create(namespace="default", body={
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 3}})
    assert created.metadata.generation == 1
    conditions = {c.type: c.status for c in crds.get(name="gadgets.example.com").status.conditions}
    assert conditions["Established"] == "True"
    crds.delete(name="gadgets.example.com")
    client.resources.invalidate_cache()
    with pytest.raises(ResourceNotFoundError):
        client.resources.get(api_version="example.com/v1", kind="Gadget")
