"""The status and scale subresources."""
import pytest
from kubernetes.client import AppsV1Api

from k8s_sandbox import manifests


@pytest.fixture
def deployments(sandbox):
    sandbox.control.settings(controllers=False)
    resource = sandbox.dynamic_client().resources.get(api_version="apps/v1", kind="Deployment")
    resource.create(namespace="default", body=manifests.deployment("web"))
    return resource


def test_main_resource_ignores_status(deployments):
    """Writes to the main resource ignore status changes."""
    patched = deployments.patch(namespace="default", name="web", body={"status": {"replicas": 42}},
                                content_type="application/merge-patch+json")
    assert patched.status.replicas is None


def test_status_subresource_ignores_spec(deployments):
    """Writes to /status change status only; spec changes in the same body are ignored."""
    patched = deployments.status.patch(namespace="default", name="web",
                                       body={"spec": {"replicas": 7}, "status": {"replicas": 3}},
                                       content_type="application/merge-patch+json")
    assert patched.status.replicas == 3
    assert deployments.get(namespace="default", name="web").spec.replicas == 1


@pytest.mark.parametrize("kind,name,builder", [
    ("Deployment", "web", None),
    ("StatefulSet", "db", manifests.statefulset),
])
def test_scale_subresource(sandbox, deployments, kind, name, builder):
    """/scale reads and writes spec.replicas as an autoscaling/v1 Scale."""
    apps = AppsV1Api(sandbox.api_client())
    if builder is not None:
        apps.create_namespaced_stateful_set("default", builder(name))
    read = getattr(apps, "read_namespaced_%s_scale" % ("deployment" if kind == "Deployment" else "stateful_set"))
    patch = getattr(apps, "patch_namespaced_%s_scale" % ("deployment" if kind == "Deployment" else "stateful_set"))
    scale = read(name, "default")
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 1)
    assert scale.status.selector == "app=%s" % name
    patch(name, "default", {"spec": {"replicas": 4}})
    assert read(name, "default").spec.replicas == 4
    del deployments
