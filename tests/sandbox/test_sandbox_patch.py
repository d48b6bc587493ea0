"""PATCH: JSON merge patch, strategic merge patch (schema-driven list merging), JSON patch."""
import json

import pytest
from kubernetes.client.exceptions import ApiException

from k8s_sandbox import manifests

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def deployments(sandbox):
    sandbox.control.settings(controllers=False)
    resource = sandbox.dynamic_client().resources.get(api_version="apps/v1", kind="Deployment")
    body = manifests.deployment("web")
    body["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "ports": [{"containerPort": 80, "name": "http"}]},
        {"name": "sidecar", "image": "side:1"}]
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    resource.create(namespace="default", body=body)
    return resource


def _pod_spec(obj):
    return obj.to_dict()["spec"]["template"]["spec"]


def _patch(resource, body, content_type):
    return resource.patch(namespace="default", name="web", body=body, content_type=content_type)


@pytest.mark.parametrize("patch,check", [
    # containers merge by name: one container's image changes, the other container stays
    ({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}},
     lambda s: [(c["name"], c["image"]) for c in s["containers"]] == [("app", "app:2"), ("sidecar", "side:1")]),
    # env merges by name inside the matched container
    ({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "C", "value": "3"}]}]}}}},
     lambda s: [e["name"] for e in s["containers"][0]["env"]] == ["A", "B", "C"]),
    # $patch: delete removes the keyed item
    ({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}},
     lambda s: [c["name"] for c in s["containers"]] == ["app"]),
    # ports merge by containerPort
    ({"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}}}},
     lambda s: [p["containerPort"] for p in s["containers"][0]["ports"]] == [80, 443]),
    # volumes merge by name
    ({"spec": {"template": {"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}}}},
     lambda s: [v["name"] for v in s["volumes"]] == ["data", "cache"]),
    # null deletes a field
    ({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": None}]}}}},
     lambda s: "env" not in s["containers"][0]),
    # $patch: replace on a list replaces it
    ({"spec": {"template": {"spec": {"containers": [{"name": "solo", "image": "solo:1"}, {"$patch": "replace"}]}}}},
     lambda s: [c["name"] for c in s["containers"]] == ["solo"]),
])
def test_strategic_merge(deployments, patch, check):
    """Strategic merge patch merges lists by the schema's patch merge key (containers, env,
    volumes by name; ports by containerPort) and honours $patch directives and null."""
    assert check(_pod_spec(_patch(deployments, patch, STRATEGIC)))


def test_merge_patch_replaces_lists(deployments):
    """JSON merge patch (RFC 7386) replaces lists wholesale: containers become exactly the patch's."""
    patched = _patch(deployments, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:3"}]}}}}, MERGE)
    assert [c["name"] for c in _pod_spec(patched)["containers"]] == ["app"]


def test_merge_patch_null_deletes(deployments):
    """In a merge patch null removes the key."""
    _patch(deployments, {"metadata": {"labels": {"a": "b", "c": "d"}}}, MERGE)
    patched = _patch(deployments, {"metadata": {"labels": {"a": None}}}, MERGE)
    assert patched.metadata.labels.to_dict() == {"c": "d"}


def test_json_patch_applies_in_order(deployments):
    """JSON patch (RFC 6902) operations apply in order."""
    patched = _patch(deployments, [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
    ], JSON_PATCH)
    assert patched.spec.replicas == 4 and patched.metadata.labels.x == "y"


def test_json_patch_failed_test_rejects_all(deployments):
    """A failed 'test' rejects the whole JSON patch: nothing before it is applied (atomic)."""
    with pytest.raises(ApiException) as caught:
        _patch(deployments, [
            {"op": "replace", "path": "/spec/replicas", "value": 7},
            {"op": "test", "path": "/spec/replicas", "value": 99},
        ], JSON_PATCH)
    assert caught.value.status == 422
    assert deployments.get(namespace="default", name="web").spec.replicas == 1


def test_custom_resources_reject_strategic_merge(sandbox):
    """Custom resources have no patch strategy metadata: strategic merge patch is 415."""
    client = sandbox.dynamic_client()
    client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(
        body=manifests.crd())
    client.resources.invalidate_cache()
    widgets = client.resources.get(api_version="example.com/v1", kind="Widget")
    widgets.create(namespace="default", body={"apiVersion": "example.com/v1", "kind": "Widget",
                                              "metadata": {"name": "w"}, "spec": {"size": 1}})
    with pytest.raises(ApiException) as caught:
        widgets.patch(namespace="default", name="w", body={"spec": {"size": 2}}, content_type=STRATEGIC)
    assert caught.value.status == 415
    assert json.loads(caught.value.body)["reason"] == "UnsupportedMediaType"
    merged = widgets.patch(namespace="default", name="w", body={"spec": {"size": 2}}, content_type=MERGE)
    assert merged.spec.size == 2 and merged.metadata.generation == 2
