"""Create/get/list/replace/delete, server-populated metadata, Status bodies, concurrency."""
import json
import urllib.error
import urllib.request

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from k8s_sandbox import manifests


def _status(exc):
    return json.loads(exc.body)


@pytest.fixture
def client(sandbox):
    return sandbox.dynamic_client()


def _res(client, api_version, kind):
    return client.resources.get(api_version=api_version, kind=kind)


def test_create_populates_server_metadata(client):
    """On create the server sets uid, resourceVersion, creationTimestamp, generation (1, for
    kinds that track it), the namespace from the URL, and a managedFields entry for the writer."""
    created = _res(client, "apps/v1", "Deployment").create(namespace="default", body=manifests.deployment("web"))
    meta = created.metadata
    assert meta.uid and meta.resourceVersion.isdigit() and meta.creationTimestamp.endswith("Z")
    assert meta.generation == 1
    assert meta.namespace == "default"
    assert meta.managedFields[0].operation == "Update"
    assert meta.managedFields[0].fieldsType == "FieldsV1"


@pytest.mark.parametrize("api_version,kind,body", [
    ("v1", "Namespace", manifests.namespace("team-a")),
    ("v1", "Node", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-9"}}),
    ("rbac.authorization.k8s.io/v1", "ClusterRole",
     {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"},
      "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
     {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "readers"},
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
      "subjects": [{"kind": "User", "name": "alice"}]}),
])
def test_cluster_scoped_crud(client, api_version, kind, body):
    """Cluster-scoped objects live at /api(s)/<gv>/<plural>/<name> and carry no namespace."""
    resource = _res(client, api_version, kind)
    created = resource.create(body=body)
    assert created.metadata.namespace is None
    assert resource.get(name=body["metadata"]["name"]).metadata.uid == created.metadata.uid
    resource.delete(name=body["metadata"]["name"])
    if kind != "Namespace":
        with pytest.raises(NotFoundError):
            resource.get(name=body["metadata"]["name"])


def test_list_across_namespaces(client):
    """Listing a namespaced resource without a namespace returns every namespace's objects."""
    namespaces = _res(client, "v1", "Namespace")
    configmaps = _res(client, "v1", "ConfigMap")
    namespaces.create(body=manifests.namespace("other"))
    configmaps.create(namespace="default", body=manifests.configmap("one"))
    configmaps.create(namespace="other", body=manifests.configmap("two", namespace="other"))
    names = {(i.metadata.namespace, i.metadata.name) for i in configmaps.get().items}
    assert {("default", "one"), ("other", "two")} <= names


def test_not_found_status_body(client):
    """A missing object is 404 with a Status: reason NotFound, details.name and details.kind (plural)."""
    with pytest.raises(NotFoundError) as caught:
        _res(client, "apps/v1", "Deployment").get(namespace="default", name="nope")
    status = _status(caught.value)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "NotFound", 404)
    assert status["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    assert status["message"] == 'deployments.apps "nope" not found'


def test_already_exists(client):
    """Creating an existing name is 409 AlreadyExists."""
    configmaps = _res(client, "v1", "ConfigMap")
    configmaps.create(namespace="default", body=manifests.configmap("dup"))
    with pytest.raises(ConflictError) as caught:
        configmaps.create(namespace="default", body=manifests.configmap("dup"))
    assert _status(caught.value)["reason"] == "AlreadyExists"


def test_create_in_missing_namespace_names_the_namespace(client):
    """Creating in a namespace that does not exist is 404 naming the namespace."""
    with pytest.raises(NotFoundError) as caught:
        _res(client, "v1", "ConfigMap").create(namespace="ghost", body=manifests.configmap("x", namespace="ghost"))
    status = _status(caught.value)
    assert status["details"] == {"name": "ghost", "kind": "namespaces"}
    assert status["message"] == 'namespaces "ghost" not found'


def test_stale_resource_version_conflicts(client):
    """PUT with a resourceVersion that is no longer current is 409 Conflict (optimistic concurrency)."""
    configmaps = _res(client, "v1", "ConfigMap")
    first = configmaps.create(namespace="default", body=manifests.configmap("cc")).to_dict()
    second = dict(first, data={"key": "changed"})
    configmaps.replace(namespace="default", body=second)
    stale = dict(first, data={"key": "stale"})
    with pytest.raises(ConflictError) as caught:
        configmaps.replace(namespace="default", body=stale)
    status = _status(caught.value)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]


