"""The sandbox as a whole: state, settings, request log, faults, controllers and the HTTP server."""
import collections
import copy
import hashlib
import random
import re
import threading
import time
import uuid

from . import schema
from . import settings as settings_mod
from .admin import Admin
from .api import Api, Route
from .controllers import Controllers
from .errors import Cause, invalid
from .podexec import ExecRegistry
from .resources import Registry, ResourceType
from .store import Store

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_NODES = ({"name": "sandbox-node-1", "labels": {}, "taints": []},)


class RequestLog:
    """Every API request, bounded; counted by verb for tests and benchmarks."""

    def __init__(self, size=100000):
        self.lock = threading.Lock()
        self.entries = collections.deque(maxlen=size)

    def add(self, entry):
        with self.lock:
            self.entries.append(entry)

    def read(self, since=0):
        with self.lock:
            return [e for e in self.entries if e["ts"] >= since]

    def clear(self):
        with self.lock:
            self.entries.clear()

    @staticmethod
    def counts(entries):
        counts = collections.Counter()
        for entry in entries:
            if not entry.get("resource"):
                counts["discovery"] += 1
            elif entry.get("apply"):
                counts["apply"] += 1
            else:
                counts[entry.get("verb")] += 1
        return dict(counts)


class Faults:
    """Decides which requests get an injected failure, reproducibly from ``fault_seed``.

    Each decision is drawn from an RNG seeded with (seed, verb, path, how many times that
    verb and path were asked before), not from one sequence shared by every request: so
    with the same seed the same request (say the third GET of a Deployment) gets the same
    answer however the threads of a client interleave with each other and with watches.
    """

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.lock = threading.Lock()
        self.seed = 0
        self.used = collections.Counter()
        self.seen = collections.Counter()

    def reseed(self, seed):
        with self.lock:
            self.seed = seed
            self.used.clear()
            self.seen.clear()

    def decide(self, verb, path, is_apply):
        rules = self.sandbox.settings.get("faults") or ()
        if not rules:
            return None
        with self.lock:
            key = ("apply" if is_apply else verb, path)
            occurrence = self.seen[key]
            self.seen[key] += 1
            # random.Random of a str is seeded from its SHA-512: the same in every process.
            rng = random.Random("%s|%s|%s|%d" % (self.seed, key[0], key[1], occurrence))
            for index, rule in enumerate(rules):
                verbs = rule.get("verbs") or ()
                if verbs and verb not in verbs and not (is_apply and "apply" in verbs):
                    continue
                if rule.get("path") and not re.search(rule["path"], path):
                    continue
                if rule.get("count") is not None and self.used[index] >= int(rule["count"]):
                    continue
                if rng.random() >= float(rule.get("rate", 1.0)):
                    continue
                self.used[index] += 1
                responses = rule.get("responses") or [500]
                fault = dict(rule)
                fault["response"] = rng.choice(responses)
                return fault
        return None


