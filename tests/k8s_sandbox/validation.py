"""Validation (422 Invalid) and immutability rules of the real API server's strategies."""
import json
import re

from . import schema
from .errors import Cause

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
               "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")

# Which name rule each kind uses (others: RFC 1123 subdomain, except path-segment kinds).
NAME_RULES = {
    "Namespace": "label",
    "Service": "dns1035",
    "StatefulSet": "label",
    "CronJob": "subdomain",
}
PATH_SEGMENT_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def _check_name(kind, name, field, causes):
    if kind in PATH_SEGMENT_KINDS:
        if name in (".", "..") or "/" in name or "%" in name:
            causes.append(Cause(Cause.INVALID, field, "may not contain '/' or '%'", name))
        return
    rule = NAME_RULES.get(kind, "subdomain")
    if rule == "label":
        ok, msg, limit = DNS1123_LABEL.match(name), LABEL_MSG, 63
    elif rule == "dns1035":
        ok, msg, limit = DNS1035_LABEL.match(name), DNS1035_MSG, 63
    else:
        ok, msg, limit = DNS1123_SUBDOMAIN.match(name), SUBDOMAIN_MSG, 253
    if len(name) > limit:
        causes.append(Cause(Cause.INVALID, field, "must be no more than %d characters" % limit, name))
    elif not ok:
        causes.append(Cause(Cause.INVALID, field, msg, name))


