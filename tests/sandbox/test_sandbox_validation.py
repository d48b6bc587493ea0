"""Validation (422 Invalid with causes), decoding errors, unknown fields, immutability."""
import json
import urllib.request

import pytest
from kubernetes.client.exceptions import ApiException

from k8s_sandbox import manifests


def _status(exc):
    return json.loads(exc.body)


@pytest.fixture
def client(sandbox):
    sandbox.control.settings(controllers=False)
    return sandbox.dynamic_client()


def _res(client, api_version, kind):
    return client.resources.get(api_version=api_version, kind=kind)


@pytest.mark.parametrize("api_version,kind,body,field", [
    ("v1", "ConfigMap", manifests.configmap("Bad_Name"), "metadata.name"),
    ("v1", "Namespace", manifests.namespace("has.dot"), "metadata.name"),
    ("v1", "Service", manifests.service("1starts-with-digit"), "metadata.name"),
    ("apps/v1", "Deployment", manifests.deployment("UPPER"), "metadata.name"),
    ("v1", "ConfigMap", manifests.configmap("ok", labels={"bad key!": "x"}), "metadata.labels"),
    ("v1", "ConfigMap", manifests.configmap("ok", data={"bad/key": "x"}), "data[bad/key]"),
])
def test_invalid_names_and_keys(client, api_version, kind, body, field):
    """Names follow RFC 1123 subdomain (most kinds), RFC 1123 label (Namespace) or RFC 1035
    label (Service); label keys must be qualified names; config keys a restricted charset."""
    namespace = "default" if kind != "Namespace" else None
    with pytest.raises(ApiException) as caught:
        _res(client, api_version, kind).create(namespace=namespace, body=body)
    status = _status(caught.value)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert field in [c["field"] for c in status["details"]["causes"]]


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["spec"].pop("selector"), "spec.selector"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
     "spec.template.spec.containers[0].image"),
    (lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "other"}), "spec.template.metadata.labels"),
    (lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Never"), "spec.template.spec.restartPolicy"),
])
def test_required_and_consistency(client, mutate, field):
    """Missing required fields (schema 'required' and validation) and a selector that does not
    match the template's labels are 422 with a cause per field."""
    body = manifests.deployment("web")
    mutate(body)
    with pytest.raises(ApiException) as caught:
        _res(client, "apps/v1", "Deployment").create(namespace="default", body=body)
    assert field in [c["field"] for c in _status(caught.value)["details"]["causes"]]


def test_type_error_is_bad_request(client):
    """A value of the wrong JSON type cannot be decoded: 400 BadRequest naming the field."""
    body = manifests.deployment("web")
    body["spec"]["replicas"] = "three"
    with pytest.raises(ApiException) as caught:
        _res(client, "apps/v1", "Deployment").create(namespace="default", body=body)
    assert caught.value.status == 400
    assert "spec.replicas" in _status(caught.value)["message"]


def test_unknown_field_strict_is_rejected(sandbox, client):
    """fieldValidation=Strict rejects unknown fields (400, 'strict decoding error')."""
    body = manifests.configmap("strict")
    body["spec"] = {"oops": 1}
    with pytest.raises(ApiException) as caught:
        client.request("POST", "/api/v1/namespaces/default/configmaps", body=body,
                       query_params=[("fieldValidation", "Strict")])
    assert caught.value.status == 400
    assert 'unknown field "spec"' in _status(caught.value)["message"]
    del sandbox


def test_unknown_field_default_warns_and_drops(sandbox):
    """By default (Warn) an unknown field is dropped and reported in a Warning header."""
    body = manifests.configmap("warned")
    body["bogus"] = True
    request = urllib.request.Request(sandbox.url + "/api/v1/namespaces/default/configmaps", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
        assert 'unknown field \\"bogus\\"' in response.headers["Warning"]
        stored = json.loads(response.read())
    assert "bogus" not in stored


IMMUTABLE = [
    ("batch/v1", "Job", manifests.job("j"),
     {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "other:2"}]}}}}, "spec.template"),
    ("apps/v1", "Deployment", manifests.deployment("d"),
     {"spec": {"selector": {"matchLabels": {"app": "d", "x": "y"}},
               "template": {"metadata": {"labels": {"app": "d", "x": "y"}}}}}, "spec.selector"),
    ("apps/v1", "StatefulSet", manifests.statefulset("s"), {"spec": {"serviceName": "renamed"}}, "spec"),
    ("v1", "Service", manifests.service("svc"), {"spec": {"clusterIP": "10.96.200.200"}}, "spec.clusterIPs[0]"),
    ("v1", "ConfigMap", manifests.configmap("frozen", immutable=True), {"data": {"key": "changed"}}, "data"),
    ("v1", "Secret", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sealed"}, "immutable": True,
                      "stringData": {"a": "b"}}, {"stringData": {"a": "c"}}, "data"),
]


@pytest.mark.parametrize("api_version,kind,body,change,field", IMMUTABLE)
def test_immutable_fields(client, api_version, kind, body, change, field):
    """Immutable fields reject changes with 422: Job template/selector, Deployment selector,
    StatefulSet spec beyond the mutable set, Service clusterIP, immutable ConfigMaps/Secrets."""
    resource = _res(client, api_version, kind)
    resource.create(namespace="default", body=body)
    with pytest.raises(ApiException) as caught:
        resource.patch(namespace="default", name=body["metadata"]["name"], body=change,
                       content_type="application/merge-patch+json")
    assert caught.value.status == 422
    assert field in [c["field"] for c in _status(caught.value)["details"]["causes"]]


