"""Objects, the global resourceVersion counter and the bounded event history watches read.

Stored objects are never mutated in place: every write stores a fresh dict, so the history can
share references with the store and readers can serialise without copying.
"""
import collections
import json
import os
import threading
import time

FIRST_RESOURCE_VERSION = 1000


TOP_ORDER = ("apiVersion", "kind", "metadata")
META_ORDER = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
              "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
              "ownerReferences", "finalizers", "managedFields")


def _ordered(obj):
    """Key order of the Go structs' JSON encoding (cosmetic, but diffs and snapshots read better)."""
    meta = obj.get("metadata") or {}
    ordered_meta = {k: meta[k] for k in META_ORDER if k in meta}
    ordered_meta.update((k, v) for k, v in meta.items() if k not in ordered_meta)
    result = {k: obj[k] for k in TOP_ORDER if k in obj}
    result["metadata"] = ordered_meta
    result.update((k, v) for k, v in obj.items() if k not in result and k != "status")
    if "status" in obj:
        result["status"] = obj["status"]
    return result


class Event:
    __slots__ = ("rv", "key", "type", "obj", "old")

    def __init__(self, rv, key, event_type, obj, old):
        self.rv = rv
        self.key = key
        self.type = event_type
        self.obj = obj
        self.old = old


class Store:
    """All objects by (group, plural) then (namespace, name)."""

    def __init__(self, history_size=2000, state_dir=None):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.history_size = history_size
        self.state_dir = state_dir
        self._dirty = False
        self.reset()

    def reset(self):
        with self.lock:
            self.objects = collections.defaultdict(dict)
            # resourceVersions never go backwards, not even across a reset: a client holding an
            # older one gets 410 Expired instead of silently missing events.
            self.rv = max(getattr(self, "rv", FIRST_RESOURCE_VERSION), FIRST_RESOURCE_VERSION)
            self.history = collections.deque(maxlen=self.history_size)
            self.oldest_rv = self.rv
            self.by_uid = {}
            self.removals = 0
            self.deletion_marks = 0
            self._dirty = True
            self.changed.notify_all()

    def set_history_size(self, size):
        with self.lock:
            self.history_size = size
            self.history = collections.deque(self.history, maxlen=size)

    def get(self, key, namespace, name):
        return self.objects[key].get((namespace or "", name))

    def list(self, key, namespace=None):
        bucket = self.objects[key]
        names = sorted(bucket)
        if namespace:
            return [bucket[n] for n in names if n[0] == namespace]
        return [bucket[n] for n in names]

    def all_keys(self):
        return [k for k, bucket in self.objects.items() if bucket]

    def _record(self, key, event_type, obj, old):
        self.history.append(Event(self.rv, key, event_type, obj, old))
        if len(self.history) == self.history.maxlen:
            self.oldest_rv = self.history[0].rv - 1
        self._dirty = True
        self.changed.notify_all()

    def put(self, key, obj, old=None):
        """Store ``obj`` (a new dict) under a fresh resourceVersion; return it."""
        self.rv += 1
        obj = _ordered(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        self.objects[key][(meta.get("namespace", ""), meta["name"])] = obj
        self.by_uid[meta["uid"]] = (key, meta.get("namespace", ""), meta["name"])
        if meta.get("deletionTimestamp"):
            self.deletion_marks += 1
        self._record(key, "MODIFIED" if old is not None else "ADDED", obj, old)
        return obj

    def remove(self, key, obj):
        """Remove ``obj``; the DELETED event carries the deletion's resourceVersion."""
        meta = obj["metadata"]
        self.objects[key].pop((meta.get("namespace", ""), meta["name"]), None)
        self.by_uid.pop(meta.get("uid"), None)
        self.removals += 1
        self.rv += 1
        gone = dict(obj)
        gone["metadata"] = dict(meta, resourceVersion=str(self.rv))
        self._record(key, "DELETED", gone, obj)
        return gone

    def by_uid_lookup(self, uid):
        where = self.by_uid.get(uid)
        if where is None:
            return None
        return self.objects[where[0]].get((where[1], where[2]))

    def events_after(self, rv):
        """Events with resourceVersion > rv, oldest first."""
        found = []
        for event in reversed(self.history):
            if event.rv <= rv:
                break
            found.append(event)
        found.reverse()
        return found

    # Persistence -------------------------------------------------------------------------

    def snapshot(self):
        with self.lock:
            return {"resourceVersion": self.rv,
                    "objects": [{"group": key[0], "plural": key[1], "object": obj}
                                for key, bucket in self.objects.items() for obj in bucket.values()]}

    def load(self, data):
        with self.lock:
            self.reset()
            for entry in data.get("objects", ()):
                obj = entry["object"]
                meta = obj["metadata"]
                key = (entry["group"], entry["plural"])
                self.objects[key][(meta.get("namespace", ""), meta["name"])] = obj
                self.by_uid[meta["uid"]] = (key, meta.get("namespace", ""), meta["name"])
            self.rv = max(int(data.get("resourceVersion", FIRST_RESOURCE_VERSION)), FIRST_RESOURCE_VERSION)
            self.oldest_rv = self.rv
            self._dirty = False

    def state_file(self):
        return os.path.join(self.state_dir, "objects.json") if self.state_dir else None

    def load_from_disk(self):
        path = self.state_file()
        if not path or not os.path.exists(path):
            return False
        with open(path, encoding="utf-8") as handle:
            self.load(json.load(handle))
        return True

    def flush(self):
        """Write the state file if anything changed since the last flush."""
        path = self.state_file()
        if not path:
            return
        with self.lock:
            if not self._dirty:
                return
            data = json.dumps(self.snapshot(), separators=(",", ":"))
            self._dirty = False
        os.makedirs(self.state_dir, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def flush_loop(self, stop, interval=0.2):
        while not stop.wait(interval):
            self.flush()
        self.flush()


def now_rfc3339(when=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when if when is not None else time.time()))
