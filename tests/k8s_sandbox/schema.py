"""The real API's OpenAPI schemas, as shipped by kubernetes-validate.

They provide field types (for decoding and pruning), required fields, and the list and map
semantics that strategic merge patch and server-side apply need
(``x-kubernetes-patch-merge-key``, ``x-kubernetes-list-type``, ``x-kubernetes-list-map-keys``,
``x-kubernetes-map-type``), so no kind needs a hand-written table.
"""
import base64
import binascii
import json
import os
import re
import threading

import kubernetes_validate

SCHEMA_VERSION = "v1.37.0-local"
SCHEMA_FILE = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema",
                           SCHEMA_VERSION, "_definitions.json")
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

ANY = {"x-kubernetes-preserve-unknown-fields": True}
_LOCK = threading.Lock()
_STATE = {}


def definitions():
    with _LOCK:
        if "defs" not in _STATE:
            with open(SCHEMA_FILE, encoding="utf-8") as handle:
                defs = json.load(handle)["$defs"]
            index = {}
            for name, node in defs.items():
                for gvk in node.get("x-kubernetes-group-version-kind", ()):
                    index[(gvk["group"], gvk["version"], gvk["kind"])] = name
            _STATE["defs"] = defs
            _STATE["gvk"] = index
        return _STATE["defs"]


def definition_name(group, version, kind):
    definitions()
    return _STATE["gvk"].get((group, version, kind))


def root_schema(rtype):
    """The schema node for a whole object of this resource type."""
    if rtype.schema is not None:
        return rtype.schema
    name = definition_name(rtype.group, rtype.version, rtype.kind)
    if name is None:
        return ANY
    return definitions()[name]


