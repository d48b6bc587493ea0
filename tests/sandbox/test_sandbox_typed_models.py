"""Objects the sandbox serves deserialize into the official typed models (their required fields are present)."""
import time

import pytest
from kubernetes.client import AppsV1Api, BatchV1Api, CoreV1Api

from k8s_sandbox import manifests


@pytest.fixture(scope="module")
def populated(k8s_sandbox):
    """A cluster with one of each workload, settled."""
    k8s_sandbox.reset()
    api = k8s_sandbox.api_client()
    apps, core, batch = AppsV1Api(api), CoreV1Api(api), BatchV1Api(api)
    apps.create_namespaced_deployment("default", manifests.deployment("web"))
    apps.create_namespaced_stateful_set("default", manifests.statefulset("db"))
    apps.create_namespaced_daemon_set("default", manifests.daemonset("agent"))
    batch.create_namespaced_job("default", manifests.job("once"))
    core.create_namespaced_service("default", manifests.service("web"))
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    time.sleep(1.0)
    return api


@pytest.mark.parametrize("api_class,method,namespaced", [
    (CoreV1Api, "list_node", False),
    (CoreV1Api, "list_namespace", False),
    (CoreV1Api, "list_namespaced_pod", True),
    (CoreV1Api, "list_namespaced_service", True),
    (CoreV1Api, "list_namespaced_secret", True),
    (CoreV1Api, "list_namespaced_service_account", True),
    (CoreV1Api, "list_namespaced_config_map", True),
    (AppsV1Api, "list_namespaced_deployment", True),
    (AppsV1Api, "list_namespaced_replica_set", True),
    (AppsV1Api, "list_namespaced_stateful_set", True),
    (AppsV1Api, "list_namespaced_daemon_set", True),
    (BatchV1Api, "list_namespaced_job", True),
])
def test_lists_deserialize(populated, api_class, method, namespaced):
    """Typed clients validate required fields; every served object must satisfy them."""
    call = getattr(api_class(populated), method)
    result = call("default") if namespaced else call()
    assert result.items