@pytest.mark.parametrize("change", [
    {"spec": {"replicas": 3}},
    {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "db:2"}]}}}},
    {"spec": {"updateStrategy": {"type": "OnDelete"}}},
])
def test_statefulset_mutable_fields(client, change):
    """StatefulSet replicas, template and updateStrategy may change."""
    resource = _res(client, "apps/v1", "StatefulSet")
    resource.create(namespace="default", body=manifests.statefulset("s"))
    resource.patch(namespace="default", name="s", body=change, content_type="application/strategic-merge-patch+json")


CR_SCHEMA = {"type": "object", "properties": {"spec": {
    "type": "object", "required": ["size"],
    "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 9},
                   "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                   "name": {"type": "string", "pattern": "^[a-z]+$"}}}}}


@pytest.fixture
def gizmos(sandbox):
    client = sandbox.dynamic_client()
    client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(
        body=manifests.crd(plural="gizmos", kind="Gizmo", schema=CR_SCHEMA))
    client.resources.invalidate_cache()
    return client.resources.get(api_version="example.com/v1", kind="Gizmo")


def _gizmo(spec):
    return {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}, "spec": spec}


def test_custom_resource_schema_defaults(gizmos):
    """The CRD's structural schema 'default' values are filled in on create."""
    created = gizmos.create(namespace="default", body=_gizmo({"size": 2}))
    assert created.spec.mode == "safe"


@pytest.mark.parametrize("spec,field,reason", [
    ({}, "spec.size", "FieldValueRequired"),
    ({"size": 0}, "spec.size", "FieldValueInvalid"),
    ({"size": 10}, "spec.size", "FieldValueInvalid"),
    ({"size": 1, "mode": "reckless"}, "spec.mode", "FieldValueNotSupported"),
    ({"size": 1, "name": "Upper"}, "spec.name", "FieldValueInvalid"),
])
def test_custom_resource_schema_constraints(gizmos, spec, field, reason):
    """required, minimum/maximum, enum and pattern of the CRD schema are enforced (422)."""
    with pytest.raises(ApiException) as caught:
        gizmos.create(namespace="default", body=_gizmo(spec))
    assert caught.value.status == 422
    causes = _status(caught.value)["details"]["causes"]
    assert (field, reason) in [(c["field"], c["reason"]) for c in causes]


@pytest.mark.parametrize("claims,valid", [([], False), (["data"], True)])
def test_statefulset_mounts_may_name_claim_templates(client, claims, valid):
    """A volumeMount must name a pod volume; in a StatefulSet a volumeClaimTemplate counts as one."""
    body = manifests.statefulset("db")
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    body["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
                                              "resources": {"requests": {"storage": "1Gi"}}}} for name in claims]
    resource = _res(client, "apps/v1", "StatefulSet")
    if valid:
        assert resource.create(namespace="default", body=body).metadata.name == "db"
    else:
        with pytest.raises(ApiException) as caught:
            resource.create(namespace="default", body=body)
        assert "spec.template.spec.containers[0].volumeMounts[0].name" in [
            c["field"] for c in _status(caught.value)["details"]["causes"]]


@pytest.mark.parametrize("value,status", [("aGVsbG8=", 201), ("not base64!", 400)])
def test_secret_data_must_be_base64(client, value, status):
    """Secret data is []byte on the wire: values must be valid base64 (else 400 at decoding)."""
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b64"}, "data": {"k": value}}
    secrets = _res(client, "v1", "Secret")
    if status == 201:
        assert secrets.create(namespace="default", body=body).data.k == value
    else:
        with pytest.raises(ApiException) as caught:
            secrets.create(namespace="default", body=body)
        assert caught.value.status == 400


@pytest.mark.parametrize("api_version,kind,body,code,field", [
    ("v1", "ConfigMap", manifests.configmap("big", {"blob": "x" * (1024 * 1024 + 1)}), 422, "[]"),
    ("v1", "ConfigMap", manifests.configmap("noted", annotations={"a": "x" * (256 * 1024 + 1)}), 422,
     "metadata.annotations"),
    ("batch/v1", "Job", manifests.job("j" * 64), 422, "spec.template.metadata.labels"),
    ("v1", "ConfigMap", manifests.configmap("ok", {"blob": "x" * 1000}), 201, None),
])
def test_size_limits(client, api_version, kind, body, code, field):
    """ConfigMaps hold at most 1 MiB, annotations at most 256 KiB; a Job name longer than 63
    characters fails because the generated job-name label value would be too long."""
    if "annotations" in body:
        body["metadata"]["annotations"] = body.pop("annotations")
    resource = _res(client, api_version, kind)
    if code == 201:
        assert resource.create(namespace="default", body=body).metadata.name == body["metadata"]["name"]
        return
    with pytest.raises(ApiException) as caught:
        resource.create(namespace="default", body=body)
    assert caught.value.status == code
    assert field in [c["field"] for c in _status(caught.value)["details"]["causes"]]
