"""The three PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge takes its list semantics from the schema (patch strategy and merge key of each
field), so every built-in kind is covered the same way.
"""
import copy
import json

from . import schema


class PatchError(Exception):
    """The patch could not be applied (answered 422 by the server)."""


class PatchFormatError(Exception):
    """The patch body is malformed (answered 400 by the server)."""


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# JSON patch -----------------------------------------------------------------------------

def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchFormatError("invalid JSON pointer %r" % path)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _container(doc, parts):
    current = doc
    for part in parts[:-1]:
        if isinstance(current, dict):
            if part not in current:
                raise PatchError("doc is missing path: %s" % "/".join([""] + parts))
            current = current[part]
        elif isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError) as exc:
                raise PatchError("doc is missing path: %s" % "/".join([""] + parts)) from exc
        else:
            raise PatchError("doc is missing path: %s" % "/".join([""] + parts))
    return current


def _get(doc, parts):
    if not parts:
        return doc
    parent = _container(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("doc is missing key: %s" % "/".join([""] + parts))
        return parent[last]
    if isinstance(parent, list):
        try:
            return parent[int(last)]
        except (ValueError, IndexError) as exc:
            raise PatchError("doc is missing index: %s" % "/".join([""] + parts)) from exc
    raise PatchError("doc is missing path: %s" % "/".join([""] + parts))


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _container(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                index = int(last)
            except ValueError as exc:
                raise PatchError("invalid array index %r" % last) from exc
            if index < 0 or index > len(parent):
                raise PatchError("add operation does not apply: index %d out of bounds" % index)
            parent.insert(index, value)
    else:
        raise PatchError("add operation does not apply: doc is missing path")
    return doc


def _remove(doc, parts):
    parent = _container(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("remove operation does not apply: doc is missing path: \"%s\""
                             % "/".join([""] + parts))
        del parent[last]
    elif isinstance(parent, list):
        try:
            del parent[int(last)]
        except (ValueError, IndexError) as exc:
            raise PatchError("remove operation does not apply: doc is missing path: \"%s\""
                             % "/".join([""] + parts)) from exc
    return doc


def json_patch(target, operations):
    """Apply RFC 6902 operations atomically (all or none)."""
    if not isinstance(operations, list):
        raise PatchFormatError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise PatchFormatError("invalid JSON patch operation %r" % (operation,))
        op = operation["op"]
        parts = _pointer(operation.get("path", ""))
        if op == "add":
            doc = _add(doc, parts, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            doc = _remove(doc, parts)
        elif op == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(operation.get("value")))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if op == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, value)
        elif op == "test":
            if _get(doc, parts) != operation.get("value"):
                raise PatchError("testing value %s failed: test failed" % operation.get("path"))
        else:
            raise PatchFormatError("Unexpected kind: %s" % op)
    return doc


# Strategic merge patch ----------------------------------------------------------------------

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
SET_ORDER = "$setElementOrder/"


def strategic_merge(target, patch, node):
    """Apply a strategic merge patch to ``target`` (not modified) using schema ``node``."""
    return _smp_map(target if isinstance(target, dict) else {}, patch, node)


def _smp_map(original, patch, node):
    if not isinstance(patch, dict):
        raise PatchFormatError("strategic merge patch must be an object")
    directive = patch.get(DIRECTIVE)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != DIRECTIVE}
    if directive == "delete":
        return None
    result = dict(original)
    retain = patch.get(RETAIN_KEYS)
    for key, value in patch.items():
        if key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(SET_ORDER):
            continue
        if key.startswith(DELETE_FROM_PRIMITIVE):
            field = key[len(DELETE_FROM_PRIMITIVE):]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in (value or ())]
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub_node = schema.child(node, key)
        current = result.get(key)
        if isinstance(value, dict) and schema.shape(sub_node) in ("struct", "map", "any"):
            merged = _smp_map(current if isinstance(current, dict) else {}, value, sub_node)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and schema.shape(sub_node) == "list":
            result[key] = _smp_list(current if isinstance(current, list) else [], value, sub_node)
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(original, patch, node):
    strategies = (node or {}).get("x-kubernetes-patch-strategy", "").split(",")
    merge_key = (node or {}).get("x-kubernetes-patch-merge-key")
    if "merge" not in strategies:
        return [v for v in copy.deepcopy(patch) if not (isinstance(v, dict) and v.get(DIRECTIVE) == "replace")]
    if any(isinstance(v, dict) and v.get(DIRECTIVE) == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and DIRECTIVE in v)]
    if not merge_key:
        result = list(original)
        for value in patch:
            if value not in result:
                result.append(copy.deepcopy(value))
        return result
    item_node = schema.item(node)
    result = list(original)
    for value in patch:
        if not isinstance(value, dict):
            raise PatchFormatError("list item %r must be an object for merge key %s" % (value, merge_key))
        if merge_key not in value:
            raise PatchFormatError("map: %s does not contain declared merge key: %s"
                                   % (json.dumps(value), merge_key))
        index = next((i for i, cur in enumerate(result)
                      if isinstance(cur, dict) and cur.get(merge_key) == value[merge_key]), None)
        if value.get(DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            merged = _smp_map({}, value, item_node)
            if merged is not None:
                result.append(merged)
        else:
            merged = _smp_map(result[index], value, item_node)
            if merged is None:
                del result[index]
            else:
                result[index] = merged
    return result
