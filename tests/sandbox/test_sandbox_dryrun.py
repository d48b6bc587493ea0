"""dryRun=All: the defaulted, validated result is returned and nothing is persisted."""
import pytest
from kubernetes.dynamic.exceptions import NotFoundError, UnprocessibleEntityError

from k8s_sandbox import manifests


@pytest.fixture
def deployments(sandbox):
    sandbox.control.settings(controllers=False)
    return sandbox.dynamic_client().resources.get(api_version="apps/v1", kind="Deployment")


def _rv(sandbox):
    return sandbox.control.snapshot()["resourceVersion"]


def test_dry_run_create(sandbox, deployments):
    """A dry-run create answers the defaulted object but stores nothing and bumps no resourceVersion."""
    before = _rv(sandbox)
    result = deployments.create(namespace="default", body=manifests.deployment("dry"), dry_run="All")
    assert result.spec.strategy.type == "RollingUpdate"
    assert _rv(sandbox) == before
    with pytest.raises(NotFoundError):
        deployments.get(namespace="default", name="dry")


@pytest.mark.parametrize("operation", ["replace", "merge-patch", "apply", "delete"])
def test_dry_run_writes_persist_nothing(sandbox, deployments, operation):
    """dryRun=All on update, patch, apply and delete leaves the stored object untouched."""
    created = deployments.create(namespace="default", body=manifests.deployment("dry")).to_dict()
    before = _rv(sandbox)
    if operation == "replace":
        body = dict(created, spec=dict(created["spec"], replicas=9))
        result = deployments.replace(namespace="default", body=body, dry_run="All")
        assert result.spec.replicas == 9
    elif operation == "merge-patch":
        result = deployments.patch(namespace="default", name="dry", body={"spec": {"replicas": 9}},
                                   content_type="application/merge-patch+json", dry_run="All")
        assert result.spec.replicas == 9
    elif operation == "apply":
        result = deployments.server_side_apply(namespace="default", body=manifests.deployment("dry", replicas=9),
                                               field_manager="x", force_conflicts=True, dry_run="All")
        assert result.spec.replicas == 9
    else:
        deployments.delete(namespace="default", name="dry", dry_run="All")
    assert _rv(sandbox) == before
    assert deployments.get(namespace="default", name="dry").spec.replicas == 1


def test_dry_run_still_validates(deployments):
    """A dry run is validated like a real write (422 for an invalid object)."""
    body = manifests.deployment("dry")
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(UnprocessibleEntityError):
        deployments.create(namespace="default", body=body, dry_run="All")
