"""Defaulting as the real server does it (pkg/apis/*/v1/defaults.go and the registry strategies):
what a client reads back after creating a minimal object."""
import base64

import pytest

from k8s_sandbox import manifests


def _dig(obj, path):
    current = obj
    for part in path:
        current = current[part]
    return current


POD_SPEC = ("spec", "template", "spec")
CONTAINER = POD_SPEC + ("containers", 0)

CASES = [
    ("apps/v1", "Deployment", manifests.deployment("d"), ("spec", "strategy"),
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    ("apps/v1", "Deployment", manifests.deployment("d"), ("spec", "revisionHistoryLimit"), 10),
    ("apps/v1", "Deployment", manifests.deployment("d"), ("spec", "progressDeadlineSeconds"), 600),
    ("apps/v1", "Deployment", manifests.deployment("d"), POD_SPEC + ("restartPolicy",), "Always"),
    ("apps/v1", "Deployment", manifests.deployment("d"), POD_SPEC + ("dnsPolicy",), "ClusterFirst"),
    ("apps/v1", "Deployment", manifests.deployment("d"), POD_SPEC + ("terminationGracePeriodSeconds",), 30),
    ("apps/v1", "Deployment", manifests.deployment("d"), POD_SPEC + ("schedulerName",), "default-scheduler"),
    ("apps/v1", "Deployment", manifests.deployment("d"), POD_SPEC + ("securityContext",), {}),
    ("apps/v1", "Deployment", manifests.deployment("d", image="nginx"), CONTAINER + ("imagePullPolicy",), "Always"),
    ("apps/v1", "Deployment", manifests.deployment("d", image="nginx:latest"), CONTAINER + ("imagePullPolicy",),
     "Always"),
    ("apps/v1", "Deployment", manifests.deployment("d", image="nginx:1.25"), CONTAINER + ("imagePullPolicy",),
     "IfNotPresent"),
    ("apps/v1", "Deployment", manifests.deployment("d", image="reg:5000/nginx"), CONTAINER + ("imagePullPolicy",),
     "Always"),
    ("apps/v1", "Deployment", manifests.deployment("d", image="nginx@sha256:" + "a" * 64),
     CONTAINER + ("imagePullPolicy",), "IfNotPresent"),
    ("apps/v1", "Deployment", manifests.deployment("d"), CONTAINER + ("terminationMessagePath",),
     "/dev/termination-log"),
    ("apps/v1", "Deployment", manifests.deployment("d"), CONTAINER + ("terminationMessagePolicy",), "File"),
    ("apps/v1", "StatefulSet", manifests.statefulset("s"), ("spec", "podManagementPolicy"), "OrderedReady"),
    ("apps/v1", "StatefulSet", manifests.statefulset("s"), ("spec", "updateStrategy"),
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    ("apps/v1", "StatefulSet", manifests.statefulset("s"), ("spec", "revisionHistoryLimit"), 10),
    ("apps/v1", "StatefulSet", manifests.statefulset("s"), ("spec", "persistentVolumeClaimRetentionPolicy"),
     {"whenDeleted": "Retain", "whenScaled": "Retain"}),
    ("apps/v1", "DaemonSet", manifests.daemonset("a"), ("spec", "updateStrategy"),
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    ("batch/v1", "Job", manifests.job("j"), ("spec", "backoffLimit"), 6),
    ("batch/v1", "Job", manifests.job("j"), ("spec", "completions"), 1),
    ("batch/v1", "Job", manifests.job("j"), ("spec", "parallelism"), 1),
    ("batch/v1", "Job", manifests.job("j"), ("spec", "completionMode"), "NonIndexed"),
    ("batch/v1", "Job", manifests.job("j"), ("spec", "suspend"), False),
    ("batch/v1", "Job", manifests.job("j"), ("spec", "template", "metadata", "labels", "job-name"), "j"),
    ("v1", "Service", manifests.service("s"), ("spec", "type"), "ClusterIP"),
    ("v1", "Service", manifests.service("s"), ("spec", "sessionAffinity"), "None"),
    ("v1", "Service", manifests.service("s"), ("spec", "ports", 0, "protocol"), "TCP"),
    ("v1", "Service", manifests.service("s", port=8080), ("spec", "ports", 0, "targetPort"), 8080),
    ("v1", "Service", manifests.service("s"), ("spec", "ipFamilies"), ["IPv4"]),
    ("v1", "Secret", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, ("type",), "Opaque"),
    ("v1", "Namespace", manifests.namespace("n"), ("spec", "finalizers"), ["kubernetes"]),
    ("v1", "Namespace", manifests.namespace("n"), ("metadata", "labels", "kubernetes.io/metadata.name"), "n"),
    ("v1", "Namespace", manifests.namespace("n"), ("status", "phase"), "Active"),
]


@pytest.mark.parametrize("api_version,kind,body,path,expected", CASES)
def test_defaults(sandbox, api_version, kind, body, path, expected):
    """The defaulted field reads back with the real server's default."""
    sandbox.control.settings(controllers=False)
    resource = sandbox.dynamic_client().resources.get(api_version=api_version, kind=kind)
    created = resource.create(namespace="default" if resource.namespaced else None, body=body).to_dict()
    assert _dig(created, path) == expected


def test_service_cluster_ip_allocated(sandbox):
    """A Service gets a clusterIP from the service range, mirrored in clusterIPs; distinct per Service."""
    services = sandbox.dynamic_client().resources.get(api_version="v1", kind="Service")
    first = services.create(namespace="default", body=manifests.service("one"))
    second = services.create(namespace="default", body=manifests.service("two"))
    assert first.spec.clusterIP.startswith("10.96.") and first.spec.clusterIPs == [first.spec.clusterIP]
    assert first.spec.clusterIP != second.spec.clusterIP


def test_service_update_keeps_allocated_ip(sandbox):
    """A Service replaced without clusterIP keeps the allocated one (it is not re-allocated)."""
    services = sandbox.dynamic_client().resources.get(api_version="v1", kind="Service")
    created = services.create(namespace="default", body=manifests.service("keep")).to_dict()
    body = manifests.service("keep", port=81)
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replaced = services.replace(namespace="default", body=body)
    assert replaced.spec.clusterIP == created["spec"]["clusterIP"]


def test_secret_string_data_folds_into_data(sandbox):
    """stringData is write-only: merged into data (base64) and never stored."""
    secrets = sandbox.dynamic_client().resources.get(api_version="v1", kind="Secret")
    created = secrets.create(namespace="default", body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"a": base64.b64encode(b"1").decode()}, "stringData": {"b": "2"}}).to_dict()
    assert created["data"] == {"a": "MQ==", "b": "Mg=="}
    assert "stringData" not in created
