"""The REST semantics of the Kubernetes API: verbs, metadata, concurrency, patches, apply, deletion."""
import base64
import copy
import json
import random
import time
import uuid

import yaml

from . import defaults, errors, fields, patch, schema, selectors, validation
from .errors import ApiError
from .store import now_rfc3339

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
ETCD_REQUEST_LIMIT = 1536 * 1024
YamlLoader = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
JOB_ORPHAN_WARNING = ('299 - "child pods are preserved by default when jobs are deleted; set '
                      'propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress '
                      'this warning"')


class Route:
    """A resource URL taken apart."""

    def __init__(self, rtype, namespace=None, name=None, subresource=None):
        self.rtype = rtype
        self.namespace = namespace
        self.name = name
        self.subresource = subresource

    @property
    def collection(self):
        return self.name is None


class Result:
    """A response: status code, JSON-able body, extra headers."""

    def __init__(self, code, body, headers=None):
        self.code = code
        self.body = body
        self.headers = headers or []


def _copy(obj):
    return json.loads(json.dumps(obj))


def _bool_param(value):
    return str(value).lower() in ("1", "true", "yes")


def user_agent_manager(user_agent):
    """The default field manager for non-apply writes: the user agent up to its first '/'."""
    if not user_agent:
        return "unknown"
    return user_agent.split("/", 1)[0][:128]


def _without(obj, keys):
    return {k: v for k, v in obj.items() if k not in keys}