class Sandbox:
    """Everything one sandbox serves."""

    def __init__(self, state_dir=None, token=None, nodes=None, initial_settings=None):
        self.token = token
        self.registry = Registry()
        self.settings = settings_mod.merged(settings_mod.DEFAULTS, initial_settings)
        self.initial_settings = copy.deepcopy(self.settings)
        self.store = Store(history_size=self.settings["history_size"], state_dir=state_dir)
        self.request_log = RequestLog()
        self.faults = Faults(self)
        self.faults.reseed(self.settings.get("fault_seed"))
        self.api = Api(self)
        self.admin = Admin(self)
        self.execs = ExecRegistry()
        self.nodes = list(nodes) if nodes is not None else [dict(n) for n in DEFAULT_NODES]
        self.controllers = Controllers(self)
        schema.definitions()
        if not self.store.load_from_disk():
            self.bootstrap()
        else:
            self.sync_crds()

    # State ------------------------------------------------------------------------------------

    def bootstrap(self):
        """The objects a fresh cluster has: system namespaces, nodes, the kubernetes Service."""
        with self.store.lock:
            self.store.reset()
            self.registry.reset()
            for name in SYSTEM_NAMESPACES:
                self.create_system(("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": name}})
            for node in self.nodes:
                self.add_node(node)
            self.controllers.namespace_defaults()
            self.create_system(("storage.k8s.io", "storageclasses"), {
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "standard",
                             "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "sandbox.local/provisioner"})
            self.create_system(("", "services"), {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})

    def reset(self, keep_settings=False):
        self.execs.kill_all()
        if not keep_settings:
            self.update_settings(None, replace=True)
        self.controllers.forget()
        self.bootstrap()

    def update_settings(self, update, replace=False):
        base = self.initial_settings if replace else self.settings
        new = settings_mod.merged(base, update)
        self.settings = new
        if new["history_size"] != self.store.history_size:
            self.store.set_history_size(new["history_size"])
        if replace or "faults" in (update or {}) or "fault_seed" in (update or {}):
            self.faults.reseed(new.get("fault_seed"))
        return new

    def create_system(self, key, body, manager="kube-apiserver"):
        """Create an object as a cluster component would (defaulted, validated, owned by ``manager``)."""
        rtype = self.registry.by_key(*key)
        meta = body.setdefault("metadata", {})
        route = Route(rtype, meta.get("namespace"), None)
        with self.store.lock:
            obj = self.api.new_object(route, copy.deepcopy(body))
            self.api.record(rtype, None, obj, manager, "")
            return self.api.insert(route, obj, False)

    def add_node(self, spec):
        """Register a Node (name, labels, taints, unschedulable) reported Ready."""
        labels = {"kubernetes.io/hostname": spec["name"], "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": "amd64"}
        labels.update(spec.get("labels") or {})
        node_spec = {}
        if spec.get("taints"):
            node_spec["taints"] = spec["taints"]
        if spec.get("unschedulable"):
            node_spec["unschedulable"] = True
        node_spec["podCIDR"] = "10.244.%d.0/24" % (len(self.store.list(("", "nodes"))) + 100)
        node_spec["podCIDRs"] = [node_spec["podCIDR"]]
        index = len(self.store.list(("", "nodes"))) + 2
        digest = hashlib.sha256(spec["name"].encode()).hexdigest()
        conditions = [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "kubelet has sufficient memory available"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "kubelet has no disk pressure"},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
             "message": "kubelet has sufficient PID available"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status"}]
        node_info = {"machineID": digest[:32], "systemUUID": str(uuid.UUID(digest[:32])),
                     "bootID": str(uuid.UUID(digest[32:64])), "kernelVersion": "6.1.0-sandbox",
                     "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://2.0.0",
                     "kubeletVersion": "v1.37.0", "kubeProxyVersion": "", "operatingSystem": "linux",
                     "architecture": "amd64"}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": spec["name"], "labels": labels},
                "spec": node_spec,
                "status": {"conditions": conditions,
                           "addresses": [{"type": "InternalIP", "address": "172.18.0.%d" % index},
                                         {"type": "Hostname", "address": spec["name"]}],
                           "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                           "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                           "nodeInfo": node_info}}
        return self.create_system(("", "nodes"), body, manager="kubelet")

    # CustomResourceDefinitions -----------------------------------------------------------------

    @staticmethod
    def _crd_types(crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        types = []
        for version in spec.get("versions") or ():
            if not version.get("served", True):
                continue
            subresources = version.get("subresources") or {}
            subs = tuple(s for s in ("scale", "status") if s in subresources)
            open_api = (version.get("schema") or {}).get("openAPIV3Schema")
            types.append(ResourceType(
                spec.get("group", ""), version.get("name"), names.get("kind"), names.get("plural"),
                namespaced=spec.get("scope") == "Namespaced", short_names=names.get("shortNames") or (),
                subresources=subs, categories=names.get("categories") or (), singular=names.get("singular"),
                schema=schema.custom_root(open_api), custom=True))
        return types

    def check_crd(self, crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        name = crd["metadata"]["name"]
        causes = []
        expected = "%s.%s" % (names.get("plural"), spec.get("group"))
        if name != expected:
            causes.append(Cause(Cause.INVALID, "metadata.name", 'must be spec.names.plural+"."+spec.group', name))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(Cause(Cause.NOT_SUPPORTED, "spec.scope", 'supported values: "Cluster", "Namespaced"',
                                spec.get("scope")))
        if not spec.get("versions"):
            causes.append(Cause(Cause.INVALID, "spec.versions", "must have exactly one version marked as storage "
                                "version", None, show_value=False))
        if causes:
            raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)

    def after_write(self, rtype, old, obj):
        del old
        if rtype.kind == "CustomResourceDefinition" and not obj["metadata"].get("deletionTimestamp"):
            self.registry.set_custom(obj["metadata"]["name"], self._crd_types(obj))
            conditions = [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted"}]
            status = obj.get("status") or {}
            if [c.get("type") for c in status.get("conditions") or ()] != ["NamesAccepted", "Established"]:
                storage = [v["name"] for v in obj["spec"].get("versions") or () if v.get("storage")]
                new = copy.deepcopy(obj)
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                for condition in conditions:
                    condition["lastTransitionTime"] = now
                new["status"] = {"acceptedNames": obj["spec"]["names"], "conditions": conditions,
                                 "storedVersions": storage}
                self.api.record(rtype, obj, new, "kube-apiserver", "status")
                self.store.put(rtype.key, new, obj)

    def sync_crds(self):
        """Keep the registry equal to the stored CRDs; drop custom objects whose CRD is gone."""
        with self.store.lock:
            present = {}
            for crd in self.store.list(("apiextensions.k8s.io", "customresourcedefinitions")):
                present[crd["metadata"]["name"]] = crd
            for name in list(self.registry._custom):  # pylint: disable=protected-access
                if name not in present:
                    for rtype in self.registry._custom[name]:  # pylint: disable=protected-access
                        for obj in self.store.list(rtype.key):
                            self.store.remove(rtype.key, obj)
                    self.registry.set_custom(name, None)
            for name, crd in present.items():
                if name not in self.registry._custom:  # pylint: disable=protected-access
                    self.registry.set_custom(name, self._crd_types(crd))
