"""Server-side apply: ownership in managedFields, conflicts, force, removal of dropped fields."""
import json

import pytest
from kubernetes.dynamic.exceptions import ConflictError

from k8s_sandbox import manifests


@pytest.fixture
def deployments(sandbox):
    sandbox.control.settings(controllers=False)
    return sandbox.dynamic_client().resources.get(api_version="apps/v1", kind="Deployment")


def _apply(resource, body, manager="deployer", force=False):
    return resource.server_side_apply(namespace="default", body=body, field_manager=manager, force_conflicts=force)


def _entry(obj, manager):
    return next(e for e in obj.to_dict()["metadata"]["managedFields"] if e["manager"] == manager)


def test_apply_creates(deployments):
    """Apply creates a missing object and records an Apply entry for the manager."""
    created = _apply(deployments, manifests.deployment("web", replicas=2))
    entry = _entry(created, "deployer")
    assert entry["operation"] == "Apply"
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert 'k:{"name":"app"}' in containers


def test_apply_update_changes_one_field_keeps_others(deployments):
    """Applying the same configuration with one field changed updates that field; defaulted and
    other fields stay, and generation increments once."""
    _apply(deployments, manifests.deployment("web", replicas=2))
    updated = _apply(deployments, manifests.deployment("web", replicas=2, image="registry.example/app:2.0"))
    assert updated.spec.replicas == 2
    assert updated.spec.template.spec.containers[0].image == "registry.example/app:2.0"
    assert updated.spec.strategy.rollingUpdate.maxSurge == "25%"
    assert updated.metadata.generation == 2


def test_noop_apply_keeps_resource_version(deployments):
    """An apply that changes nothing is not a write: resourceVersion stays."""
    first = _apply(deployments, manifests.deployment("web"))
    second = _apply(deployments, manifests.deployment("web"))
    assert second.metadata.resourceVersion == first.metadata.resourceVersion


def test_fields_dropped_by_manager_are_removed(deployments):
    """A field the manager applied before and no longer sends is removed, unless another
    manager owns it."""
    body = manifests.deployment("web")
    body["metadata"]["labels"] = {"keep": "1", "drop": "1"}
    _apply(deployments, body)
    deployments.patch(namespace="default", name="web", body={"metadata": {"labels": {"keep": "2"}}},
                      content_type="application/merge-patch+json", field_manager="other")
    body["metadata"]["labels"] = {}
    result = _apply(deployments, body)
    assert result.metadata.labels.to_dict() == {"keep": "2"}


def test_list_map_item_removed_when_dropped(deployments):
    """A list-map item (container, keyed by name) dropped from the configuration is removed."""
    body = manifests.deployment("web")
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "side:1"})
    _apply(deployments, body)
    body["spec"]["template"]["spec"]["containers"].pop()
    result = _apply(deployments, body)
    assert [c.name for c in result.spec.template.spec.containers] == ["app"]


def test_conflict_then_force(deployments):
    """Another manager setting a field owned by someone else to a different value gets 409
    Conflict with FieldManagerConflict causes; with force it takes the field over."""
    _apply(deployments, manifests.deployment("web", replicas=2))
    with pytest.raises(ConflictError) as caught:
        _apply(deployments, manifests.deployment("web", replicas=5), manager="hpa")
    status = json.loads(caught.value.body)
    assert status["reason"] == "Conflict"
    assert status["details"]["causes"] == [
        {"type": "FieldManagerConflict", "message": 'conflict with "deployer" using apps/v1', "field": ".spec.replicas"}]
    forced = _apply(deployments, manifests.deployment("web", replicas=5), manager="hpa", force=True)
    assert forced.spec.replicas == 5
    assert "f:replicas" in _entry(forced, "hpa")["fieldsV1"]["f:spec"]
    assert "f:replicas" not in _entry(forced, "deployer")["fieldsV1"]["f:spec"]


def test_same_value_is_shared_not_conflict(deployments):
    """Applying the same value as another owner is not a conflict: ownership is shared."""
    _apply(deployments, manifests.deployment("web", replicas=2))
    shared = _apply(deployments, manifests.deployment("web", replicas=2), manager="second")
    assert "f:replicas" in _entry(shared, "second")["fieldsV1"]["f:spec"]
    assert "f:replicas" in _entry(shared, "deployer")["fieldsV1"]["f:spec"]


def test_update_takes_ownership_without_conflict(deployments):
    """A non-apply write (update operation) never conflicts; it takes ownership of what it changes."""
    _apply(deployments, manifests.deployment("web", replicas=2))
    patched = deployments.patch(namespace="default", name="web", body={"spec": {"replicas": 3}},
                                content_type="application/merge-patch+json", field_manager="kubectl-edit")
    assert _entry(patched, "kubectl-edit")["operation"] == "Update"
    assert "f:replicas" not in _entry(patched, "deployer")["fieldsV1"]["f:spec"]
    with pytest.raises(ConflictError):
        _apply(deployments, manifests.deployment("web", replicas=2))


def test_apply_requires_field_manager(sandbox):
    """Apply without fieldManager is rejected (422)."""
    client = sandbox.dynamic_client()
    with pytest.raises(Exception) as caught:
        client.request("PATCH", "/api/v1/namespaces/default/configmaps/x", body=manifests.configmap("x"),
                       content_type="application/apply-patch+yaml")
    assert caught.value.status == 422


def test_ports_keyed_by_port_and_protocol(deployments):
    """containers[].ports is a list-map keyed by containerPort+protocol (protocol defaulting to TCP)."""
    body = manifests.deployment("web")
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    result = _apply(deployments, body)
    fields = _entry(result, "deployer")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in fields['k:{"name":"app"}']["f:ports"]
    assert result.spec.template.spec.containers[0].ports[0].protocol == "TCP"


def test_set_lists_are_merged_per_member(sandbox):
    """metadata.finalizers is a set (list-type set): each manager owns its own members, so
    managers add and remove theirs without touching the others'."""
    configmaps = sandbox.dynamic_client().resources.get(api_version="v1", kind="ConfigMap")

    def apply(manager, finalizers):
        body = manifests.configmap("shared")
        body["metadata"]["finalizers"] = finalizers
        return configmaps.server_side_apply(namespace="default", body=body, field_manager=manager)

    apply("one", ["example.com/one"])
    apply("two", ["example.com/two"])
    assert apply("one", []).metadata.finalizers == ["example.com/two"]
    configmaps.patch(namespace="default", name="shared", body={"metadata": {"finalizers": None}},
                     content_type="application/merge-patch+json")
