"""A background simulation of the controllers and kubelets a deployment tool waits on.

Deployments own ReplicaSets which own Pods; StatefulSets, DaemonSets and Jobs own Pods.
Pods are scheduled onto Nodes (nodeSelector, taints and tolerations), turn Running/Ready after a
configurable delay, and never do when settings name them (or their owner, or their image) as
broken. Workload status is computed from the pods, as the real controllers do. The garbage
collector honours ownerReferences and the foreground/orphan finalizers, the namespace controller
empties Terminating namespaces, and every namespace gets its ``default`` ServiceAccount.
"""
import copy
import hashlib
import random
import sys
import threading
import time
import traceback

from . import settings as settings_mod
from .errors import ApiError
from .store import now_rfc3339

MANAGER = "kube-controller-manager"
SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
TIME_KEYS = ("lastTransitionTime", "lastUpdateTime", "lastProbeTime", "startTime", "startedAt", "finishedAt",
             "completionTime", "lastHeartbeatTime")
POD_KEY = ("", "pods")
RS_KEY = ("apps", "replicasets")


def template_hash(template):
    digest = hashlib.sha256(repr(_canonical(template)).encode()).digest()
    return "".join(SAFE_CHARS[b % len(SAFE_CHARS)] for b in digest[:10])


def _canonical(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in TIME_KEYS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _keep_times(new, old):
    """Copy timestamps from ``old`` conditions/containers whose content did not change."""
    if isinstance(new, dict) and isinstance(old, dict):
        for key, value in new.items():
            if key in TIME_KEYS and key in old and _without_times(new) == _without_times(old):
                new[key] = old[key]
            elif key in old:
                _keep_times(value, old[key])
    elif isinstance(new, list) and isinstance(old, list):
        for index, value in enumerate(new):
            match = None
            if isinstance(value, dict) and ("type" in value or "name" in value):
                ident = ("type", value.get("type")) if "type" in value else ("name", value.get("name"))
                match = next((o for o in old if isinstance(o, dict) and o.get(ident[0]) == ident[1]), None)
            elif index < len(old):
                match = old[index]
            if match is not None:
                _keep_times(value, match)


def _ready(pod):
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _terminal(pod):
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _owner_ref(owner, kind, api_version):
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _resolve_int_or_percent(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        amount = int(value[:-1]) * total / 100.0
        return int(-(-amount // 1)) if round_up else int(amount)
    return int(value or 0)


def _tolerates(tolerations, taint):
    for toleration in tolerations or ():
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def node_fits(node, pod_spec, daemon=False):
    labels = node["metadata"].get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    spec = node.get("spec") or {}
    if spec.get("unschedulable") and not daemon:
        return False
    for taint in spec.get("taints") or ():
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not _tolerates(pod_spec.get("tolerations"), taint):
            return False
    return True


class Controllers:
    """Runs ``tick`` whenever the store changes or a timer (a readiness delay) is due."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.stop_event = threading.Event()
        self.thread = None
        self.rng = random.Random(7)
        self.forget()

    def forget(self):
        self.seen = {}
        self.progress = {}
        self.events_sent = set()
        self.failures = {}
        self.ticks = 0
        self.last_rv = -1
        self.wake_at = 0.0
        self.gc_marks = None
        self.gc_pending = False
        self.owned = {}
        self.owned_all = {}
        self.nodes = []
        self.next_pod_ip = 0

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="k8s-sandbox-controllers", daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        store = self.sandbox.store
        with store.changed:
            store.changed.notify_all()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _loop(self):
        store = self.sandbox.store
        while not self.stop_event.is_set():
            with store.changed:
                now = time.monotonic()
                if store.rv == self.last_rv and now < self.wake_at:
                    store.changed.wait(min(0.5, self.wake_at - now))
            if self.stop_event.is_set():
                break
            if not self.sandbox.settings.get("controllers", True):
                self.stop_event.wait(0.1)
                continue
            try:
                self.tick()
            except Exception:  # pylint: disable=broad-except
                traceback.print_exc(file=sys.stderr)
                self.wake_at = time.monotonic() + 0.5
            self.stop_event.wait(0.05)

    # Helpers ---------------------------------------------------------------------------------------

    def _rtype(self, key):
        return self.sandbox.registry.by_key(*key)

    def _first_seen(self, obj, extra=""):
        key = obj["metadata"]["uid"] + extra
        if key not in self.seen:
            self.seen[key] = time.monotonic()
        return self.seen[key]

    def _due(self, when):
        now = time.monotonic()
        if now >= when:
            return True
        self.wake_at = min(self.wake_at, when)
        return False

    def _write(self, key, old, new, subresource="", manager=MANAGER):
        if subresource == "status":
            _keep_times(new.get("status"), old.get("status"))
        if new == old:
            return old
        rtype = self._rtype(key)
        if not subresource and rtype.tracks_generation:
            if {k: v for k, v in old.items() if k not in ("metadata", "status")} != \
                    {k: v for k, v in new.items() if k not in ("metadata", "status")}:
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        self.sandbox.api.record(rtype, old, new, manager, subresource)
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not (
                rtype.kind == "Namespace" and (new.get("spec") or {}).get("finalizers")):
            self.sandbox.store.remove(key, new)
            return None
        return self.sandbox.store.put(key, new, old)

    def _set_status(self, key, obj, status, manager=MANAGER):
        if _without_times(obj.get("status") or {}) == _without_times(status):
            return obj
        new = copy.deepcopy(obj)
        new["status"] = status
        return self._write(key, obj, new, "status", manager)

    def _create(self, key, body, manager=MANAGER):
        try:
            return self.sandbox.create_system(key, body, manager)
        except ApiError:
            return None

    def _delete(self, key, obj, policy="Background"):
        return self.sandbox.api.delete_object(self._rtype(key), obj, policy)

    def _suffix(self):
        return "".join(self.rng.choice(SAFE_CHARS) for dummy in range(5))

    def _matches(self, rules, chain):
        for obj, kind in chain:
            rule = settings_mod.first_match(rules, obj, kind)
            if rule is not None:
                return rule
        return None

    # The tick ------------------------------------------------------------------------------------------

    def tick(self):
        """One pass of every controller. The store lock is taken per object, so API requests
        interleave with a long pass; each handler works on the object's current version."""
        store = self.sandbox.store
        with store.lock:
            self.wake_at = time.monotonic() + 1.0
            started_rv = store.rv
            self.sandbox.sync_crds()
            self._namespaces()
            marks = (store.removals, store.deletion_marks)
            if marks != self.gc_marks or self.gc_pending:
                self.gc_marks = marks
                self._garbage_collect()
            self._index_pods()
            self.ticks += 1
            if self.ticks % 200 == 0:
                self._forget_gone()
        for key, handler in ((("apps", "deployments"), self._deployment), (RS_KEY, self._replicaset),
                             (("apps", "statefulsets"), self._statefulset), (("apps", "daemonsets"), self._daemonset),
                             (("batch", "jobs"), self._job), (POD_KEY, self._kubelet)):
            self._each(key, handler)
        with store.lock:
            self._index_pods()
        for key, handler in ((RS_KEY, self._replicaset_status), (("apps", "deployments"), self._deployment_status),
                             (("apps", "statefulsets"), self._statefulset_status),
                             (("apps", "daemonsets"), self._daemonset_status), (("batch", "jobs"), self._job_status)):
            self._each(key, handler)
        for key, handler in ((("", "services"), self._endpoints), (("policy", "poddisruptionbudgets"), self._pdb),
                             (("", "persistentvolumeclaims"), self._bind_claim)):
            self._each(key, handler)
        self.last_rv = started_rv if store.rv != started_rv else store.rv

    def _forget_gone(self):
        """Drop timers and bookkeeping of objects that no longer exist."""
        alive = self.sandbox.store.by_uid
        self.seen = {k: v for k, v in self.seen.items() if k.split("/", 1)[0] in alive}
        self.failures = {k: v for k, v in self.failures.items() if k in alive}
        self.progress = {k: v for k, v in self.progress.items() if k in alive}
        self.events_sent = {k for k in self.events_sent if k in alive}

    def _index_pods(self):
        store = self.sandbox.store
        self.owned = {}
        self.owned_all = {}
        for pod in store.list(POD_KEY):
            for ref in pod["metadata"].get("ownerReferences") or ():
                self.owned_all.setdefault(ref.get("uid"), []).append(pod)
                if not pod["metadata"].get("deletionTimestamp"):
                    self.owned.setdefault(ref.get("uid"), []).append(pod)
        self.nodes = [n for n in store.list(("", "nodes")) if not n["metadata"].get("deletionTimestamp")]

    def _each(self, key, handler):
        store = self.sandbox.store
        with store.lock:
            names = [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in store.list(key)]
        for namespace, name in names:
            with store.lock:
                current = store.get(key, namespace, name)
                if current is not None:
                    handler(current)

    # Namespaces and garbage collection -----------------------------------------------------------------

    def _namespaces(self):
        store = self.sandbox.store
        delay = float(self.sandbox.settings.get("namespace_delete_delay", 0.1))
        for ns in store.list(("", "namespaces")):
            name = ns["metadata"]["name"]
            if not ns["metadata"].get("deletionTimestamp"):
                self._namespace_defaults(ns)
                continue
            if not self._due(self._first_seen(ns, "/terminating") + delay):
                continue
            remaining = {}
            finalizers = {}
            for rtype in self.sandbox.registry.all():
                if not rtype.namespaced:
                    continue
                for obj in store.list(rtype.key, name):
                    remaining[rtype.qualified] = remaining.get(rtype.qualified, 0) + 1
                    for finalizer in obj["metadata"].get("finalizers") or ():
                        finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.sandbox.api.delete_object(rtype, obj, "Background")
            if remaining:
                self._namespace_conditions(ns, remaining, finalizers)
                self.wake_at = min(self.wake_at, time.monotonic() + 0.05)
                continue
            new = copy.deepcopy(ns)
            new["spec"]["finalizers"] = [f for f in (new.get("spec") or {}).get("finalizers") or ()
                                         if f != "kubernetes"]
            self._write(("", "namespaces"), ns, new, "finalize")

    def _namespace_conditions(self, ns, remaining, finalizers):
        """The namespace controller's conditions while content is being deleted."""
        now = now_rfc3339()

        def condition(kind, status, reason, message):
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastTransitionTime": now}
        content = ", ".join("%s has %d resource instances" % item for item in sorted(remaining.items()))
        held = ", ".join("%s in %d resource instances" % item for item in sorted(finalizers.items()))
        conditions = [
            condition("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
                      "All resources successfully discovered"),
            condition("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                      "All legacy kube types successfully parsed"),
            condition("NamespaceDeletionContentFailure", "False", "ContentDeleted",
                      "All content successfully deleted, may be waiting on finalization"),
            condition("NamespaceContentRemaining", "True", "SomeResourcesRemain",
                      "Some resources are remaining: %s" % content),
            condition("NamespaceFinalizersRemaining", "True" if finalizers else "False",
                      "SomeFinalizersRemain" if finalizers else "ContentHasNoFinalizers",
                      "Some content in the namespace has finalizers remaining: %s" % held if finalizers else
                      "All content-preserving finalizers finished")]
        status = dict(ns.get("status") or {}, phase="Terminating", conditions=conditions)
        self._set_status(("", "namespaces"), ns, status)

    def namespace_defaults(self):
        """Give every active namespace its default ServiceAccount and kube-root-ca.crt ConfigMap."""
        with self.sandbox.store.lock:
            for ns in self.sandbox.store.list(("", "namespaces")):
                if not ns["metadata"].get("deletionTimestamp"):
                    self._namespace_defaults(ns)

    def _namespace_defaults(self, ns):
        store = self.sandbox.store
        name = ns["metadata"]["name"]
        if store.get(("", "serviceaccounts"), name, "default") is None:
            self._create(("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                   "metadata": {"name": "default", "namespace": name}})
        if store.get(("", "configmaps"), name, "kube-root-ca.crt") is None:
            self._create(("", "configmaps"), {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": name,
                             "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used "
                                             "to verify the kube-apiserver when using internal endpoints such as "
                                             "the internal service IP or kubernetes.default.svc. No other usage is "
                                             "guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nsandbox\n-----END CERTIFICATE-----\n"}})

    def _garbage_collect(self):
        store = self.sandbox.store
        self.gc_pending = False
        dependents = {}
        everything = []
        for key in store.all_keys():
            for obj in store.list(key):
                everything.append((key, obj))
                for ref in obj["metadata"].get("ownerReferences") or ():
                    dependents.setdefault(ref.get("uid"), []).append((key, obj))
        for key, stale in everything:
            obj = store.get(key, stale["metadata"].get("namespace"), stale["metadata"]["name"])
            if obj is None:
                continue
            meta = obj["metadata"]
            finalizers = meta.get("finalizers") or ()
            if meta.get("deletionTimestamp") and ("orphan" in finalizers or "foregroundDeletion" in finalizers):
                children = [(k, o) for k, o in dependents.get(meta["uid"], ())
                            if store.get(k, o["metadata"].get("namespace"), o["metadata"]["name"]) is o]
                if "orphan" in finalizers:
                    for child_key, child in children:
                        new = copy.deepcopy(child)
                        new["metadata"]["ownerReferences"] = [
                            r for r in child["metadata"]["ownerReferences"] if r.get("uid") != meta["uid"]]
                        if not new["metadata"]["ownerReferences"]:
                            del new["metadata"]["ownerReferences"]
                        self._write(child_key, child, new, manager="kube-controller-manager")
                    self._drop_finalizer(key, obj, "orphan")
                elif children:
                    for child_key, child in children:
                        if not child["metadata"].get("deletionTimestamp"):
                            self._delete(child_key, child, "Foreground")
                    self.gc_pending = True
                    self.wake_at = min(self.wake_at, time.monotonic() + 0.05)
                else:
                    self._drop_finalizer(key, obj, "foregroundDeletion")
                continue
            refs = meta.get("ownerReferences")
            if refs and not meta.get("deletionTimestamp") and \
                    all(store.by_uid_lookup(ref.get("uid")) is None for ref in refs):
                self._delete(key, obj)

    def _drop_finalizer(self, key, obj, finalizer):
        current = self.sandbox.store.get(key, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if current is None:
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or () if f != finalizer]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self._write(key, current, new, manager="kube-controller-manager")

    # Pods ------------------------------------------------------------------------------------------------

    def _available(self, pod, min_ready):
        """Ready for at least minReadySeconds."""
        if not _ready(pod):
            return False
        if not min_ready:
            return True
        return self._due(self._first_seen(pod, "/ready") + float(min_ready))

    def _create_pod(self, owner, owner_kind, body):
        """Create a pod as the owner's controller; remember (and report once as an Event) why it failed."""
        try:
            pod = self.sandbox.create_system(POD_KEY, body, MANAGER)
        except ApiError as exc:
            uid = owner["metadata"]["uid"]
            if self.failures.get(uid) != exc.message:
                self.failures[uid] = exc.message
                now = now_rfc3339()
                self._create(("", "events"), {
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": "%s.%x" % (owner["metadata"]["name"], self.rng.getrandbits(64)),
                                 "namespace": owner["metadata"].get("namespace")},
                    "involvedObject": {"apiVersion": owner.get("apiVersion"), "kind": owner_kind,
                                       "name": owner["metadata"]["name"], "uid": uid,
                                       "namespace": owner["metadata"].get("namespace")},
                    "reason": "FailedCreate", "type": "Warning", "count": 1, "firstTimestamp": now,
                    "lastTimestamp": now, "message": "Error creating: %s" % exc.message,
                    "source": {"component": "%s-controller" % owner_kind.lower()},
                    "reportingComponent": "%s-controller" % owner_kind.lower(), "reportingInstance": ""})
            return None
        self.failures.pop(owner["metadata"]["uid"], None)
        if pod is not None:
            message = "create Pod %s in StatefulSet %s successful" % (pod["metadata"]["name"], owner["metadata"]["name"]) \
                if owner_kind == "StatefulSet" else "Created pod: %s" % pod["metadata"]["name"]
            self._emit(owner, owner_kind, "SuccessfulCreate", message, "%s-controller" % owner_kind.lower())
        return pod

    def _pod_body(self, owner, owner_kind, owner_version, template, name=None, extra_labels=None, node=None):
        meta = copy.deepcopy(template.get("metadata") or {})
        labels = dict(meta.get("labels") or {})
        labels.update(extra_labels or {})
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": owner["metadata"].get("namespace"), "labels": labels,
                             "ownerReferences": [_owner_ref(owner, owner_kind, owner_version)]},
                "spec": copy.deepcopy(template.get("spec") or {})}
        if meta.get("annotations"):
            body["metadata"]["annotations"] = meta["annotations"]
        if name:
            body["metadata"]["name"] = name
        else:
            body["metadata"]["name"] = "%s-%s" % (owner["metadata"]["name"], self._suffix())
        if node:
            body["spec"]["nodeName"] = node
        return body

    def _replicaset(self, rs):
        if rs["metadata"].get("deletionTimestamp"):
            return
        spec = rs.get("spec") or {}
        pods = self.owned.get(rs["metadata"]["uid"], [])
        wanted = spec.get("replicas", 1)
        if len(pods) < wanted:
            for dummy in range(wanted - len(pods)):
                body = self._pod_body(rs, "ReplicaSet", "apps/v1", spec.get("template") or {})
                pod = self._create_pod(rs, "ReplicaSet", body)
                if pod is None:
                    break
                pods.append(pod)
        elif len(pods) > wanted:
            doomed = sorted(pods, key=lambda p: (_ready(p), p["metadata"]["creationTimestamp"]))[:len(pods) - wanted]
            for pod in doomed:
                self._delete(POD_KEY, pod)
                pods.remove(pod)

    def _deployment(self, deployment):
        meta = deployment["metadata"]
        if meta.get("deletionTimestamp"):
            return
        store = self.sandbox.store
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        digest = template_hash(template)
        owned = [rs for rs in store.list(RS_KEY, meta.get("namespace"))
                 if any(r.get("uid") == meta["uid"] for r in rs["metadata"].get("ownerReferences") or ())]
        current = next((rs for rs in owned if (rs["metadata"].get("labels") or {}).get("pod-template-hash")
                        == digest), None)
        revisions = [int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
                     for rs in owned]
        replicas = spec.get("replicas", 1)
        if current is None and not spec.get("paused"):
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
            labels = dict(rs_template["metadata"]["labels"])
            surge = self._rolling_limits(spec, replicas)[0]
            old_total = sum((rs.get("spec") or {}).get("replicas", 0) for rs in owned)
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                initial = 0 if old_total or any(self.owned_all.get(rs["metadata"]["uid"]) for rs in owned) \
                    else replicas
            else:
                initial = min(replicas, max(0, replicas + surge - old_total))
            current = self._create(RS_KEY, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "%s-%s" % (meta["name"], digest), "namespace": meta.get("namespace"),
                             "labels": labels,
                             "annotations": {"deployment.kubernetes.io/revision": str(max(revisions or [0]) + 1),
                                             "deployment.kubernetes.io/desired-replicas": str(replicas),
                                             "deployment.kubernetes.io/max-replicas": str(replicas + surge)},
                             "ownerReferences": [_owner_ref(deployment, "Deployment", "apps/v1")]},
                "spec": {"replicas": initial, "selector": selector, "template": rs_template,
                         **({"minReadySeconds": spec["minReadySeconds"]} if spec.get("minReadySeconds") else {})}})
            self.progress[meta["uid"]] = (digest, time.monotonic(), "NewReplicaSetCreated")
            if current is not None:
                owned.append(current)
                if initial:
                    self._emit(deployment, "Deployment", "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d"
                               % (current["metadata"]["name"], initial), "deployment-controller")
        if current is not None:
            self._roll(deployment, current, [rs for rs in owned if rs is not current])
        old_sets = sorted((rs for rs in owned if rs is not current),
                          key=lambda r: int((r["metadata"].get("annotations") or {})
                                            .get("deployment.kubernetes.io/revision", 0)))
        limit = spec.get("revisionHistoryLimit", 10)
        for rs in old_sets[:max(0, len(old_sets) - limit)]:
            if not self.owned.get(rs["metadata"]["uid"]):
                self._delete(RS_KEY, rs)

    @staticmethod
    def _rolling_limits(spec, replicas):
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = _resolve_int_or_percent(rolling.get("maxSurge", "25%"), replicas, True)
        unavailable = _resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _scale_rs(self, rs, count, desired=None, deployment=None):
        before = (rs.get("spec") or {}).get("replicas", 0)
        if before == count:
            return
        new = copy.deepcopy(rs)
        new["spec"]["replicas"] = count
        if desired is not None:
            new["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(desired)
        self._write(RS_KEY, rs, new)
        if deployment is not None:
            self._emit(deployment, "Deployment", "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d" % (
                "up" if count > before else "down", rs["metadata"]["name"], before, count), "deployment-controller")

    def _roll(self, deployment, current, old_sets):
        """One step of the rollout: surge the new ReplicaSet, then scale old ones down while
        enough pods stay available (RollingUpdate), or old ones first (Recreate)."""
        spec = deployment.get("spec") or {}
        desired = spec.get("replicas", 1)
        min_ready = spec.get("minReadySeconds", 0)
        ready_of = {rs["metadata"]["uid"]: sum(1 for p in self.owned.get(rs["metadata"]["uid"], [])
                                               if self._available(p, min_ready))
                    for rs in old_sets + [current]}
        if spec.get("paused"):
            return
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            for rs in old_sets:
                self._scale_rs(rs, 0, deployment=deployment)
            # Old pods must be gone, terminating ones included, before new ones start.
            if not any(self.owned_all.get(rs["metadata"]["uid"]) for rs in old_sets):
                self._scale_rs(current, desired, desired, deployment)
            return
        surge, max_unavailable = self._rolling_limits(spec, desired)
        total = sum((rs.get("spec") or {}).get("replicas", 0) for rs in old_sets + [current])
        new_count = (current.get("spec") or {}).get("replicas", 0)
        if new_count > desired:
            new_count = desired
        elif new_count < desired:
            new_count = min(desired, new_count + max(0, desired + surge - total))
        self._scale_rs(current, new_count, desired, deployment)
        available = sum(ready_of.values())
        new_unavailable = new_count - ready_of[current["metadata"]["uid"]]
        budget = available - (desired - max_unavailable) - max(0, new_unavailable)
        for rs in sorted(old_sets, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            count = (rs.get("spec") or {}).get("replicas", 0)
            if not count:
                continue
            unready = count - ready_of[rs["metadata"]["uid"]]
            reduce = max(0, unready) + max(0, min(count - max(0, unready), budget))
            reduce = min(count, reduce)
            if reduce:
                budget -= max(0, reduce - max(0, unready))
                self._scale_rs(rs, count - reduce, deployment=deployment)

    def _claims(self, sts, ordinal):
        store = self.sandbox.store
        volumes = []
        for claim in (sts.get("spec") or {}).get("volumeClaimTemplates") or ():
            claim_name = "%s-%s-%d" % (claim["metadata"]["name"], sts["metadata"]["name"], ordinal)
            volumes.append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
            if store.get(("", "persistentvolumeclaims"), sts["metadata"].get("namespace"), claim_name) is None:
                # As the StatefulSet controller does: the template's labels, the selector's on top.
                labels = dict(((claim.get("metadata") or {}).get("labels") or {}))
                labels.update((sts["spec"].get("selector") or {}).get("matchLabels") or {})
                self._create(("", "persistentvolumeclaims"), {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim_name, "namespace": sts["metadata"].get("namespace"), "labels": labels},
                    "spec": copy.deepcopy(claim.get("spec") or {})})
        return volumes

    def _statefulset(self, sts):
        meta = sts["metadata"]
        if meta.get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        template = spec.get("template") or {}
        revision = "%s-%s" % (meta["name"], template_hash(template))
        pods = {}
        for pod in self.owned.get(meta["uid"], []):
            try:
                pods[int(pod["metadata"]["name"].rsplit("-", 1)[1])] = pod
            except (ValueError, IndexError):
                continue
        replicas = spec.get("replicas", 1)
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                name = "%s-%d" % (meta["name"], ordinal)
                if self.sandbox.store.get(POD_KEY, meta.get("namespace"), name) is not None:
                    break
                body = self._pod_body(sts, "StatefulSet", "apps/v1", template, name=name, extra_labels={
                    "controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": name,
                    "apps.kubernetes.io/pod-index": str(ordinal)})
                body["spec"]["hostname"] = name
                if spec.get("serviceName"):
                    body["spec"]["subdomain"] = spec["serviceName"]
                body["spec"].setdefault("volumes", []).extend(self._claims(sts, ordinal))
                created = self._create_pod(sts, "StatefulSet", body)
                if created is not None:
                    pods[ordinal] = created
                if ordered:
                    break
            elif ordered and not _ready(pod):
                break
        # OrderedReady removes one pod at a time, the highest ordinal first, and only once the pod
        # removed before is gone (terminated, not just terminating) and every remaining pod is Ready.
        terminating = any(p["metadata"].get("deletionTimestamp") for p in self.owned_all.get(meta["uid"], []))
        halted = ordered and (terminating or not all(_ready(p) for o, p in pods.items() if o < replicas))
        for ordinal in sorted((o for o in pods if o >= replicas), reverse=True):
            if halted:
                break
            self._delete(POD_KEY, pods.pop(ordinal))
            if ordered:
                break
        strategy = spec.get("updateStrategy") or {}
        partition = ((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and len(pods) == replicas and \
                all(_ready(p) for p in pods.values()):
            stale = [o for o, p in pods.items() if o >= partition and
                     (p["metadata"].get("labels") or {}).get("controller-revision-hash") != revision]
            if stale:
                self._delete(POD_KEY, pods[max(stale)])

    def _daemonset(self, ds):
        meta = ds["metadata"]
        if meta.get("deletionTimestamp"):
            return
        template = (ds.get("spec") or {}).get("template") or {}
        revision = template_hash(template)
        eligible = [n["metadata"]["name"] for n in self.nodes if node_fits(n, template.get("spec") or {}, True)]
        by_node = {}
        for pod in self.owned.get(meta["uid"], []):
            by_node.setdefault((pod.get("spec") or {}).get("nodeName"), []).append(pod)
        for node in eligible:
            if node not in by_node:
                labels = {"controller-revision-hash": revision,
                          "pod-template-generation": str(meta.get("generation", 1))}
                self._create_pod(ds, "DaemonSet", self._pod_body(ds, "DaemonSet", "apps/v1", template, node=node,
                                                                 extra_labels=labels))
        for node, pods in by_node.items():
            if node not in eligible:
                for pod in pods:
                    self._delete(POD_KEY, pod)
        current = [p for node in eligible for p in by_node.get(node, ())]
        if current and all(_ready(p) for p in current):
            stale = [p for p in current if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                     != revision]
            if stale:
                self._delete(POD_KEY, stale[0])

    def _job(self, job):
        meta = job["metadata"]
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        if meta.get("deletionTimestamp") or spec.get("suspend"):
            return
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in status.get("conditions") or ()):
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and self._due(self._first_seen(job, "/finished") + float(ttl)):
                # The TTL-after-finished controller deletes finished Jobs (and their pods).
                self._delete(("batch", "jobs"), job, "Background")
            return
        pods = self.owned.get(meta["uid"], [])
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        active = [p for p in pods if not _terminal(p)]
        completions = spec.get("completions")
        target = completions if completions is not None else 1
        if failed > spec.get("backoffLimit", 6) or succeeded >= target:
            return
        wanted = min(spec.get("parallelism", 1), target - succeeded)
        for dummy in range(wanted - len(active)):
            if self._create_pod(job, "Job", self._pod_body(job, "Job", "batch/v1", spec.get("template") or {})) is None:
                break

    # Kubelet and scheduler ------------------------------------------------------------------------------

    def _chain(self, pod):
        """The pod and its owners up the controller chain, with their kinds."""
        chain = [(pod, "Pod")]
        current = pod
        for dummy in range(3):
            refs = current["metadata"].get("ownerReferences") or ()
            owner = self.sandbox.store.by_uid_lookup(refs[0].get("uid")) if refs else None
            if owner is None:
                break
            chain.append((owner, refs[0].get("kind")))
            current = owner
        return chain

    def _schedule(self, pod):
        spec = pod.get("spec") or {}
        fits = [n for n in self.nodes if node_fits(n, spec)]
        if not fits:
            message = "0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector or had " \
                      "untolerated taints." % (len(self.nodes), len(self.nodes))
            status = dict(pod.get("status") or {})
            status.update({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}]})
            self._set_status(POD_KEY, pod, status, manager="kube-scheduler")
            return None
        counts = {}
        for other in self.sandbox.store.list(POD_KEY):
            node = (other.get("spec") or {}).get("nodeName")
            counts[node] = counts.get(node, 0) + 1
        node = min(fits, key=lambda n: (counts.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = node["metadata"]["name"]
        written = self._write(POD_KEY, pod, new, manager="kube-scheduler")
        if written is not None:
            self._emit(written, "Pod", "Scheduled", "Successfully assigned %s/%s to %s" % (
                pod["metadata"].get("namespace"), pod["metadata"]["name"], node["metadata"]["name"]),
                "default-scheduler")
        return written

    def _pod_ip(self, pod):
        if (pod.get("status") or {}).get("podIP"):
            return pod["status"]["podIP"]
        self.next_pod_ip += 1
        return "10.244.%d.%d" % (self.next_pod_ip // 250, self.next_pod_ip % 250 + 2)

    def _kubelet(self, pod):
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(pod)
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name and self.sandbox.store.get(("", "nodes"), "", node_name) is None:
            # The pod garbage collector deletes pods bound to nodes that no longer exist.
            if not pod["metadata"].get("finalizers"):
                self.sandbox.store.remove(POD_KEY, pod)
            return
        if _terminal(pod):
            return
        if not node_name:
            pod = self._schedule(pod)
            if pod is None:
                return
        settings = self.sandbox.settings
        chain = self._chain(pod)
        owner_kind = chain[1][1] if len(chain) > 1 else None
        started = self._first_seen(pod)
        broken = self._matches(settings.get("broken"), chain)
        if broken is None and _ready(pod) and owner_kind != "Job":
            # A running container stays ready (also across a sandbox restart from its state dir).
            return
        if owner_kind == "Job":
            rule = self._matches(settings.get("job_delays"), chain)
            delay = float(rule.get("seconds", 0)) if rule else float(settings.get("job_delay", 0.2))
        else:
            rule = self._matches(settings.get("delays"), chain)
            delay = float(rule.get("seconds", 0)) if rule else float(settings.get("ready_delay", 0.2))
        node = next((n for n in self.nodes if n["metadata"]["name"] == pod["spec"]["nodeName"]), None)
        host_ip = next((a["address"] for a in ((node or {}).get("status") or {}).get("addresses") or ()
                        if a.get("type") == "InternalIP"), "172.18.0.2")
        containers = pod["spec"].get("containers") or []
        now = now_rfc3339()
        base = {"hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "qosClass": (pod.get("status") or {}).get(
            "qosClass", "BestEffort"), "startTime": (pod.get("status") or {}).get("startTime", now)}
        scheduled = {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        if broken is not None or not self._due(started + delay):
            reason = (broken or {}).get("reason", "ImagePullBackOff") if broken is not None else "ContainerCreating"
            crashing = reason == "CrashLoopBackOff"
            waiting = []
            for container in containers:
                state = {"waiting": {"reason": reason}}
                entry = {"name": container["name"], "image": container.get("image", ""), "imageID": "",
                         "ready": False, "restartCount": 0, "started": False, "state": state}
                if reason == "ImagePullBackOff":
                    state["waiting"]["message"] = 'Back-off pulling image "%s"' % container.get("image", "")
                elif crashing:
                    state["waiting"]["message"] = "back-off 5m0s restarting failed container=%s pod=%s" % (
                        container["name"], pod["metadata"]["name"])
                    entry.update(restartCount=5, imageID=container.get("image", ""), lastState={"terminated": {
                        "exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}})
                waiting.append(entry)
            if crashing:
                ip = self._pod_ip(pod)
                base.update({"podIP": ip, "podIPs": [{"ip": ip}]})
            status = dict(base, phase="Running" if crashing else "Pending", containerStatuses=waiting, conditions=[
                {"type": "PodReadyToStartContainers", "status": "False" if broken is None else "True",
                 "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastProbeTime": None,
                 "lastTransitionTime": now, "message": "containers with unready status: [%s]"
                 % " ".join(c["name"] for c in containers)},
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "lastProbeTime": None,
                 "lastTransitionTime": now, "message": "containers with unready status: [%s]"
                 % " ".join(c["name"] for c in containers)},
                scheduled])
            if broken is not None:
                self._event(pod, containers, reason)
            self._set_status(POD_KEY, pod, status, manager="kubelet")
            return
        ip = self._pod_ip(pod)
        base.update({"podIP": ip, "podIPs": [{"ip": ip}]})
        if owner_kind == "Job":
            fails = self._matches(settings.get("job_failures"), chain) is not None
            terminated = {"exitCode": 1 if fails else 0, "reason": "Error" if fails else "Completed",
                          "startedAt": base["startTime"], "finishedAt": now}
            statuses = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                         "restartCount": 0, "started": False, "state": {"terminated": terminated}}
                        for c in containers]
            reason = "PodFailed" if fails else "PodCompleted"
            status = dict(base, phase="Failed" if fails else "Succeeded", containerStatuses=statuses, conditions=[
                {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None,
                 "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "reason": reason, "lastProbeTime": None,
                 "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "reason": reason, "lastProbeTime": None,
                 "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "False", "reason": reason, "lastProbeTime": None,
                 "lastTransitionTime": now},
                scheduled])
            self._set_status(POD_KEY, pod, status, manager="kubelet")
            return
        statuses = [{"name": c["name"], "image": c.get("image", ""), "imageID": c.get("image", ""),
                     "containerID": "containerd://%s" % hashlib.sha256((pod["metadata"]["uid"] + c["name"])
                                                                       .encode()).hexdigest(),
                     "ready": True, "restartCount": 0, "started": True,
                     "state": {"running": {"startedAt": base["startTime"]}}} for c in containers]
        conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                      for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")]
        status = dict(base, phase="Running", containerStatuses=statuses, conditions=conditions + [scheduled])
        if self._set_status(POD_KEY, pod, status, manager="kubelet") is not pod:
            for container in containers:
                self._emit(pod, "Pod", "Started", "Started container %s" % container["name"], "kubelet",
                           host=pod["spec"].get("nodeName"))

    def _emit(self, obj, kind, reason, message, component, event_type="Normal", host=None):
        """A core/v1 Event about ``obj``, like the component that did the work would record."""
        if not self.sandbox.settings.get("events", True):
            return
        now = now_rfc3339()
        meta = obj["metadata"]
        source = {"component": component}
        if host:
            source["host"] = host
        self._create(("", "events"), {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "%s.%x" % (meta["name"], self.rng.getrandbits(64)),
                         "namespace": meta.get("namespace") or "default"},
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": kind, "name": meta["name"],
                               "namespace": meta.get("namespace"), "uid": meta["uid"],
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": event_type, "count": 1, "source": source,
            "firstTimestamp": now, "lastTimestamp": now, "reportingComponent": component,
            "reportingInstance": host or ""}, manager=component)

    def _terminate(self, pod):
        """Containers stop after the configured delay (at most the grace period); then the pod goes."""
        if pod["metadata"].get("finalizers"):
            return
        delay = min(float(self.sandbox.settings.get("pod_termination_delay", 0.2)),
                    float(pod["metadata"].get("deletionGracePeriodSeconds") or 0))
        if self._due(self._first_seen(pod, "/terminating") + delay):
            self.sandbox.store.remove(POD_KEY, pod)

    def _event(self, pod, containers, waiting_reason="ImagePullBackOff"):
        uid = pod["metadata"]["uid"]
        if uid in self.events_sent:
            return
        self.events_sent.add(uid)
        now = now_rfc3339()
        image = containers[0].get("image", "") if containers else ""
        self._create(("", "events"), {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "%s.%x" % (pod["metadata"]["name"], self.rng.getrandbits(64)),
                         "namespace": pod["metadata"].get("namespace")},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                               "namespace": pod["metadata"].get("namespace"), "uid": uid,
                               "fieldPath": "spec.containers{%s}" % (containers[0]["name"] if containers else "")},
            "reason": "BackOff" if waiting_reason == "CrashLoopBackOff" else "Failed", "type": "Warning",
            "count": 1, "firstTimestamp": now, "lastTimestamp": now,
            "message": "Back-off restarting failed container %s in pod %s" % (
                containers[0]["name"] if containers else "", pod["metadata"]["name"])
            if waiting_reason == "CrashLoopBackOff" else
            'Failed to pull image "%s": rpc error: code = NotFound desc = failed to pull and unpack '
            'image "%s": not found' % (image, image),
            "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", "")},
            "reportingComponent": "kubelet", "reportingInstance": pod["spec"].get("nodeName", "")},
            manager="kubelet")

    # Workload status ---------------------------------------------------------------------------------------

    # Services, disruption budgets, volumes ------------------------------------------------------------

    def _selected_pods(self, namespace, selector_labels):
        from .selectors import labels_match  # pylint: disable=import-outside-toplevel
        requirements = [(k, "=", (v,)) for k, v in sorted(selector_labels.items())]
        return [p for p in self.sandbox.store.list(POD_KEY, namespace)
                if labels_match(requirements, p["metadata"].get("labels"))]

    def _endpoints(self, svc):
        """The endpoints controller: Endpoints and an EndpointSlice listing the selected pods."""
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName" or svc["metadata"].get("deletionTimestamp"):
            return
        namespace, name = svc["metadata"].get("namespace"), svc["metadata"]["name"]
        pods = [p for p in self._selected_pods(namespace, selector)
                if (p.get("status") or {}).get("podIP") and not _terminal(p)]
        ports = []
        for port in spec.get("ports") or ():
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str):
                target = next((cp.get("containerPort") for p in pods for c in p["spec"].get("containers") or ()
                               for cp in c.get("ports") or () if cp.get("name") == target), None)
                if target is None:
                    continue
            entry = {"port": target, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)

        def address(pod):
            return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}}
        ready = [address(p) for p in pods if _ready(p) and not p["metadata"].get("deletionTimestamp")]
        not_ready = [address(p) for p in pods if not (_ready(p) and not p["metadata"].get("deletionTimestamp"))]
        subset = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if subset and ports:
            subset["ports"] = ports
        labels = dict(svc["metadata"].get("labels") or {})
        self._upsert(("", "endpoints"), namespace, name, {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "subsets": [subset] if subset and ports else []}, drop_empty="subsets")
        slice_labels = dict(labels, **{"kubernetes.io/service-name": name,
                                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
        endpoints = [{"addresses": [p["status"]["podIP"]],
                      "conditions": {"ready": _ready(p) and not p["metadata"].get("deletionTimestamp"),
                                     "serving": _ready(p),
                                     "terminating": bool(p["metadata"].get("deletionTimestamp"))},
                      "nodeName": p["spec"].get("nodeName"),
                      "targetRef": {"kind": "Pod", "namespace": namespace, "name": p["metadata"]["name"],
                                    "uid": p["metadata"]["uid"]}} for p in pods]
        self._upsert(("discovery.k8s.io", "endpointslices"), namespace, name + "-sandbox", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name + "-sandbox", "namespace": namespace, "labels": slice_labels,
                         "ownerReferences": [dict(_owner_ref(svc, "Service", "v1"))]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports})

    def _upsert(self, key, namespace, name, body, drop_empty=None):
        current = self.sandbox.store.get(key, namespace, name)
        if current is None:
            if drop_empty and not body.get(drop_empty):
                body.pop(drop_empty)
            self._create(key, body)
            return
        new = copy.deepcopy(current)
        for field, value in body.items():
            if field not in ("apiVersion", "kind", "metadata"):
                new[field] = value
        if drop_empty and not new.get(drop_empty):
            new.pop(drop_empty, None)
        new["metadata"]["labels"] = body["metadata"].get("labels") or {}
        if not new["metadata"]["labels"]:
            del new["metadata"]["labels"]
        self._write(key, current, new)

    def _pdb(self, pdb):
        spec = pdb.get("spec") or {}
        selector = ((spec.get("selector") or {}).get("matchLabels")) or {}
        selected = [p for p in self._selected_pods(pdb["metadata"].get("namespace"), selector)
                    if not _terminal(p)] if selector else []
        # Expected pods come from the controllers' scale (as the disruption controller does), so a
        # terminating pod counts as a missing healthy one until its replacement is ready.
        owners, orphans = {}, 0
        for pod in selected:
            ref = next((r for r in pod["metadata"].get("ownerReferences") or () if r.get("controller")), None)
            owner = self.sandbox.store.by_uid_lookup(ref.get("uid")) if ref else None
            if owner is not None and isinstance((owner.get("spec") or {}).get("replicas"), int):
                owners[owner["metadata"]["uid"]] = owner["spec"]["replicas"]
            else:
                orphans += 1
        expected = sum(owners.values()) + orphans
        healthy = sum(1 for p in selected if _ready(p) and not p["metadata"].get("deletionTimestamp"))
        if spec.get("minAvailable") is not None:
            desired = _resolve_int_or_percent(spec["minAvailable"], expected, True)
        else:
            desired = max(0, expected - _resolve_int_or_percent(spec.get("maxUnavailable", 0), expected, True))
        allowed = max(0, healthy - desired)
        now = now_rfc3339()
        status = {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": allowed,
                  "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                  "conditions": [{"type": "DisruptionAllowed", "status": "True" if allowed else "False",
                                  "reason": "SufficientPods" if allowed else "InsufficientPods",
                                  "message": "", "observedGeneration": pdb["metadata"].get("generation", 1),
                                  "lastTransitionTime": now}]}
        self._set_status(("policy", "poddisruptionbudgets"), pdb, status)

    def _bind_claim(self, claim):
        """Dynamic provisioning: a Pending claim gets a PersistentVolume and turns Bound."""
        if (claim.get("status") or {}).get("phase") != "Pending" or claim["metadata"].get("deletionTimestamp"):
            return
        if not self._due(self._first_seen(claim) + float(self.sandbox.settings.get("ready_delay", 0.2))):
            return
        spec = claim.get("spec") or {}
        volume_name = "pvc-" + claim["metadata"]["uid"]
        capacity = dict(((spec.get("resources") or {}).get("requests") or {}))
        if self.sandbox.store.get(("", "persistentvolumes"), "", volume_name) is None:
            self._create(("", "persistentvolumes"), {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": volume_name,
                             "annotations": {"pv.kubernetes.io/provisioned-by": "sandbox.local/provisioner"}},
                "spec": {"capacity": capacity or {"storage": "1Gi"},
                         "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Delete",
                         "storageClassName": spec.get("storageClassName", ""),
                         "volumeMode": spec.get("volumeMode", "Filesystem"),
                         "hostPath": {"path": "/var/lib/sandbox/" + volume_name},
                         "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "namespace": claim["metadata"].get("namespace"),
                                      "name": claim["metadata"]["name"], "uid": claim["metadata"]["uid"]}}})
        if spec.get("volumeName") != volume_name:
            new = copy.deepcopy(claim)
            new["spec"]["volumeName"] = volume_name
            annotations = new["metadata"].setdefault("annotations", {})
            annotations["pv.kubernetes.io/bind-completed"] = "yes"
            annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
            claim = self._write(("", "persistentvolumeclaims"), claim, new)
            if claim is None:
                return
        self._set_status(("", "persistentvolumeclaims"), claim, {
            "phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "capacity": capacity or {"storage": "1Gi"}})

    @staticmethod
    def _drop_zero(status, keys):
        for key in keys:
            if not status.get(key):
                status.pop(key, None)
        return status

    def _replicaset_status(self, rs):
        pods = self.owned.get(rs["metadata"]["uid"], [])
        ready = sum(1 for p in pods if _ready(p))
        min_ready = (rs.get("spec") or {}).get("minReadySeconds", 0)
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": sum(1 for p in pods if self._available(p, min_ready)),
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        failure = self.failures.get(rs["metadata"]["uid"])
        if failure and len(pods) < (rs.get("spec") or {}).get("replicas", 1):
            status["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                     "message": failure, "lastTransitionTime": now_rfc3339()}]
        self._drop_zero(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        self._set_status(RS_KEY, rs, status)

    def _deployment_status(self, deployment):
        meta = deployment["metadata"]
        spec = deployment.get("spec") or {}
        store = self.sandbox.store
        digest = template_hash(spec.get("template") or {})
        owned = [rs for rs in store.list(RS_KEY, meta.get("namespace"))
                 if any(r.get("uid") == meta["uid"] for r in rs["metadata"].get("ownerReferences") or ())]
        current = next((rs for rs in owned if (rs["metadata"].get("labels") or {}).get("pod-template-hash")
                        == digest), None)
        all_pods = [p for rs in owned for p in self.owned.get(rs["metadata"]["uid"], [])]
        new_pods = self.owned.get(current["metadata"]["uid"], []) if current else []
        desired = spec.get("replicas", 1)
        ready = sum(1 for p in all_pods if _ready(p))
        available = sum(1 for p in all_pods if self._available(p, spec.get("minReadySeconds", 0)))
        updated = len(new_pods)
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = _resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False) \
            if (spec.get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate" else 0
        now = now_rfc3339()
        rs_name = current["metadata"]["name"] if current else meta["name"]
        complete = current is not None and updated == desired and len(all_pods) == desired and available == desired
        digest_seen, since, first_reason = self.progress.get(meta["uid"], (digest, time.monotonic(), None))
        if digest_seen != digest:
            since, first_reason = time.monotonic(), "ReplicaSetUpdated"
            self.progress[meta["uid"]] = (digest, since, first_reason)
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            progressing = ("True", "NewReplicaSetAvailable", 'ReplicaSet "%s" has successfully progressed.' % rs_name)
        elif not self._due(since + deadline):
            reason = first_reason or "ReplicaSetUpdated"
            message = 'Created new replica set "%s"' % rs_name if reason == "NewReplicaSetCreated" else \
                'ReplicaSet "%s" is progressing.' % rs_name
            progressing = ("True", reason, message)
        else:
            progressing = ("False", "ProgressDeadlineExceeded", 'ReplicaSet "%s" has timed out progressing.'
                           % rs_name)
        has_minimum = available >= desired - max_unavailable
        conditions = [
            {"type": "Available", "status": "True" if has_minimum else "False",
             "reason": "MinimumReplicasAvailable" if has_minimum else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if has_minimum else
             "Deployment does not have minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": progressing[0], "reason": progressing[1], "message": progressing[2],
             "lastUpdateTime": now, "lastTransitionTime": now}]
        failure = self.failures.get(current["metadata"]["uid"]) if current is not None else None
        if failure and updated < desired:
            conditions.append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                               "message": failure, "lastUpdateTime": now, "lastTransitionTime": now})
        status = {"observedGeneration": meta.get("generation", 1), "replicas": len(all_pods),
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                  "unavailableReplicas": max(0, desired - available), "conditions": conditions}
        self._drop_zero(status, ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                                 "unavailableReplicas"))
        self._set_status(("apps", "deployments"), deployment, status)

    def _statefulset_status(self, sts):
        meta = sts["metadata"]
        spec = sts.get("spec") or {}
        revision = "%s-%s" % (meta["name"], template_hash(spec.get("template") or {}))
        pods = self.owned.get(meta["uid"], [])
        ready = sum(1 for p in pods if _ready(p))
        old_status = sts.get("status") or {}
        updated = sum(1 for p in pods if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                      == revision)
        current_revision = old_status.get("currentRevision") or revision
        replicas = spec.get("replicas", 1)
        if updated == replicas and ready == replicas:
            current_revision = revision
        current = sum(1 for p in pods if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                      == current_revision)
        status = {"observedGeneration": meta.get("generation", 1), "replicas": len(pods), "readyReplicas": ready,
                  "currentReplicas": current, "updatedReplicas": updated,
                  "availableReplicas": sum(1 for p in pods if self._available(p, spec.get("minReadySeconds", 0))),
                  "currentRevision": current_revision, "updateRevision": revision, "collisionCount": 0}
        self._drop_zero(status, ("readyReplicas", "currentReplicas", "updatedReplicas"))
        self._set_status(("apps", "statefulsets"), sts, status)

    def _daemonset_status(self, ds):
        meta = ds["metadata"]
        template = (ds.get("spec") or {}).get("template") or {}
        revision = template_hash(template)
        eligible = {n["metadata"]["name"] for n in self.nodes if node_fits(n, template.get("spec") or {}, True)}
        pods = self.owned.get(meta["uid"], [])
        scheduled = [p for p in pods if (p.get("spec") or {}).get("nodeName") in eligible]
        ready = sum(1 for p in scheduled if _ready(p))
        available = sum(1 for p in scheduled if self._available(p, (ds.get("spec") or {}).get("minReadySeconds", 0)))
        updated = sum(1 for p in scheduled if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                      == revision)
        status = {"currentNumberScheduled": len(scheduled), "numberMisscheduled": len(pods) - len(scheduled),
                  "desiredNumberScheduled": len(eligible), "numberReady": ready,
                  "observedGeneration": meta.get("generation", 1), "updatedNumberScheduled": updated,
                  "numberAvailable": available, "numberUnavailable": len(eligible) - available}
        self._drop_zero(status, ("updatedNumberScheduled", "numberAvailable", "numberUnavailable"))
        self._set_status(("apps", "daemonsets"), ds, status)

    def _job_status(self, job):
        meta = job["metadata"]
        spec = job.get("spec") or {}
        old = job.get("status") or {}
        if meta.get("deletionTimestamp") or any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                                for c in old.get("conditions") or ()):
            return
        now = now_rfc3339()
        if spec.get("suspend"):
            status = {k: v for k, v in old.items() if k not in ("conditions", "active", "ready")}
            status.update(active=0, ready=0, conditions=[
                {"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended",
                 "lastProbeTime": now, "lastTransitionTime": now}])
            self._drop_zero(status, ("active",))
            self._set_status(("batch", "jobs"), job, status)
            return
        pods = self.owned.get(meta["uid"], [])
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        active = [p for p in pods if not _terminal(p)]
        status = {"startTime": old.get("startTime", now), "active": len(active),
                  "ready": sum(1 for p in active if _ready(p)), "succeeded": succeeded, "failed": failed,
                  "terminating": 0, "uncountedTerminatedPods": {}}
        target = spec.get("completions") if spec.get("completions") is not None else 1
        deadline = spec.get("activeDeadlineSeconds")
        past_deadline = deadline is not None and succeeded < target and \
            self._due(self._first_seen(job, "/started") + float(deadline))
        if failed > spec.get("backoffLimit", 6) or past_deadline:
            for pod in active:
                self._delete(POD_KEY, pod)
            status["active"] = 0
            status["ready"] = 0
            if past_deadline:
                reason, message = "DeadlineExceeded", "Job was active longer than specified deadline"
            else:
                reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            status["conditions"] = [
                {"type": "FailureTarget", "status": "True", "reason": reason, "message": message,
                 "lastProbeTime": now, "lastTransitionTime": now},
                {"type": "Failed", "status": "True", "reason": reason, "message": message,
                 "lastProbeTime": now, "lastTransitionTime": now}]
        elif succeeded >= target:
            status["completionTime"] = now
            self._emit(job, "Job", "Completed", "Job completed", "job-controller")
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                 "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                 "lastTransitionTime": now}]
        self._drop_zero(status, ("active", "succeeded", "failed"))
        self._set_status(("batch", "jobs"), job, status)