class Api:
    """Operations on the store, all performed under the store lock."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.registry = sandbox.registry
        self.rng = random.Random()
        self._next_ip = 10
        self._next_node_port = 30000

    # Allocation ------------------------------------------------------------------------

    def _used_ips(self):
        used = set()
        for svc in self.store.list(("", "services")):
            used.update((svc.get("spec") or {}).get("clusterIPs") or ())
        return used

    def allocate_ip(self):
        used = self._used_ips()
        while True:
            self._next_ip += 1
            index = self._next_ip
            address = "10.96.%d.%d" % (index // 254, index % 254 + 1)
            if address not in used:
                return address

    def allocate_node_port(self):
        used = set()
        for svc in self.store.list(("", "services")):
            for port in (svc.get("spec") or {}).get("ports") or ():
                used.add(port.get("nodePort"))
        while True:
            self._next_node_port += 1
            if self._next_node_port > 32767:
                self._next_node_port = 30000
            if self._next_node_port not in used:
                return self._next_node_port

    # Helpers -----------------------------------------------------------------------------

    def node_for(self, rtype, subresource=None):
        del subresource
        return schema.root_schema(rtype)

    def _decode(self, rtype, body, query, headers_out):
        """Prune unknown fields and check types like the server's decoder; honour fieldValidation."""
        result = schema.DecodeResult()
        decoded = schema.decode(body, self.node_for(rtype), result)
        if result.type_errors:
            path, owner, go_type, json_type = result.type_errors[0]
            raise errors.bad_request(
                '%s in version "%s" cannot be handled as a %s: json: cannot unmarshal %s into Go struct field '
                '%s.%s of type %s' % (rtype.kind, rtype.version, rtype.kind, json_type, owner or rtype.kind, path,
                                      go_type))
        if result.bad_bytes:
            raise errors.bad_request('%s in version "%s" cannot be handled as a %s: illegal base64 data in field %s'
                                     % (rtype.kind, rtype.version, rtype.kind, result.bad_bytes[0]))
        mode = (query.get("fieldValidation") or "Warn").strip()
        if mode not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request("fieldValidation must be one of Ignore, Warn or Strict, got %s" % mode)
        if result.unknown:
            if mode == "Strict":
                raise errors.bad_request("strict decoding error: %s" % ", ".join(
                    'unknown field "%s"' % f for f in result.unknown))
            if mode == "Warn":
                for field in result.unknown:
                    headers_out.append(("Warning", '299 - "unknown field \\"%s\\""' % field))
        return decoded

    def _check_type_meta(self, rtype, body, required=False):
        """Kind and apiVersion must match the URL; like the server's decoder, missing ones are
        taken from the URL (except for apply, whose configuration must name them)."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        kind = body.get("kind")
        api_version = body.get("apiVersion")
        expected = rtype.group_version
        if required and (not kind or not api_version):
            raise errors.bad_request("invalid object type: %s, Kind=%s" % (api_version or "/", kind or ""))
        if api_version and api_version != expected:
            raise errors.bad_request("the API version in the data (%s) does not match the expected API version "
                                     "(%s)" % (api_version, expected))
        if kind and kind != rtype.kind:
            raise errors.bad_request("the kind in the data (%s) does not match the expected kind (%s)"
                                     % (kind, rtype.kind))
        body["apiVersion"] = expected
        body["kind"] = rtype.kind

    def _check_namespace(self, route, obj, creating=True):
        rtype = route.rtype
        meta = obj.setdefault("metadata", {})
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != route.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        meta["namespace"] = route.namespace
        if not creating:
            return
        ns = self.store.get(("", "namespaces"), "", route.namespace)
        if ns is None:
            raise errors.namespace_not_found(route.namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                "%s \"%s\" is forbidden: unable to create new content in namespace %s because it is being "
                "terminated" % (rtype.qualified, meta.get("name") or meta.get("generateName", ""), route.namespace),
                {"name": meta.get("name") or "", "group": rtype.group, "kind": rtype.plural,
                 "causes": [{"reason": "NamespaceTerminating",
                             "message": "namespace %s is being terminated" % route.namespace,
                             "field": "metadata.namespace"}]})

    def _default(self, rtype, obj, old=None):
        if rtype.custom:
            schema.apply_structural_defaults(obj, self.node_for(rtype))
            return obj
        if rtype.kind == "Service" and old is not None:
            self._keep_allocated(obj, old)
        defaults.apply_defaults(rtype, obj, self.allocate_ip, self.allocate_node_port)
        return obj

    @staticmethod
    def _keep_allocated(new, old):
        """Service updates that omit allocated values keep them (patchAllocatedValues)."""
        new_spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        if new_spec.get("type", "ClusterIP") == "ExternalName":
            return
        if not new_spec.get("clusterIP") and old_spec.get("clusterIP"):
            new_spec["clusterIP"] = old_spec["clusterIP"]
        if not new_spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            new_spec["clusterIPs"] = old_spec["clusterIPs"]
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or ()}
        for port in new_spec.get("ports") or ():
            previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if previous and previous.get("nodePort") and not port.get("nodePort"):
                port["nodePort"] = previous["nodePort"]

    def _validate(self, rtype, obj, old=None):
        found = validation.validate(rtype, obj, self.node_for(rtype))
        if rtype.custom:
            reasons = {"NotSupported": errors.Cause.NOT_SUPPORTED, "Invalid": errors.Cause.INVALID,
                       "TooLong": errors.Cause.TOO_LONG, "Required": errors.Cause.REQUIRED,
                       "TooMany": errors.Cause.TOO_MANY}
            for reason, field, detail, value in schema.structural_errors(obj, self.node_for(rtype)):
                found.append(errors.Cause(reasons[reason], field, detail, value,
                                          show_value=reason in ("NotSupported", "Invalid")))
        if old is not None:
            found.extend(validation.validate_update(rtype, old, obj))
        causes, seen = [], set()
        for cause in found:
            if (cause.field, cause.reason) not in seen:
                seen.add((cause.field, cause.reason))
                causes.append(cause)
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), causes)

    @staticmethod
    def _initial_status(rtype, obj):
        if "status" not in rtype.subresources or rtype.kind == "Node":
            return
        status = {}
        if rtype.kind == "Pod":
            status = {"phase": "Pending", "qosClass": "BestEffort"}
        elif rtype.kind == "Namespace":
            status = {"phase": "Active"}
        elif rtype.kind == "Service":
            status = {"loadBalancer": {}}
        elif rtype.kind == "PersistentVolumeClaim":
            status = {"phase": "Pending"}
        elif rtype.kind == "StatefulSet":
            status = {"replicas": 0, "availableReplicas": 0}
        elif rtype.kind == "ReplicaSet":
            status = {"replicas": 0}
        elif rtype.kind == "DaemonSet":
            status = {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                      "numberReady": 0}
        if rtype.custom:
            obj.pop("status", None)
            return
        obj["status"] = status

    @staticmethod
    def _spec_part(obj):
        return _without(obj, ("metadata", "status"))

    def record(self, rtype, old, new, manager, subresource):
        fields.record_update(old, new, self.node_for(rtype), manager, subresource or "", now_rfc3339(),
                             rtype.group_version)

    def _finish_write(self, route, old, new, dry_run):
        """Persist ``new`` (unless unchanged or dry run); return the stored object."""
        rtype = route.rtype
        if old is not None:
            if rtype.tracks_generation and self._spec_part(old) != self._spec_part(new):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            comparable_old = dict(old, metadata=_without(old["metadata"], ("resourceVersion",)))
            comparable_new = dict(new, metadata=_without(new["metadata"], ("resourceVersion",)))
            if comparable_old == comparable_new:
                return old
        if dry_run:
            if old is not None:
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        meta = new["metadata"]
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers") and \
                not (rtype.kind == "Namespace" and (new.get("spec") or {}).get("finalizers")):
            self.store.remove(rtype.key, new)
            if rtype.kind == "CustomResourceDefinition":
                self.sandbox.sync_crds()
            return new
        self._check_size(new)
        stored = self.store.put(rtype.key, new, old)
        self.sandbox.after_write(rtype, old, stored)
        return stored

    # Reads ---------------------------------------------------------------------------------

    def get(self, route):
        obj = self.store.get(route.rtype.key, route.namespace, route.name)
        if obj is None:
            raise errors.not_found(route.rtype, route.name)
        if route.subresource == "scale":
            return Result(200, self._scale_of(obj))
        return Result(200, obj)

    def list(self, route, query):
        rtype = route.rtype
        label_req = selectors.parse_label_selector(query.get("labelSelector"))
        field_req = selectors.parse_field_selector(query.get("fieldSelector"), rtype.kind)
        items = [obj for obj in self.store.list(rtype.key, route.namespace)
                 if selectors.labels_match(label_req, obj["metadata"].get("labels"))
                 and selectors.fields_match(field_req, obj)]
        list_meta = {"resourceVersion": str(self.store.rv)}
        start = 0
        token = query.get("continue")
        if token:
            try:
                state = json.loads(base64.b64decode(token))
                start = int(state["start"])
                if int(state["rv"]) < self.store.oldest_rv:
                    raise errors.expired("The provided continue parameter is too old to display a consistent list "
                                         "result. You can start a new list without the continue parameter.")
                list_meta["resourceVersion"] = str(state["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request("continue key is not valid: %s" % exc) from exc
        limit = int(query.get("limit") or 0)
        if 0 < limit < len(items) - start:
            page = items[start:start + limit]
            list_meta["continue"] = base64.b64encode(json.dumps(
                {"rv": int(list_meta["resourceVersion"]), "start": start + limit}).encode()).decode()
            list_meta["remainingItemCount"] = len(items) - start - limit
        else:
            page = items[start:]
        if not rtype.custom:
            page = [_without(obj, ("apiVersion", "kind")) for obj in page]
        return Result(200, {"kind": rtype.kind + "List", "apiVersion": rtype.group_version, "metadata": list_meta,
                            "items": page})

    # Writes --------------------------------------------------------------------------------

    def create(self, route, body, query, user_agent):
        rtype = route.rtype
        if route.subresource:
            raise errors.method_not_allowed()
        headers = []
        self._check_type_meta(rtype, body)
        obj = self._decode(rtype, body, query, headers)
        self._check_namespace(route, obj)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                    "selfLink"):
            meta.pop(key, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(self.rng.choice(NAME_SUFFIX_CHARS) for dummy in range(5))
        obj = self.new_object(route, obj)
        manager = query.get("fieldManager") or user_agent_manager(user_agent)
        self.record(rtype, None, obj, manager, "")
        dry_run = self._dry_run(query)
        return Result(201, self.insert(route, obj, dry_run), headers)

    def new_object(self, route, obj):
        rtype = route.rtype
        meta = obj["metadata"]
        self._initial_status(rtype, obj)
        meta["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = now_rfc3339()
        if rtype.tracks_generation:
            meta["generation"] = 1
        if rtype.kind == "Job":
            defaults.job_selector(obj)
        if rtype.kind == "PersistentVolumeClaim" and "storageClassName" not in (obj.get("spec") or {}):
            self._default_storage_class(obj)
        if rtype.kind == "Pod":
            self._check_service_account(obj)
        self._default(rtype, obj)
        self._validate(rtype, obj)
        return obj

    @staticmethod
    def _check_size(obj):
        """etcd refuses values over its request limit (1.5 MiB by default)."""
        if len(json.dumps(obj, separators=(",", ":"))) > ETCD_REQUEST_LIMIT:
            raise errors.internal("etcdserver: request is too large")

    def _check_service_account(self, pod):
        """The ServiceAccount admission plugin: a pod's service account must exist."""
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        namespace = pod["metadata"].get("namespace")
        if self.store.get(("", "serviceaccounts"), namespace, account) is None:
            raise errors.forbidden('pods "%s" is forbidden: error looking up service account %s/%s: serviceaccount '
                                   '"%s" not found' % (pod["metadata"].get("name", ""), namespace, account, account),
                                   {"name": pod["metadata"].get("name", ""), "kind": "pods"})

    def _default_storage_class(self, claim):
        """The DefaultStorageClass admission plugin."""
        for storage_class in self.store.list(("storage.k8s.io", "storageclasses")):
            annotations = storage_class["metadata"].get("annotations") or {}
            if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
                claim.setdefault("spec", {})["storageClassName"] = storage_class["metadata"]["name"]
                return

    def insert(self, route, obj, dry_run):
        rtype = route.rtype
        meta = obj["metadata"]
        if self.store.get(rtype.key, meta.get("namespace"), meta["name"]) is not None:
            raise errors.already_exists(rtype, meta["name"])
        if rtype.kind == "CustomResourceDefinition":
            self.sandbox.check_crd(obj)
        if dry_run:
            return obj
        self._check_size(obj)
        stored = self.store.put(rtype.key, obj)
        self.sandbox.after_write(rtype, None, stored)
        return stored

    def _dry_run(self, query, body=None):
        values = query.get_all("dryRun") if hasattr(query, "get_all") else [query.get("dryRun")]
        values = [v for v in values if v]
        if body and isinstance(body, dict) and body.get("dryRun"):
            values.extend(body["dryRun"])
        for value in values:
            if value != "All":
                raise errors.bad_request('dryRun: Unsupported value: "%s": supported values: "All"' % value)
        return bool(values)

    def _existing(self, route):
        obj = self.store.get(route.rtype.key, route.namespace, route.name)
        if obj is None:
            raise errors.not_found(route.rtype, route.name)
        return obj

    def update(self, route, body, query, user_agent):
        rtype = route.rtype
        headers = []
        old = self._existing(route)
        if route.subresource == "scale":
            return self._update_scale(route, old, body, query, user_agent)
        self._check_type_meta(rtype, body)
        obj = self._decode(rtype, body, query, headers)
        result = self._replace(route, old, obj, query, user_agent_manager(user_agent), check_rv=True)
        return Result(200, result, headers)

    def _replace(self, route, old, obj, query, default_manager, check_rv, manager=None):
        """The common path of PUT and non-apply PATCH: ``obj`` is the full desired object."""
        rtype = route.rtype
        self._check_namespace(route, obj, creating=False)
        meta = obj.setdefault("metadata", {})
        old_meta = old["metadata"]
        if meta.get("name") and meta["name"] != route.name:
            raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (meta["name"], route.name))
        meta["name"] = route.name
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise errors.conflict(rtype, route.name, "Precondition failed: UID in precondition: %s, UID in object "
                                  "meta: %s" % (meta["uid"], old_meta["uid"]))
        if check_rv and meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise errors.conflict(rtype, route.name)
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        managed = meta.get("managedFields")
        if managed is None or managed == []:
            if "managedFields" in old_meta:
                meta["managedFields"] = old_meta["managedFields"]
        elif managed == [{}]:
            meta.pop("managedFields")
        if route.subresource == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            new["metadata"] = copy.deepcopy(old_meta)
        else:
            new = obj
            if "status" in rtype.subresources:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        self._default(rtype, new, old)
        self._validate(rtype, new, old)
        manager = manager or query.get("fieldManager") or default_manager
        self.record(rtype, old, new, manager, route.subresource)
        stored = self._finish_write(route, old, new, self._dry_run(query))
        return stored

    # PATCH -------------------------------------------------------------------------------------

    def patch(self, route, raw_body, content_type, query, user_agent):
        rtype = route.rtype
        content_type = (content_type or "").split(";")[0].strip()
        if content_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_type, PATCH_TYPES)
        if content_type == STRATEGIC_PATCH and rtype.custom:
            raise errors.unsupported_media_type(content_type, (JSON_PATCH, MERGE_PATCH, APPLY_PATCH))
        if query.get("force") and content_type != APPLY_PATCH:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.Cause(
                errors.Cause.FORBIDDEN, "force", "may not be specified for non-apply patch")])
        if content_type == APPLY_PATCH:
            return self.apply(route, raw_body, query)
        try:
            body = json.loads(raw_body or b"null")
        except ValueError as exc:
            raise errors.bad_request("error decoding patch: %s" % exc) from exc
        old = self._existing(route)
        headers = []
        target = self._scale_of(old) if route.subresource == "scale" else _copy(old)
        try:
            if content_type == JSON_PATCH:
                patched = patch.json_patch(target, body)
            elif content_type == MERGE_PATCH:
                if not isinstance(body, dict):
                    raise patch.PatchFormatError("merge patch must be a JSON object")
                patched = patch.merge_patch(target, body)
            else:
                node = schema.definitions()["io.k8s.api.autoscaling.v1.Scale"] \
                    if route.subresource == "scale" else self.node_for(rtype)
                patched = patch.strategic_merge(target, body, node)
        except patch.PatchFormatError as exc:
            raise errors.bad_request(str(exc)) from exc
        except patch.PatchError as exc:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                           {"causes": [{"message": str(exc)}]}) from exc
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        if route.subresource == "scale":
            return self._update_scale(route, old, patched, query, user_agent)
        self._check_type_meta(rtype, patched)
        obj = self._decode(rtype, patched, query, headers)
        check_rv = (obj.get("metadata") or {}).get("resourceVersion") != old["metadata"]["resourceVersion"]
        result = self._replace(route, old, obj, query, user_agent_manager(user_agent), check_rv=check_rv)
        return Result(200, result, headers)

    def apply(self, route, raw_body, query):
        rtype = route.rtype
        manager = query.get("fieldManager")
        if not manager:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.Cause(
                errors.Cause.REQUIRED, "fieldManager", "is required for apply requests")])
        try:
            config = json.loads(raw_body or b"null")
        except ValueError:
            try:
                config = yaml.load(raw_body or b"", Loader=YamlLoader)
            except yaml.YAMLError as exc:
                raise errors.bad_request("error decoding YAML: %s" % exc) from exc
        if route.subresource == "scale":
            raise errors.method_not_allowed()
        self._check_type_meta(rtype, config, required=True)
        headers = []
        config = self._decode(rtype, config, query, headers)
        meta = config.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != route.name:
            raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (meta["name"], route.name))
        if not meta.get("name"):
            raise errors.bad_request("metadata.name: Required value: name is required for apply requests")
        if meta.get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")
        force = _bool_param(query.get("force", "false"))
        dry_run = self._dry_run(query)
        old = self.store.get(rtype.key, route.namespace, route.name)
        node = self.node_for(rtype)
        if old is None:
            if route.subresource:
                raise errors.not_found(rtype, route.name)
            self._check_namespace(route, config)
            if meta.get("resourceVersion"):
                raise errors.conflict(rtype, route.name)
            try:
                obj = fields.server_side_apply(None, config, node, manager, force, "", now_rfc3339(),
                                               rtype.group_version)
            except fields.ApplyConflict as exc:
                raise errors.apply_conflict(rtype, route.name, exc.conflicts) from exc
            obj["metadata"]["name"] = route.name
            if rtype.namespaced:
                obj["metadata"]["namespace"] = route.namespace
            obj = self.new_object(route, obj)
            return Result(201, self.insert(route, obj, dry_run), headers)
        self._check_namespace(route, config, creating=False)
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, route.name)
        if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
            raise errors.conflict(rtype, route.name, "Precondition failed: UID in precondition: %s, UID in "
                                  "object meta: %s" % (meta["uid"], old["metadata"]["uid"]))
        try:
            new = fields.server_side_apply(old, config, node, manager, force, route.subresource or "",
                                           now_rfc3339(), rtype.group_version)
        except fields.ApplyConflict as exc:
            raise errors.apply_conflict(rtype, route.name, exc.conflicts) from exc
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                    "resourceVersion", "name", "namespace"):
            if key in old["metadata"]:
                new["metadata"][key] = old["metadata"][key]
        if route.subresource != "status" and "status" in rtype.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        elif route.subresource == "status":
            status = new.get("status")
            new = dict(copy.deepcopy(old), metadata=new["metadata"])
            if status is not None:
                new["status"] = status
        self._default(rtype, new, old)
        self._validate(rtype, new, old)
        return Result(200, self._finish_write(route, old, new, dry_run), headers)

    # Scale ----------------------------------------------------------------------------------------

    @staticmethod
    def _scale_of(obj):
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        scale_status = {"replicas": status.get("replicas", 0)}
        selector = selectors.label_selector_string(spec.get("selector"))
        if selector:
            scale_status["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                  "creationTimestamp") if k in meta},
                "spec": {"replicas": spec.get("replicas", 0)}, "status": scale_status}

    def _update_scale(self, route, old, scale, query, user_agent):
        if not isinstance(scale, dict) or scale.get("kind", "Scale") != "Scale":
            raise errors.bad_request("the body must be an autoscaling/v1 Scale")
        meta = scale.get("metadata") or {}
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise errors.conflict(route.rtype, route.name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", route.name, [errors.Cause(
                errors.Cause.INVALID, "spec.replicas", "must be greater than or equal to 0", replicas)])
        new = _copy(old)
        new["spec"]["replicas"] = replicas
        manager = query.get("fieldManager") or user_agent_manager(user_agent)
        fields.record_update(old, new, self.node_for(route.rtype), manager, "scale", now_rfc3339(),
                             route.rtype.group_version)
        stored = self._finish_write(route, old, new, self._dry_run(query))
        return Result(200, self._scale_of(stored))

    # Logs ---------------------------------------------------------------------------------------------

    def pod_log(self, route, query):
        """pods/log: a short synthetic log, with the real API's refusals (which container, not started)."""
        pod = self._existing(Route(route.rtype, route.namespace, route.name))
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or ()]
        name = query.get("container")
        if not name:
            if len(containers) != 1:
                raise errors.bad_request("a container name must be specified for pod %s, choose one of: [%s]"
                                         % (route.name, " ".join(containers)))
            name = containers[0]
        if name not in containers:
            raise errors.bad_request("container %s is not valid for pod %s" % (name, route.name))
        statuses = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or ()}
        state = (statuses.get(name) or {}).get("state") or {}
        if "waiting" in state or not state:
            reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
            detail = "trying and failing to pull image" if reason in ("ImagePullBackOff", "ErrImagePull") else \
                "ContainerCreating"
            raise errors.bad_request('container "%s" in pod "%s" is waiting to start: %s' % (name, route.name, detail))
        image = next((c.get("image", "") for c in pod["spec"]["containers"] if c["name"] == name), "")
        started = (state.get("running") or state.get("terminated") or {}).get("startedAt", "")
        lines = ["%s sandbox: container %s started (image %s)" % (started, name, image)]
        terminated = state.get("terminated")
        if terminated:
            lines.append("%s sandbox: container %s exited with code %s" % (
                terminated.get("finishedAt", ""), name, terminated.get("exitCode", 0)))
        if query.get("tailLines"):
            lines = lines[-int(query.get("tailLines")):]
        return Result(200, "\n".join(lines) + "\n")

    # Eviction -----------------------------------------------------------------------------------------

    def evict(self, route, body, query):
        """policy/v1 Eviction: delete the pod gracefully unless a PodDisruptionBudget forbids it (429)."""
        if not isinstance(body, dict) or body.get("kind", "Eviction") != "Eviction":
            raise errors.bad_request("the body must be a policy/v1 Eviction")
        pod = self._existing(Route(route.rtype, route.namespace, route.name))
        labels = pod["metadata"].get("labels") or {}
        dry_run = self._dry_run(query, body.get("deleteOptions"))
        budgets = []
        for pdb in self.store.list(("policy", "poddisruptionbudgets"), route.namespace):
            requirements = selectors.selector_from_label_selector((pdb.get("spec") or {}).get("selector"))
            if requirements and selectors.labels_match(requirements, labels):
                budgets.append(pdb)
        if len(budgets) > 1:
            raise errors.internal("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                                  "does not support.")
        phase = (pod.get("status") or {}).get("phase")
        if budgets and phase not in ("Succeeded", "Failed", "Pending"):
            pdb = budgets[0]
            status = pdb.get("status") or {}
            if status.get("disruptionsAllowed", 0) < 1:
                raise ApiError(429, "TooManyRequests",
                               "Cannot evict pod as it would violate the pod's disruption budget.",
                               {"causes": [{"reason": "DisruptionBudget", "message": (
                                   "The disruption budget %s needs %d healthy pods and has %d currently"
                                   % (pdb["metadata"]["name"], status.get("desiredHealthy", 0),
                                      status.get("currentHealthy", 0)))}]})
            if not dry_run:
                new = _copy(pdb)
                new["status"]["disruptionsAllowed"] = status["disruptionsAllowed"] - 1
                new["status"].setdefault("disruptedPods", {})[route.name] = now_rfc3339()
                self.store.put(("policy", "poddisruptionbudgets"), new, pdb)
        options = body.get("deleteOptions") or {}
        self.delete_object(route.rtype, pod, options.get("propagationPolicy") or "Background", dry_run,
                           options.get("gracePeriodSeconds"))
        return Result(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})

    # DELETE -------------------------------------------------------------------------------------------

    def delete(self, route, raw_body, query):
        rtype = route.rtype
        if route.subresource:
            raise errors.method_not_allowed()
        options = {}
        if raw_body:
            try:
                options = json.loads(raw_body) or {}
            except ValueError as exc:
                raise errors.bad_request("error decoding DeleteOptions: %s" % exc) from exc
        dry_run = self._dry_run(query, options)
        obj = self._existing(route)
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
            raise errors.conflict(rtype, route.name, "Precondition failed: UID in precondition: %s, UID in object "
                                  "meta: %s" % (preconditions["uid"], obj["metadata"]["uid"]))
        if preconditions.get("resourceVersion") and \
                preconditions["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, route.name, "Precondition failed: ResourceVersion in precondition: %s, "
                                  "ResourceVersion in object meta: %s"
                                  % (preconditions["resourceVersion"], obj["metadata"]["resourceVersion"]))
        policy = options.get("propagationPolicy") or query.get("propagationPolicy")
        orphan = options.get("orphanDependents", query.get("orphanDependents"))
        headers = []
        if policy is None and orphan is not None:
            policy = "Orphan" if _bool_param(orphan) else "Background"
        if policy is None:
            policy = "Background"
            if rtype.kind == "Job" and rtype.group == "batch":
                policy = "Orphan"
                headers.append(("Warning", JOB_ORPHAN_WARNING))
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", [errors.Cause(
                errors.Cause.NOT_SUPPORTED, "propagationPolicy",
                'supported values: "Foreground", "Background", "Orphan", "nil"', policy)])
        grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        try:
            grace = int(grace) if grace is not None else None
        except ValueError as exc:
            raise errors.bad_request("gracePeriodSeconds must be an integer") from exc
        result, removed = self.delete_object(rtype, obj, policy, dry_run, grace)
        if removed and not rtype.delete_returns_object:
            details = {"name": route.name, "kind": rtype.plural, "uid": obj["metadata"]["uid"]}
            if rtype.group:
                details["group"] = rtype.group
            return Result(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                "details": details}, headers)
        return Result(200 if removed else 202, result, headers)

    def delete_object(self, rtype, obj, policy="Background", dry_run=False, grace=None):
        """Delete or start deleting ``obj``; return (object, removed_now).

        Pods bound to a node are deleted gracefully: they get a deletionTimestamp (now + grace
        period) and stay until the kubelet confirms their containers stopped."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            if rtype.kind == "Pod" and grace == 0 and not meta.get("finalizers"):
                return (obj, True) if dry_run else (self.store.remove(rtype.key, obj), True)
            return obj, False
        finalizers = list(meta.get("finalizers") or ())
        if rtype.kind == "Pod" and (obj.get("spec") or {}).get("nodeName") and \
                (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            if grace is None:
                grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            if grace > 0:
                new = _copy(obj)
                new["metadata"]["deletionTimestamp"] = now_rfc3339(time.time() + grace)
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                if finalizers:
                    new["metadata"]["finalizers"] = finalizers
                if dry_run:
                    return new, False
                return self.store.put(rtype.key, new, obj), False
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        namespace_pending = rtype.kind == "Namespace"
        if finalizers or namespace_pending:
            new = _copy(obj)
            new["metadata"]["deletionTimestamp"] = now_rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            if rtype.tracks_generation:
                new["metadata"]["generation"] = meta.get("generation", 1) + 1
            if namespace_pending:
                new.setdefault("status", {})["phase"] = "Terminating"
            if dry_run:
                return new, False
            return self.store.put(rtype.key, new, obj), False
        if dry_run:
            return obj, True
        gone = self.store.remove(rtype.key, obj)
        if rtype.kind == "CustomResourceDefinition":
            self.sandbox.sync_crds()
        return gone, True

    def delete_collection(self, route, raw_body, query):
        rtype = route.rtype
        listing = self.list(route, query).body
        deleted = []
        for item in listing["items"]:
            sub = Route(rtype, item["metadata"].get("namespace"), item["metadata"]["name"])
            result = self.delete(sub, raw_body, query)
            deleted.append(item if isinstance(result.body, dict) and result.body.get("kind") == "Status"
                           else result.body)
        listing["items"] = deleted
        return Result(200, listing)
