"""Fault injection and the request log."""
import http.client
import json
import time
import urllib.error
import urllib.request

import pytest
from kubernetes.client import CoreV1Api
from urllib3.exceptions import HTTPError as Urllib3Error

from k8s_sandbox import manifests


def _raw_get(url, path, timeout=5):
    try:
        with urllib.request.urlopen(url + path, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


@pytest.mark.parametrize("response,code,reason", [
    (500, 500, "InternalError"),
    (503, 503, "ServiceUnavailable"),
    (429, 429, "TooManyRequests"),
])
def test_injected_status_faults(sandbox, response, code, reason):
    """A fault rule answers matching requests with the chosen error status (429 with Retry-After)."""
    sandbox.control.settings(faults=[{"rate": 1.0, "responses": [response], "verbs": ["list"], "retry_after": 2}])
    status, headers, body = _raw_get(sandbox.url, "/api/v1/namespaces/default/configmaps")
    assert (status, body["reason"]) == (code, reason)
    if code == 429:
        assert headers["Retry-After"] == "2"
    status = _raw_get(sandbox.url, "/api/v1/namespaces/default/configmaps/kube-root-ca.crt")[0]
    assert status == 200


def test_fault_count_and_path(sandbox):
    """'count' limits how many requests a rule fails; 'path' restricts it by regex."""
    sandbox.control.settings(faults=[{"rate": 1.0, "responses": [503], "count": 2, "path": "configmaps"}])
    codes = [_raw_get(sandbox.url, "/api/v1/namespaces/default/configmaps")[0] for attempt in range(3)]
    assert codes == [503, 503, 200]
    assert _raw_get(sandbox.url, "/api/v1/namespaces/default/secrets")[0] == 200


def test_fault_rate_is_seeded(sandbox):
    """With the same seed, a fractional rate fails the same requests."""
    runs = []
    while len(runs) < 2:
        sandbox.control.settings(fault_seed=42, faults=[{"rate": 0.5, "responses": [500]}])
        runs.append([_raw_get(sandbox.url, "/api/v1/namespaces")[0] for request in range(12)])
    assert runs[0] == runs[1]
    assert 500 in runs[0] and 200 in runs[0]


def test_dropped_connection(sandbox):
    """A 'drop' fault closes the connection without a response."""
    sandbox.control.settings(faults=[{"rate": 1.0, "responses": ["drop"], "verbs": ["get"]}])
    core = CoreV1Api(sandbox.api_client())
    core.api_client.configuration.retries = 0
    with pytest.raises((Urllib3Error, OSError)):
        core.read_namespace("default", _request_timeout=3)


def test_dropped_watch(sandbox):
    """watch_drop_after cuts watch streams without a clean end."""
    sandbox.control.settings(watch_drop_after=0.3)
    began = time.monotonic()
    with pytest.raises((http.client.HTTPException, OSError)):
        with urllib.request.urlopen(sandbox.url + "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=10",
                                    timeout=5) as response:
            while response.read(1):
                pass
    assert time.monotonic() - began < 5


def test_request_log_counts_by_verb(sandbox):
    """Every request is logged with the Kubernetes verb; apply has its own bucket and dry runs are flagged."""
    client = sandbox.dynamic_client()
    sandbox.control.clear_request_log()
    configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
    configmaps.create(namespace="default", body=manifests.configmap("a"))
    configmaps.get(namespace="default", name="a")
    configmaps.get(namespace="default")
    configmaps.patch(namespace="default", name="a", body={"data": {"x": "y"}},
                     content_type="application/merge-patch+json")
    configmaps.server_side_apply(namespace="default", body=manifests.configmap("b"), field_manager="t")
    configmaps.server_side_apply(namespace="default", body=manifests.configmap("c"), field_manager="t",
                                 dry_run="All")
    configmaps.replace(namespace="default", body=configmaps.get(namespace="default", name="a").to_dict())
    configmaps.delete(namespace="default", name="a")
    counts = sandbox.control.counts_by_verb()
    assert {k: v for k, v in counts.items() if k != "discovery"} == {
        "create": 1, "get": 2, "list": 1, "patch": 1, "apply": 2, "update": 1, "delete": 1}
    entries = sandbox.control.request_log()
    applies = [e for e in entries if e["apply"]]
    assert [e["dry_run"] for e in applies] == [False, True]
    assert all(e["user_agent"] for e in entries)
    assert applies[0]["resource"] == "configmaps" and applies[0]["name"] == "b"
    sandbox.control.clear_request_log()
    assert sandbox.control.request_log() == []


def test_timeout_fault_delays_then_drops(sandbox):
    """A 'timeout' fault holds the request for timeout_seconds, then closes it unanswered."""
    sandbox.control.settings(faults=[{"rate": 1.0, "responses": ["timeout"], "timeout_seconds": 0.5}])
    began = time.monotonic()
    with pytest.raises((http.client.HTTPException, OSError)):
        _raw_get(sandbox.url, "/api/v1/namespaces", timeout=5)
    assert time.monotonic() - began >= 0.5
    entry = [e for e in sandbox.control.request_log() if e["path"] == "/api/v1/namespaces"][-1]
    assert entry["fault"] == "timeout"
