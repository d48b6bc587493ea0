"""The resource types the sandbox serves and the discovery documents that describe them."""
import hashlib
import base64

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]


class ResourceType:
    """One REST resource (a group/version/plural), built in or defined by a CRD."""

    def __init__(self, group, version, kind, plural, namespaced=True, short_names=(), subresources=(),
                 categories=(), verbs=None, singular=None, schema=None, custom=False, tracks_generation=False,
                 delete_returns_object=False):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = singular or kind.lower()
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.subresources = tuple(subresources)
        self.categories = list(categories)
        self.verbs = list(verbs or ALL_VERBS)
        self.schema = schema
        self.custom = custom
        self.tracks_generation = tracks_generation or custom
        self.delete_returns_object = delete_returns_object or custom

    @property
    def group_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def key(self):
        return (self.group, self.plural)

    @property
    def qualified(self):
        """``deployments.apps`` as used in messages; core resources have no suffix."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def kind_qualified(self):
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind

    def path(self, namespace=None, name=None):
        prefix = "/apis/%s" % self.group_version if self.group else "/api/v1"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append("namespaces/%s" % namespace)
        parts.append(self.plural)
        if name:
            parts.append(name)
        return "/".join(parts)

    def discovery_entries(self):
        digest = hashlib.sha256(("%s/%s" % (self.group_version, self.kind)).encode()).digest()
        entry = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
            "storageVersionHash": base64.b64encode(digest[:8]).decode(),
        }
        if self.short_names:
            entry["shortNames"] = self.short_names
        if self.categories:
            entry["categories"] = self.categories
        entries = [entry]
        for sub in self.subresources:
            sub_entry = {"name": "%s/%s" % (self.plural, sub), "singularName": "", "namespaced": self.namespaced,
                         "kind": self.kind, "verbs": SUB_VERBS}
            if sub == "scale":
                sub_entry.update({"group": "autoscaling", "version": "v1", "kind": "Scale"})
            elif sub == "eviction":
                sub_entry.update({"group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
            elif sub == "log":
                sub_entry["verbs"] = ["get"]
            elif sub == "exec":
                sub_entry.update({"kind": "PodExecOptions", "verbs": ["create", "get"]})
            entries.append(sub_entry)
        return entries


def _builtin():
    rt = ResourceType
    return [
        rt("", "v1", "Namespace", "namespaces", namespaced=False, short_names=["ns"], subresources=("status",),
           verbs=["create", "delete", "get", "list", "patch", "update", "watch"]),
        rt("", "v1", "Node", "nodes", namespaced=False, short_names=["no"], subresources=("status",)),
        rt("", "v1", "Pod", "pods", short_names=["po"], subresources=("eviction", "exec", "log", "status"), categories=["all"],
           delete_returns_object=True),
        rt("", "v1", "Service", "services", short_names=["svc"], subresources=("status",), categories=["all"],
           delete_returns_object=True),
        rt("", "v1", "ConfigMap", "configmaps", short_names=["cm"]),
        rt("", "v1", "Secret", "secrets"),
        rt("", "v1", "ServiceAccount", "serviceaccounts", short_names=["sa"]),
        rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=["pvc"], subresources=("status",)),
        rt("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=["pv"],
           subresources=("status",)),
        rt("", "v1", "Event", "events", short_names=["ev"]),
        rt("", "v1", "Endpoints", "endpoints", short_names=["ep"], singular="endpoints"),
        rt("", "v1", "LimitRange", "limitranges", short_names=["limits"]),
        rt("", "v1", "ResourceQuota", "resourcequotas", short_names=["quota"], subresources=("status",)),
        rt("apps", "v1", "Deployment", "deployments", short_names=["deploy"], subresources=("scale", "status"),
           categories=["all"], tracks_generation=True),
        rt("apps", "v1", "StatefulSet", "statefulsets", short_names=["sts"], subresources=("scale", "status"),
           categories=["all"], tracks_generation=True),
        rt("apps", "v1", "DaemonSet", "daemonsets", short_names=["ds"], subresources=("status",),
           categories=["all"], tracks_generation=True),
        rt("apps", "v1", "ReplicaSet", "replicasets", short_names=["rs"], subresources=("scale", "status"),
           categories=["all"], tracks_generation=True),
        rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
        rt("batch", "v1", "Job", "jobs", subresources=("status",), categories=["all"], tracks_generation=True),
        rt("batch", "v1", "CronJob", "cronjobs", short_names=["cj"], subresources=("status",), categories=["all"],
           tracks_generation=True),
        rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=["pdb"],
           subresources=("status",), tracks_generation=True),
        rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=["netpol"],
           tracks_generation=True),
        rt("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=["ing"], subresources=("status",),
           tracks_generation=True),
        rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False, tracks_generation=True),
        rt("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
        rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
        rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        rt("coordination.k8s.io", "v1", "Lease", "leases"),
        rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
        rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short_names=["sc"]),
        rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=["hpa"],
           subresources=("status",), categories=["all"]),
        rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False,
           short_names=["crd", "crds"], subresources=("status",), categories=["api-extensions"],
           tracks_generation=True),
    ]


GROUP_ORDER = ["", "apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io", "storage.k8s.io", "autoscaling", "apiextensions.k8s.io"]


class Registry:
    """Built-in resource types plus those established by CustomResourceDefinitions."""

    def __init__(self):
        self._builtin = _builtin()
        self._custom = {}  # CRD name -> [ResourceType]

    def reset(self):
        self._custom = {}

    def all(self):
        types = list(self._builtin)
        for crd_types in self._custom.values():
            types.extend(crd_types)
        return types

    def lookup(self, group, version, plural):
        for rtype in self.all():
            if rtype.group == group and rtype.version == version and rtype.plural == plural:
                return rtype
        return None

    def by_key(self, group, plural):
        for rtype in self.all():
            if rtype.group == group and rtype.plural == plural:
                return rtype
        return None

    def by_kind(self, api_version, kind):
        group, version = api_version.rpartition("/")[::2]
        for rtype in self.all():
            if rtype.group == group and rtype.version == version and rtype.kind == kind:
                return rtype
        return None

    def set_custom(self, crd_name, types):
        if types:
            self._custom[crd_name] = types
        else:
            self._custom.pop(crd_name, None)

    def groups(self):
        """{group: [versions]} in a stable order, core excluded."""
        found = {}
        for rtype in self.all():
            if rtype.group:
                versions = found.setdefault(rtype.group, [])
                if rtype.version not in versions:
                    versions.append(rtype.version)
        ordered = [g for g in GROUP_ORDER if g in found] + sorted(g for g in found if g not in GROUP_ORDER)
        return [(g, found[g]) for g in ordered]

    def api_group_list(self):
        groups = []
        for group, versions in self.groups():
            groups.append(self._group_entry(group, versions))
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    @staticmethod
    def _group_entry(group, versions):
        entries = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def api_group(self, group):
        versions = dict(self.groups()).get(group)
        if not versions:
            return None
        return dict({"kind": "APIGroup", "apiVersion": "v1"}, **self._group_entry(group, versions))

    def resource_list(self, group, version):
        entries = []
        for rtype in self.all():
            if rtype.group == group and rtype.version == version:
                entries.extend(rtype.discovery_entries())
        if not entries and group:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "%s/%s" % (group, version) if group else version, "resources": entries}