def test_put_replaces_whole_object(client):
    """PUT replaces the object: fields absent from the body are gone afterwards."""
    configmaps = _res(client, "v1", "ConfigMap")
    created = configmaps.create(namespace="default", body=manifests.configmap(
        "whole", {"a": "1", "b": "2"}, labels={"x": "y"})).to_dict()
    body = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"c": "3"},
            "metadata": {"name": "whole", "resourceVersion": created["metadata"]["resourceVersion"]}}
    replaced = configmaps.replace(namespace="default", body=body)
    assert replaced.to_dict()["data"] == {"c": "3"}
    assert replaced.metadata.labels is None


@pytest.mark.parametrize("change,bumps_rv,bumps_generation", [
    ({}, False, False),
    ({"metadata": {"labels": {"tier": "web"}}}, True, False),
    ({"spec": {"replicas": 3}}, True, True),
])
def test_resource_version_and_generation(sandbox, client, change, bumps_rv, bumps_generation):
    """resourceVersion changes on every real write and not on a no-op; generation increments
    only when the spec changes (metadata-only changes leave it)."""
    sandbox.control.settings(controllers=False)
    deployments = _res(client, "apps/v1", "Deployment")
    deployments.create(namespace="default", body=manifests.deployment("gen"))
    before = deployments.get(namespace="default", name="gen")
    after = deployments.patch(namespace="default", name="gen", body=change,
                              content_type="application/merge-patch+json")
    assert (after.metadata.resourceVersion != before.metadata.resourceVersion) is bumps_rv
    assert (after.metadata.generation != before.metadata.generation) is bumps_generation


def test_typed_client_without_kind(sandbox):
    """Like the real decoder, a body without kind/apiVersion is accepted: the URL supplies them."""
    core = CoreV1Api(sandbox.api_client())
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "typed"}, "data": {"a": "b"}})
    assert created.kind == "ConfigMap"


def test_generate_name(client):
    """metadata.generateName gets a random 5-character suffix from the server."""
    created = _res(client, "v1", "ConfigMap").create(namespace="default", body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})
    assert created.metadata.name.startswith("gen-") and len(created.metadata.name) == 9


def test_name_mismatch_is_bad_request(sandbox):
    """A PUT body naming another object than the URL is 400 BadRequest."""
    core = CoreV1Api(sandbox.api_client())
    core.create_namespaced_config_map("default", manifests.configmap("left"))
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("left", "default", manifests.configmap("right"))
    assert caught.value.status == 400


def test_delete_returns_status_or_object(sandbox):
    """DELETE returns a Status Success for most kinds, and the object for Pods and Services."""
    core = CoreV1Api(sandbox.api_client())
    core.create_namespaced_config_map("default", manifests.configmap("gone"))
    status = core.delete_namespaced_config_map("gone", "default")
    assert (status["kind"], status["status"]) == ("Status", "Success")
    core.create_namespaced_service("default", manifests.service("svc"))
    deleted = core.delete_namespaced_service("svc", "default")
    assert deleted.kind == "Service"


def test_limit_and_continue(client):
    """limit/continue pages through a list; remainingItemCount counts what is left."""
    configmaps = _res(client, "v1", "ConfigMap")
    for index in range(5):
        configmaps.create(namespace="default", body=manifests.configmap("page-%d" % index, labels={"p": "y"}))
    first = configmaps.get(namespace="default", label_selector="p=y", limit=2)
    assert len(first.items) == 2 and first.metadata.remainingItemCount == 3
    second = configmaps.get(namespace="default", label_selector="p=y", limit=2, _continue=first.metadata["continue"])
    rest = configmaps.get(namespace="default", label_selector="p=y", limit=2, _continue=second.metadata["continue"])
    names = [i.metadata.name for page in (first, second, rest) for i in page.items]
    assert names == ["page-%d" % i for i in range(5)]


@pytest.mark.parametrize("accept,code,content_type", [
    ("application/json", 200, "application/json"),
    ("application/yaml", 200, "application/yaml"),
    ("application/vnd.kubernetes.protobuf", 406, "application/json"),
    ("application/vnd.kubernetes.protobuf, application/json", 200, "application/json"),
])
def test_content_negotiation(sandbox, accept, code, content_type):
    """The server answers JSON or YAML as asked; a client accepting only protobuf gets 406
    (the sandbox does not speak protobuf, and says so)."""
    request = urllib.request.Request(sandbox.url + "/api/v1/namespaces/default", headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request) as response:
            status, header = response.status, response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, header = exc.code, exc.headers["Content-Type"]
    assert (status, header) == (code, content_type)
