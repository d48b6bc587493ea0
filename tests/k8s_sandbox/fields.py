"""Field ownership (metadata.managedFields, FieldsV1) and server-side apply.

A field set is a Python set of paths; a path is a tuple of FieldsV1 path elements:
``f:<field>``, ``k:<json of the list-map key fields>``, ``v:<json value>`` for set members,
and ``.`` for the node itself. List semantics (map keys, sets, atomic lists and maps) come
from the schema, so every kind behaves like on a real server.
"""
import copy
import json

from . import schema

SYSTEM_META = frozenset(("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                         "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"))
# Default values of list-map key fields, as the schema's "default" tells structured-merge-diff.
KEY_DEFAULTS = {"protocol": "TCP"}
DOT = "."


def _json(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def key_element(item, keys):
    fields = {}
    for key in keys:
        if key in item:
            fields[key] = item[key]
        elif key in KEY_DEFAULTS:
            fields[key] = KEY_DEFAULTS[key]
    return "k:" + _json(fields)


def _shape(node, value):
    """How ``value`` participates in field ownership under schema ``node``."""
    if isinstance(value, dict):
        return "map" if schema.shape(node) in ("struct", "map", "any") else "leaf"
    if isinstance(value, list) and schema.shape(node) == "list":
        list_type = schema.list_semantics(node)[0]
        if list_type in ("map", "set"):
            return "list-" + list_type
    return "leaf"


def collect(value, node, prefix=(), out=None, dots=False):
    """Every leaf of ``value`` as paths (what an applier owns; with dots, what a creator owns)."""
    if out is None:
        out = set()
    shape = _shape(node, value)
    if shape == "map":
        if not value and prefix:
            out.add(prefix)
            return out
        if dots and prefix and schema.shape(node) == "map":
            out.add(prefix + (DOT,))
        for key, sub in value.items():
            if sub is not None:
                collect(sub, schema.child(node, key), prefix + ("f:" + key,), out, dots)
    elif shape == "list-map":
        keys = schema.list_semantics(node)[1]
        item_node = schema.item(node)
        if not value and prefix:
            out.add(prefix)
        for element in value:
            if not isinstance(element, dict):
                continue
            element_prefix = prefix + (key_element(element, keys),)
            out.add(element_prefix + (DOT,))
            for key, sub in element.items():
                if sub is not None:
                    collect(sub, schema.child(item_node, key), element_prefix + ("f:" + key,), out, dots)
    elif shape == "list-set":
        if not value and prefix:
            out.add(prefix)
        for element in value:
            out.add(prefix + ("v:" + _json(element),))
    elif prefix:
        out.add(prefix)
    return out


def changed(old, new, node, prefix=(), out=None):
    """Paths whose value an update sets or changes (what an updater takes ownership of)."""
    if out is None:
        out = set()
    if new is None:
        return out
    shape = _shape(node, new)
    if shape == "map" and isinstance(old, dict):
        for key, sub in new.items():
            if sub is None:
                continue
            sub_node = schema.child(node, key)
            if key in old:
                changed(old[key], sub, sub_node, prefix + ("f:" + key,), out)
            else:
                collect(sub, sub_node, prefix + ("f:" + key,), out, dots=True)
        if not new and old and prefix:
            out.add(prefix)
    elif shape == "list-map" and isinstance(old, list):
        keys = schema.list_semantics(node)[1]
        item_node = schema.item(node)
        before = {key_element(e, keys): e for e in old if isinstance(e, dict)}
        for element in new:
            if not isinstance(element, dict):
                continue
            element_key = key_element(element, keys)
            if element_key in before:
                changed(before[element_key], element, item_node, prefix + (element_key,), out)
            else:
                collect([element], node, prefix, out, dots=True)
    elif shape == "list-set" and isinstance(old, list):
        for element in new:
            if element not in old:
                out.add(prefix + ("v:" + _json(element),))
    elif shape in ("map", "list-map", "list-set"):
        collect(new, node, prefix, out, dots=True)
    elif old != new and prefix:
        out.add(prefix)
    return out


def _find(current, element, node):
    """(found, child value, child node) for one path element."""
    if element.startswith("f:"):
        if isinstance(current, dict) and element[2:] in current:
            return True, current[element[2:]], schema.child(node, element[2:])
        return False, None, None
    if element.startswith("k:"):
        if isinstance(current, list):
            keys = schema.list_semantics(node)[1]
            for entry in current:
                if isinstance(entry, dict) and key_element(entry, keys) == element:
                    return True, entry, schema.item(node)
        return False, None, None
    if element.startswith("v:"):
        wanted = json.loads(element[2:])
        if isinstance(current, list) and wanted in current:
            return True, wanted, None
        return False, None, None
    return True, current, node


def value_at(obj, path, node):
    current = obj
    for element in path:
        found, current, node = _find(current, element, node)
        if not found:
            return False, None
    return True, current


def _delete_child(container, element, node):
    if element.startswith("f:") and isinstance(container, dict):
        container.pop(element[2:], None)
    elif element.startswith("k:") and isinstance(container, list):
        keys = schema.list_semantics(node)[1]
        container[:] = [e for e in container if not (isinstance(e, dict) and key_element(e, keys) == element)]
    elif element.startswith("v:") and isinstance(container, list):
        wanted = json.loads(element[2:])
        container[:] = [e for e in container if e != wanted]


def remove_path(obj, path, node):
    """Delete the field at ``path`` from ``obj`` (in place), pruning parents left empty."""
    if path and path[-1] == DOT:
        path = path[:-1]
    if not path:
        return
    head = path[0]
    if len(path) == 1:
        _delete_child(obj, head, node)
        return
    found, sub, sub_node = _find(obj, head, node)
    if not found or not isinstance(sub, (dict, list)):
        return
    remove_path(sub, path[1:], sub_node)
    if sub in ({}, []):
        if isinstance(obj, list):
            obj[:] = [e for e in obj if e is not sub]
        else:
            _delete_child(obj, head, node)


def merge_applied(live, config, node):
    """The live object with an applied configuration merged in (structured merge)."""
    shape = _shape(node, config)
    if shape == "map":
        result = dict(live) if isinstance(live, dict) else {}
        for key, sub in config.items():
            if sub is None:
                continue
            result[key] = merge_applied(result.get(key), sub, schema.child(node, key))
        return result
    if shape == "list-map":
        keys = schema.list_semantics(node)[1]
        item_node = schema.item(node)
        result = list(live) if isinstance(live, list) else []
        index = {key_element(e, keys): i for i, e in enumerate(result) if isinstance(e, dict)}
        for element in config:
            element_key = key_element(element, keys) if isinstance(element, dict) else None
            if element_key in index:
                result[index[element_key]] = merge_applied(result[index[element_key]], element, item_node)
            else:
                result.append(copy.deepcopy(element))
        return result
    if shape == "list-set":
        result = list(live) if isinstance(live, list) else []
        for element in config:
            if element not in result:
                result.append(copy.deepcopy(element))
        return result
    return copy.deepcopy(config)


# FieldsV1 <-> path sets -----------------------------------------------------------------

def from_fields_v1(fields, prefix=()):
    out = set()
    for element, sub in (fields or {}).items():
        path = prefix + (element,)
        if element == DOT or not sub:
            out.add(path)
        else:
            out |= from_fields_v1(sub, path)
    return out


def to_fields_v1(paths):
    root = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return root


def path_string(path):
    text = ""
    for element in path:
        if element.startswith("f:"):
            text += "." + element[2:]
        elif element.startswith("k:"):
            fields = json.loads(element[2:])
            text += "[" + ",".join("%s=%s" % (k, _json(v)) for k, v in fields.items()) + "]"
        elif element.startswith("v:"):
            text += "[=%s]" % element[2:]
    return text


# Object-level bookkeeping ------------------------------------------------------------------

def tracked_part(obj, subresource):
    """The part of an object whose fields are owned through ``subresource`` ('' = main)."""
    if subresource == "status":
        return {"status": obj.get("status")} if obj.get("status") is not None else {}
    result = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        result["metadata"] = {k: v for k, v in meta.items() if k not in SYSTEM_META}
        if not result["metadata"]:
            del result["metadata"]
    return result


class Entry:
    """One managedFields entry, its fields as a path set."""

    def __init__(self, raw):
        self.raw = raw
        self.manager = raw.get("manager", "")
        self.operation = raw.get("operation", "Update")
        self.subresource = raw.get("subresource", "")
        self.paths = from_fields_v1(raw.get("fieldsV1"))
        self.original = set(self.paths)
        self.wrote = False  # the manager changed a value it owns: the entry's time moves

    def same_slot(self, manager, operation, subresource):
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)

    def render(self, now, api_version):
        raw = dict(self.raw)
        if self.paths != self.original or self.wrote or "time" not in raw:
            raw["time"] = now
        raw["apiVersion"] = raw.get("apiVersion") or api_version
        raw["fieldsType"] = "FieldsV1"
        raw["fieldsV1"] = to_fields_v1(self.paths)
        return raw

    def describe(self):
        text = '"%s"' % self.manager
        if self.subresource:
            text += " with subresource %s" % self.subresource
        return text


def _entries(obj):
    return [Entry(raw) for raw in (obj.get("metadata", {}).get("managedFields") or ())]


def _slot(entries, manager, operation, subresource, api_version):
    for entry in entries:
        if entry.same_slot(manager, operation, subresource):
            return entry
    raw = {"manager": manager, "operation": operation, "apiVersion": api_version}
    if subresource:
        raw["subresource"] = subresource
    entry = Entry(raw)
    entries.append(entry)
    return entry


def _finish(obj, entries, node, now, api_version):
    """Drop paths that no longer exist and empty entries; store the result on ``obj``."""
    rendered = []
    for entry in entries:
        entry.paths = {p for p in entry.paths if _present(obj, p, node)}
        if entry.paths:
            rendered.append(entry.render(now, api_version))
    if rendered:
        obj["metadata"]["managedFields"] = rendered
    else:
        obj["metadata"].pop("managedFields", None)


def _present(obj, path, node):
    if not path or path == (DOT,):
        return False
    if path[0] == "f:metadata" and len(path) > 1 and path[1][2:] in SYSTEM_META:
        return False
    return value_at(obj, path[:-1] if path[-1] == DOT else path, node)[0]


def record_update(old, new, node, manager, subresource, now, api_version):
    """Update ``new``'s managedFields for a create/update/non-apply patch by ``manager``."""
    entries = _entries(new) if new.get("metadata", {}).get("managedFields") is not None else []
    before = tracked_part(old, subresource) if old is not None else {}
    after = tracked_part(new, subresource)
    touched = changed(before, after, node)
    if subresource == "status":
        touched = {p for p in touched if p[:1] == ("f:status",)}
    if touched:
        mine = _slot(entries, manager, "Update", subresource, api_version)
        mine.wrote = True
        for entry in entries:
            if entry is mine:
                entry.paths |= touched
            else:
                entry.paths -= touched
    _finish(new, entries, node, now, api_version)
    return new


class ApplyConflict(Exception):
    def __init__(self, conflicts):
        super().__init__("apply conflict")
        self.conflicts = conflicts  # [(manager description, field path string)]


def server_side_apply(live, config, node, manager, force, subresource, now, api_version):
    """Merge ``config`` into ``live`` (a fresh copy is returned) as manager ``manager``.

    Raises ApplyConflict when another manager owns a field the configuration sets to a
    different value and ``force`` is false.
    """
    live = copy.deepcopy(live) if live is not None else {}
    entries = _entries(live)
    applied = tracked_part(config, subresource)
    new_paths = collect(applied, node)
    conflicts = []
    for path in sorted(new_paths):
        if path[-1] == DOT:
            continue
        owners = [e for e in entries if path in e.paths and e.manager != manager]
        if not owners:
            continue
        found_live, live_value = value_at(live, path, node)
        found_cfg, cfg_value = value_at(applied, path, node)
        if not found_live or not found_cfg or live_value == cfg_value:
            continue
        if force:
            for entry in owners:
                entry.paths.discard(path)
        else:
            for entry in owners:
                conflicts.append(("%s using %s" % (entry.describe(), entry.raw.get("apiVersion", api_version)),
                                  path_string(path)))
    if conflicts:
        raise ApplyConflict(conflicts)
    mine = _slot(entries, manager, "Apply", subresource, api_version)
    others = set()
    for entry in entries:
        if entry is not mine:
            others |= entry.paths
    prefixes = {p[:i] for p in others for i in range(1, len(p))}
    for path in sorted(mine.paths - new_paths, key=lambda p: (len(p), p)):
        target = path[:-1] if path[-1] == DOT else path
        if path in others or target in others or target in prefixes:
            continue
        remove_path(live, path, node)
    mine.paths = set(new_paths)
    merged = merge_applied(live, applied, node)
    mine.wrote = tracked_part(merged, subresource) != tracked_part(live, subresource)
    merged.setdefault("metadata", {})
    if live.get("metadata", {}).get("managedFields") is not None or entries:
        merged["metadata"]["managedFields"] = live.get("metadata", {}).get("managedFields")
    for key in ("apiVersion", "kind"):
        if key in config:
            merged[key] = config[key]
    _finish(merged, entries, node, now, api_version)
    return merged