def custom_root(open_api_v3_schema):
    """Wrap a CRD's structural schema so metadata is checked like any object's."""
    schema = dict(open_api_v3_schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    properties = dict(schema.get("properties") or {})
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    properties["metadata"] = {"$ref": "#/$defs/" + OBJECT_META}
    schema["properties"] = properties
    schema["type"] = "object"
    return schema


def resolve(node):
    while node is not None and "$ref" in node:
        node = definitions()[node["$ref"].rsplit("/", 1)[-1]]
    return node


def types_of(node):
    kinds = node.get("type")
    if kinds is None:
        return ()
    if isinstance(kinds, str):
        return (kinds,)
    return tuple(k for k in kinds if k != "null")


def is_open(node):
    return node is None or node.get("x-kubernetes-preserve-unknown-fields") is True


def shape(node):
    """One of: any, struct, map, atomic-map, list, scalar, int-or-string."""
    node = resolve(node)
    if node is None:
        return "any"
    if "oneOf" in node or node.get("x-kubernetes-int-or-string"):
        return "scalar"
    kinds = types_of(node)
    if "array" in kinds:
        return "list"
    if "properties" in node:
        if node.get("x-kubernetes-map-type") == "atomic":
            return "atomic-map"
        return "struct"
    if isinstance(node.get("additionalProperties"), dict):
        if node.get("x-kubernetes-map-type") == "atomic":
            return "atomic-map"
        return "map"
    if "object" in kinds or not kinds:
        if node.get("x-kubernetes-map-type") == "atomic":
            return "atomic-map"
        return "any" if is_open(node) or not kinds else "map"
    return "scalar"


def child(node, key):
    """Schema of ``key`` inside an object node, None when unknown."""
    node = resolve(node)
    if node is None:
        return None
    props = node.get("properties")
    if props and key in props:
        return props[key]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    if is_open(node) or not props:
        return None
    return None


def item(node):
    node = resolve(node)
    if node is None:
        return None
    return node.get("items")


def list_semantics(node):
    """(list_type, map_keys, patch_strategy, patch_merge_key) for an array node.

    The field's own node carries the x-kubernetes-* keys, so do not resolve through $ref first.
    """
    if node is None:
        return ("atomic", (), "", None)
    list_type = node.get("x-kubernetes-list-type")
    keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
    strategy = node.get("x-kubernetes-patch-strategy", "")
    merge_key = node.get("x-kubernetes-patch-merge-key")
    if list_type is None:
        if merge_key:
            list_type, keys = "map", (merge_key,)
        elif "merge" in strategy.split(","):
            list_type = "set"
        else:
            list_type = "atomic"
    return (list_type, keys, strategy, merge_key)


def is_required(node):
    node = resolve(node)
    return tuple(node.get("required", ())) if node else ()


_GO_TYPES = {"integer": "int64", "number": "float64", "string": "string", "boolean": "bool",
             "object": "map[string]interface {}", "array": "[]interface {}"}


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _accepts(node, value):
    if "oneOf" in node:
        return any(_accepts(resolve(alt), value) for alt in node["oneOf"])
    kinds = types_of(node)
    if not kinds:
        return True
    for kind in kinds:
        if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind == "string" and isinstance(value, str):
            return True
        if kind == "boolean" and isinstance(value, bool):
            return True
        if kind == "object" and isinstance(value, dict):
            return True
        if kind == "array" and isinstance(value, list):
            return True
    return False


class DecodeResult:
    """What decoding a request body against the schema found."""

    def __init__(self):
        self.unknown = []      # dotted paths of fields the schema does not know (dropped)
        self.type_errors = []  # (path, go struct, expected go type, json type)
        self.bad_bytes = []    # paths of []byte fields whose string is not valid base64


def decode(value, node, result, path="", owner=""):
    """Return ``value`` pruned of unknown fields and nulls; record problems in ``result``."""
    resolved = resolve(node)
    if resolved is None or is_open(resolved) and "properties" not in resolved:
        return value
    if value is None:
        return None
    if not _accepts(resolved, value):
        kinds = types_of(resolved) or ("string",)
        fmt = resolved.get("format")
        go_type = fmt if fmt in ("int32", "int64") else _GO_TYPES.get(kinds[0], kinds[0])
        extra = resolved.get("additionalProperties")
        if kinds[0] == "object" and isinstance(extra, dict) and "string" in types_of(extra):
            go_type = "map[string]string"
        result.type_errors.append((path.lstrip("."), owner, go_type, _json_type(value)))
        return None
    if isinstance(value, dict):
        props = resolved.get("properties")
        extra = resolved.get("additionalProperties")
        struct_name = node.get("$ref", "").rsplit(".", 1)[-1] if isinstance(node, dict) else owner
        out = {}
        for key, sub in value.items():
            sub_path = "%s.%s" % (path, key)
            if props is not None and key in props:
                decoded = decode(sub, props[key], result, sub_path, struct_name or owner)
            elif isinstance(extra, dict):
                decoded = decode(sub, extra, result, sub_path, struct_name or owner)
                if decoded is None and sub is None:
                    out[key] = None
                    continue
            elif props is None or is_open(resolved) or extra is True:
                out[key] = sub
                continue
            else:
                result.unknown.append(sub_path.lstrip("."))
                continue
            if decoded is not None:
                out[key] = decoded
        return out
    if isinstance(value, list):
        items = resolved.get("items")
        decoded_items = []
        for index, sub in enumerate(value):
            decoded = decode(sub, items, result, "%s[%d]" % (path, index), owner)
            if decoded is not None:
                decoded_items.append(decoded)
        return decoded_items
    if isinstance(value, float) and value.is_integer() and "integer" in types_of(resolved):
        return int(value)
    if resolved.get("format") == "byte" and isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            result.bad_bytes.append(path.lstrip("."))
    return value


def missing_required(value, node, path=""):
    """Dotted paths of required fields that are absent (objects only, recursively)."""
    missing = []
    resolved = resolve(node)
    if resolved is None or not isinstance(value, dict):
        return missing
    props = resolved.get("properties") or {}
    for key in resolved.get("required", ()):
        if key not in value and path:
            missing.append("%s.%s" % (path, key) if path else key)
    for key, sub in value.items():
        sub_node = props.get(key)
        if sub_node is None or not path and key == "status":
            continue
        sub_path = "%s.%s" % (path, key) if path else key
        sub_resolved = resolve(sub_node)
        if isinstance(sub, dict):
            missing.extend(missing_required(sub, sub_node, sub_path))
        elif isinstance(sub, list) and sub_resolved is not None:
            for index, element in enumerate(sub):
                if isinstance(element, dict):
                    missing.extend(missing_required(element, sub_resolved.get("items"),
                                                    "%s[%d]" % (sub_path, index)))
    return missing


def apply_structural_defaults(value, node):
    """Fill ``default`` values of a CRD structural schema into an object (in place), as the
    apiextensions server does when it decodes a custom resource."""
    resolved = resolve(node)
    if resolved is None or not isinstance(value, dict):
        return value
    for key, sub in (resolved.get("properties") or {}).items():
        if key not in value and "default" in sub:
            value[key] = json.loads(json.dumps(sub["default"]))
        if key in value:
            child_value = value[key]
            if isinstance(child_value, dict):
                apply_structural_defaults(child_value, sub)
            elif isinstance(child_value, list) and isinstance(sub.get("items"), dict):
                for element in child_value:
                    apply_structural_defaults(element, sub["items"])
    extra = resolved.get("additionalProperties")
    if isinstance(extra, dict):
        for child_value in value.values():
            apply_structural_defaults(child_value, extra)
    return value


def structural_errors(value, node, path=""):
    """(reason, field, detail, value) for CRD schema constraints: required, enum, bounds, pattern, lengths."""
    found = []
    resolved = resolve(node)
    if resolved is None or value is None:
        return found
    if "enum" in resolved and value not in resolved["enum"]:
        found.append(("NotSupported", path, "supported values: %s" % ", ".join(
            json.dumps(v) for v in resolved["enum"]), value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in resolved and value < resolved["minimum"]:
            found.append(("Invalid", path, "should be greater than or equal to %s" % resolved["minimum"], value))
        if "maximum" in resolved and value > resolved["maximum"]:
            found.append(("Invalid", path, "should be less than or equal to %s" % resolved["maximum"], value))
    if isinstance(value, str):
        if "pattern" in resolved and not re.search(resolved["pattern"], value):
            found.append(("Invalid", path, 'should match \'%s\'' % resolved["pattern"], value))
        if "maxLength" in resolved and len(value) > resolved["maxLength"]:
            found.append(("TooLong", path, "may not be more than %d bytes" % resolved["maxLength"], value))
        if "minLength" in resolved and len(value) < resolved["minLength"]:
            found.append(("Invalid", path, "should be at least %d chars long" % resolved["minLength"], value))
    if isinstance(value, dict):
        props = resolved.get("properties") or {}
        for key in resolved.get("required", ()):
            if key not in value:
                found.append(("Required", "%s.%s" % (path, key) if path else key, "", None))
        for key, sub in value.items():
            if key in props and not (path == "" and key == "metadata"):
                found.extend(structural_errors(sub, props[key], "%s.%s" % (path, key) if path else key))
    if isinstance(value, list):
        items = resolved.get("items")
        if "maxItems" in resolved and len(value) > resolved["maxItems"]:
            found.append(("TooMany", path, "must have at most %d items" % resolved["maxItems"], None))
        if isinstance(items, dict):
            for index, element in enumerate(value):
                found.extend(structural_errors(element, items, "%s[%d]" % (path, index)))
    return found