def _check_qualified_key(key, field, causes):
    prefix, name = key.rpartition("/")[::2]
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        causes.append(Cause(Cause.INVALID, field, "prefix part " + SUBDOMAIN_MSG, key))
    elif not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        causes.append(Cause(Cause.INVALID, field,
                            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
                            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')", key))


def _check_labels(labels, field, causes):
    for key, value in (labels or {}).items():
        _check_qualified_key(key, field, causes)
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            causes.append(Cause(Cause.INVALID, "%s" % field,
                                "a valid label must be an empty string or consist of alphanumeric characters, "
                                "'-', '_' or '.', and must start and end with an alphanumeric character", value))


TOTAL_ANNOTATION_SIZE = 256 * 1024
CONFIG_DATA_SIZE = 1024 * 1024


def _check_meta(kind, meta, causes, path="metadata", need_name=True):
    annotations = meta.get("annotations") or {}
    size = sum(len(k) + len(v if isinstance(v, str) else str(v)) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE:
        causes.append(Cause(Cause.TOO_LONG, path + ".annotations",
                            "must have at most %d bytes" % TOTAL_ANNOTATION_SIZE))
    name = meta.get("name")
    if need_name:
        if not name and not meta.get("generateName"):
            causes.append(Cause(Cause.REQUIRED, path + ".name", "name or generateName is required"))
        elif name:
            _check_name(kind, name, path + ".name", causes)
    _check_labels(meta.get("labels"), path + ".labels", causes)
    for key in (meta.get("annotations") or {}):
        _check_qualified_key(key.lower(), path + ".annotations", causes)


def _check_selector_matches(spec, path, causes):
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict):
        return
    match_labels = selector.get("matchLabels") or {}
    if not match_labels and not selector.get("matchExpressions"):
        causes.append(Cause(Cause.INVALID, path + ".selector", "empty selector is invalid for deployment",
                            selector, show_value=False))
        return
    for key, value in match_labels.items():
        if labels.get(key) != value:
            causes.append(Cause(Cause.INVALID, path + ".template.metadata.labels",
                                "`selector` does not match template `labels`", labels, show_value=False))
            return


def _check_pod_spec(spec, path, causes, restart_policies=None, claim_names=()):
    if not isinstance(spec, dict):
        return
    containers = spec.get("containers")
    if not containers:
        causes.append(Cause(Cause.REQUIRED, path + ".containers", ""))
    seen = set()
    for key in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(key) or ()):
            cpath = "%s.%s[%d]" % (path, key, index)
            name = container.get("name", "")
            if not name:
                causes.append(Cause(Cause.REQUIRED, cpath + ".name", ""))
            elif not DNS1123_LABEL.match(name) or len(name) > 63:
                causes.append(Cause(Cause.INVALID, cpath + ".name", LABEL_MSG, name))
            elif name in seen:
                causes.append(Cause(Cause.DUPLICATE, cpath + ".name", "", name))
            seen.add(name)
            if not container.get("image"):
                causes.append(Cause(Cause.REQUIRED, cpath + ".image", ""))
            for pindex, port in enumerate(container.get("ports") or ()):
                number = port.get("containerPort")
                if not isinstance(number, int) or not 0 < number < 65536:
                    causes.append(Cause(Cause.INVALID, "%s.ports[%d].containerPort" % (cpath, pindex),
                                        "must be between 1 and 65535, inclusive", number))
                pname = port.get("name")
                if pname and (len(pname) > 15 or not re.match(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", pname)
                              or not re.search(r"[a-z]", pname)):
                    causes.append(Cause(Cause.INVALID, "%s.ports[%d].name" % (cpath, pindex),
                                        "must be no more than 15 characters and contain only lowercase "
                                        "alphanumerics and '-', with at least one letter", pname))
    volume_names = set(claim_names)
    for index, volume in enumerate(spec.get("volumes") or ()):
        name = volume.get("name", "")
        if name in volume_names:
            causes.append(Cause(Cause.DUPLICATE, "%s.volumes[%d].name" % (path, index), "", name))
        volume_names.add(name)
    for key in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(key) or ()):
            for mindex, mount in enumerate(container.get("volumeMounts") or ()):
                if mount.get("name") not in volume_names:
                    causes.append(Cause(Cause.NOT_FOUND, "%s.%s[%d].volumeMounts[%d].name" % (path, key, index, mindex),
                                        "", mount.get("name")))
    policy = spec.get("restartPolicy")
    if restart_policies and policy not in restart_policies:
        causes.append(Cause(Cause.NOT_SUPPORTED, path + ".restartPolicy",
                            "supported values: %s" % ", ".join('"%s"' % p for p in restart_policies), policy))


def _check_service(spec, causes):
    ports = spec.get("ports") or []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(Cause(Cause.REQUIRED, "spec.ports", ""))
    names = set()
    for index, port in enumerate(ports):
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(Cause(Cause.INVALID, "spec.ports[%d].port" % index,
                                "must be between 1 and 65535, inclusive", number))
        if len(ports) > 1 and not port.get("name"):
            causes.append(Cause(Cause.REQUIRED, "spec.ports[%d].name" % index, ""))
        if port.get("name") in names:
            causes.append(Cause(Cause.DUPLICATE, "spec.ports[%d].name" % index, "", port.get("name")))
        names.add(port.get("name"))
    if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(Cause(Cause.NOT_SUPPORTED, "spec.type",
                            'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
                            spec.get("type")))


def _check_data_keys(obj, causes):
    for field in ("data", "binaryData", "stringData"):
        for key in (obj.get(field) or {}):
            if not CONFIG_KEY.match(key) or len(key) > 253:
                causes.append(Cause(Cause.INVALID, "%s[%s]" % (field, key),
                                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                                    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                                    "is '[-._a-zA-Z0-9]+')", key))


def validate(rtype, obj, node):
    """All field errors of a defaulted object (create or update)."""
    causes = []
    kind = rtype.kind
    meta = obj.get("metadata") or {}
    _check_meta(kind, meta, causes)
    if meta.get("namespace") and not rtype.namespaced:
        meta.pop("namespace")
    for path in schema.missing_required(obj, node):
        causes.append(Cause(Cause.REQUIRED, path, ""))
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"):
        _check_selector_matches(spec, "spec", causes)
        _check_meta(kind, (spec.get("template") or {}).get("metadata") or {}, causes,
                    "spec.template.metadata", need_name=False)
        # StatefulSet pods also get a volume per volumeClaimTemplate, which mounts may name.
        claims = [(c.get("metadata") or {}).get("name") for c in spec.get("volumeClaimTemplates") or ()
                  if isinstance(c, dict)] if kind == "StatefulSet" else ()
        _check_pod_spec((spec.get("template") or {}).get("spec"), "spec.template.spec", causes, ("Always",), claims)
        if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
            causes.append(Cause(Cause.INVALID, "spec.replicas", "must be greater than or equal to 0",
                                spec["replicas"]))
    elif kind == "Job":
        _check_meta(kind, (spec.get("template") or {}).get("metadata") or {}, causes,
                    "spec.template.metadata", need_name=False)
        _check_pod_spec((spec.get("template") or {}).get("spec"), "spec.template.spec", causes,
                        ("OnFailure", "Never"))
    elif kind == "CronJob":
        job_spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
        _check_pod_spec((job_spec.get("template") or {}).get("spec"), "spec.jobTemplate.spec.template.spec",
                        causes, ("OnFailure", "Never"))
    elif kind == "Pod":
        _check_pod_spec(spec, "spec", causes, ("Always", "OnFailure", "Never"))
    elif kind == "Service":
        _check_service(spec, causes)
    elif kind in ("ConfigMap", "Secret"):
        _check_data_keys(obj, causes)
        if kind == "ConfigMap":
            size = sum(len(k) + len(v or "") for field in ("data", "binaryData")
                       for k, v in (obj.get(field) or {}).items())
        else:
            size = sum(len(k) + len(v or "") * 3 // 4 for k, v in (obj.get("data") or {}).items())
        if size > CONFIG_DATA_SIZE:
            causes.append(Cause(Cause.TOO_LONG, "data" if kind == "Secret" else "[]",
                                "must have at most %d bytes" % CONFIG_DATA_SIZE))
        keys = set(obj.get("data") or {}) & set(obj.get("binaryData") or {})
        for key in sorted(keys):
            causes.append(Cause(Cause.INVALID, "data[%s]" % key, "duplicate of key present in binaryData", key))
    elif kind == "PodDisruptionBudget":
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            causes.append(Cause(Cause.INVALID, "spec", "minAvailable and maxUnavailable cannot be both set",
                                None, show_value=False))
    return causes


def _go_value(value):
    return json.dumps(value, sort_keys=True)


def _immutable(old, new, field, causes):
    if old != new:
        causes.append(Cause(Cause.INVALID, field, "field is immutable", _go_value(new), show_value=False))


STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                       "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def validate_update(rtype, old, new):
    """Immutability rules (only on updates)."""
    causes = []
    kind = rtype.kind
    old_spec = old.get("spec") or {}
    new_spec = new.get("spec") or {}
    if kind in ("Deployment", "ReplicaSet", "DaemonSet"):
        if old_spec.get("selector") != new_spec.get("selector"):
            causes.append(Cause(Cause.INVALID, "spec.selector", "field is immutable",
                                _go_value(new_spec.get("selector")), show_value=True))
    elif kind == "StatefulSet":
        frozen_old = {k: v for k, v in old_spec.items() if k not in STATEFULSET_MUTABLE}
        frozen_new = {k: v for k, v in new_spec.items() if k not in STATEFULSET_MUTABLE}
        if frozen_old != frozen_new:
            causes.append(Cause(Cause.FORBIDDEN, "spec",
                                "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                "'template', 'updateStrategy', 'revisionHistoryLimit', "
                                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    elif kind == "Job":
        for field in ("selector", "template", "completionMode"):
            if old_spec.get(field) != new_spec.get(field):
                causes.append(Cause(Cause.INVALID, "spec." + field, "field is immutable",
                                    _go_value(new_spec.get(field)), show_value=True))
    elif kind == "Service":
        if old_spec.get("clusterIP") and old_spec.get("clusterIP") != new_spec.get("clusterIP"):
            causes.append(Cause(Cause.INVALID, "spec.clusterIPs[0]", "may not change once set",
                                new_spec.get("clusterIP")))
    elif kind in ("ConfigMap", "Secret"):
        if old.get("immutable"):
            if not new.get("immutable"):
                causes.append(Cause(Cause.FORBIDDEN, "immutable", "field is immutable when `immutable` is set"))
            for field in ("data", "binaryData"):
                if (old.get(field) or {}) != (new.get(field) or {}):
                    causes.append(Cause(Cause.FORBIDDEN, field, "field is immutable when `immutable` is set"))
        if kind == "Secret" and old.get("type") != new.get("type"):
            causes.append(Cause(Cause.INVALID, "type", "field is immutable", new.get("type")))
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        if old.get("roleRef") != new.get("roleRef"):
            causes.append(Cause(Cause.INVALID, "roleRef", "cannot change roleRef", _go_value(new.get("roleRef")),
                                show_value=False))
    elif kind == "PersistentVolumeClaim":
        mutable = ("resources", "volumeAttributesClassName", "volumeName")
        frozen_old = {k: v for k, v in old_spec.items() if k not in mutable}
        frozen_new = {k: v for k, v in new_spec.items() if k not in mutable}
        if frozen_old != frozen_new:
            causes.append(Cause(Cause.FORBIDDEN, "spec", "spec is immutable after creation except "
                                "resources.requests and volumeAttributesClassName for bound claims"))
    elif kind == "Pod":
        mutable = ("containers", "initContainers", "activeDeadlineSeconds", "tolerations",
                   "terminationGracePeriodSeconds", "schedulingGates")
        if {k: v for k, v in old_spec.items() if k not in mutable} != \
                {k: v for k, v in new_spec.items() if k not in mutable}:
            causes.append(Cause(Cause.FORBIDDEN, "spec", "pod updates may not change fields other than "
                                "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                                "was previously negative)"))
    old_meta, new_meta = old.get("metadata", {}), new.get("metadata", {})
    if old_meta.get("deletionTimestamp"):
        added = set(new_meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
        if added:
            causes.append(Cause(Cause.FORBIDDEN, "metadata.finalizers",
                                "no new finalizers can be added if the object is being deleted, found new "
                                "finalizers []string{%s}" % ", ".join('"%s"' % f for f in sorted(added))))
    return causes
