"""Watch: ordered events from a list's resourceVersion, timeouts, 410 Expired, bookmarks."""
import json
import threading
import time
import urllib.request

import pytest
from kubernetes import watch
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from k8s_sandbox import manifests


@pytest.fixture
def core(sandbox):
    return CoreV1Api(sandbox.api_client())


def test_watch_events_in_order(core):
    """Watching from a list's resourceVersion yields ADDED, MODIFIED, DELETED in order."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", manifests.configmap("w"))
    core.patch_namespaced_config_map("w", "default", {"data": {"key": "new"}})
    core.delete_namespaced_config_map("w", "default")
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, "default", resource_version=start,
                               timeout_seconds=2):
        if event["object"].metadata.name == "w":
            seen.append(event["type"])
        if len(seen) == 3:
            stream.stop()
    assert seen == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_sees_later_writes(core):
    """An open watch receives events for writes made after it started."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    timer = threading.Timer(0.3, lambda: core.create_namespaced_config_map("default", manifests.configmap("late")))
    timer.start()
    stream = watch.Watch()
    names = []
    for event in stream.stream(core.list_namespaced_config_map, "default", resource_version=start,
                               timeout_seconds=5):
        names.append((event["type"], event["object"].metadata.name))
        stream.stop()
    timer.join()
    assert names == [("ADDED", "late")]


def test_timeout_seconds_ends_stream(core):
    """timeoutSeconds ends the stream cleanly."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    began = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                       timeout_seconds=1))
    assert not events
    assert 0.9 < time.monotonic() - began < 5


def test_too_old_resource_version_is_expired(sandbox, core):
    """A resourceVersion older than the retained history answers a 410 Expired error event."""
    sandbox.control.settings(history_size=5, controllers=False)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for index in range(10):
        core.create_namespaced_config_map("default", manifests.configmap("h%d" % index))
    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                  timeout_seconds=1))
    assert caught.value.status == 410


def test_dynamic_client_watch_with_label_selector(sandbox):
    """DynamicClient watch with a label selector: an object whose labels stop matching is
    reported DELETED, one that starts matching ADDED."""
    configmaps = sandbox.dynamic_client().resources.get(api_version="v1", kind="ConfigMap")
    start = configmaps.get(namespace="default").metadata.resourceVersion
    configmaps.create(namespace="default", body=manifests.configmap("sel", labels={"watched": "yes"}))
    configmaps.patch(namespace="default", name="sel", body={"metadata": {"labels": {"watched": "no"}}},
                     content_type="application/merge-patch+json")
    configmaps.patch(namespace="default", name="sel", body={"metadata": {"labels": {"watched": "yes"}}},
                     content_type="application/merge-patch+json")
    events = [e["type"] for e in configmaps.watch(namespace="default", label_selector="watched=yes",
                                                  resource_version=start, timeout=1)]
    assert events == ["ADDED", "DELETED", "ADDED"]


def test_bookmarks(sandbox, core):
    """With allowWatchBookmarks the server sends BOOKMARK events carrying a resourceVersion."""
    sandbox.control.settings(bookmark_interval=0.2)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                       timeout_seconds=1, allow_watch_bookmarks=True))
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[0]["raw_object"]["metadata"]["resourceVersion"]


def test_watch_without_resource_version_starts_with_state(core):
    """A watch without resourceVersion first reports every existing object as ADDED."""
    core.create_namespaced_config_map("default", manifests.configmap("existing"))
    stream = watch.Watch()
    names = []
    for event in stream.stream(core.list_namespaced_config_map, "default", timeout_seconds=1):
        names.append((event["type"], event["object"].metadata.name))
    assert ("ADDED", "existing") in names


def test_legacy_watch_path(sandbox, core):
    """The deprecated /watch/ path prefix still streams watch events."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", manifests.configmap("legacy"))
    url = "%s/api/v1/watch/namespaces/default/configmaps?resourceVersion=%s&timeoutSeconds=1" % (sandbox.url, start)
    with urllib.request.urlopen(url, timeout=5) as response:
        events = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "legacy")]
