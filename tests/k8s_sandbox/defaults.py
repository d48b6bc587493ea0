"""Defaulting as the real API server does it (pkg/apis/*/v1/defaults.go and the registry strategies).

Functions mutate the fresh object they are given. They are idempotent: defaulting a
defaulted object changes nothing, so a client that reads back what it wrote sees a stable
object.
"""
import base64


def image_pull_policy(image):
    if not image:
        return "IfNotPresent"
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _probe(probe):
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")
    if isinstance(probe.get("grpc"), dict):
        probe["grpc"].setdefault("service", "")


def _env(env_list):
    for env in env_list or ():
        value_from = env.get("valueFrom") if isinstance(env, dict) else None
        if isinstance(value_from, dict) and isinstance(value_from.get("fieldRef"), dict):
            value_from["fieldRef"].setdefault("apiVersion", "v1")


def container(spec, is_pod=False):
    if not isinstance(spec, dict):
        return
    spec.setdefault("imagePullPolicy", image_pull_policy(spec.get("image")))
    spec.setdefault("terminationMessagePath", "/dev/termination-log")
    spec.setdefault("terminationMessagePolicy", "File")
    spec.setdefault("resources", {})
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    _env(spec.get("env"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(spec.get(probe))
    lifecycle = spec.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in lifecycle.values():
            if isinstance(hook, dict) and isinstance(hook.get("httpGet"), dict):
                hook["httpGet"].setdefault("path", "/")
                hook["httpGet"].setdefault("scheme", "HTTP")
    resources = spec.get("resources")
    if is_pod and isinstance(resources, dict) and resources.get("limits"):
        requests = resources.setdefault("requests", {})
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)


def _volume(volume):
    if not isinstance(volume, dict):
        return
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)
            for item in volume[source].get("items") or ():
                if isinstance(item, dict) and isinstance(item.get("fieldRef"), dict):
                    item["fieldRef"].setdefault("apiVersion", "v1")
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    if not any(key for key in volume if key != "name"):
        volume["emptyDir"] = {}


def pod_spec(spec, is_pod=False):
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for item in spec.get(key) or ():
            container(item, is_pod)
    for volume in spec.get("volumes") or ():
        _volume(volume)
    if spec.get("hostNetwork"):
        for item in spec.get("containers") or ():
            for port in item.get("ports") or ():
                port.setdefault("hostPort", port.get("containerPort"))


def pod_template(template):
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        pod_spec(template.setdefault("spec", {}))


def deployment(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    pod_template(spec.get("template"))


def replicaset(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    pod_template(spec.get("template"))


def statefulset(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or ():
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim.setdefault("metadata", {})
            claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {"phase": "Pending"})
    pod_template(spec.get("template"))


def daemonset(obj):
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    pod_template(spec.get("template"))


def job(obj):
    spec = obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if not spec.get("podFailurePolicy"):
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    pod_template(spec.get("template"))


def job_selector(obj):
    """The job strategy's PrepareForCreate: generated selector and controller-uid labels."""
    spec = obj.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    uid = obj["metadata"]["uid"]
    name = obj["metadata"]["name"]
    generated = {"batch.kubernetes.io/controller-uid": uid}
    spec["selector"] = {"matchLabels": dict(generated)}
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})


def cronjob(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        job_spec = job_template.setdefault("spec", {})
        job({"spec": job_spec})


def pod(obj):
    spec = obj.setdefault("spec", {})
    pod_spec(spec, is_pod=True)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    present = {(t.get("key"), t.get("effect")) for t in tolerations if isinstance(t, dict)}
    for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if (taint, "NoExecute") not in present:
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300})


def service(obj, allocate_ip, allocate_node_port):
    spec = obj.setdefault("spec", {})
    svc_type = spec.setdefault("type", "ClusterIP")
    if svc_type == "ExternalName":
        return
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if svc_type in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
                port["nodePort"] = allocate_node_port()
    if not spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIP"] = allocate_ip()
    elif not spec.get("clusterIP"):
        spec["clusterIP"] = spec["clusterIPs"][0]
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    if spec["clusterIP"] == "None" and not spec.get("selector"):
        spec.setdefault("ipFamilyPolicy", "RequireDualStack")
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if svc_type in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if svc_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def secret(obj):
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def namespace(obj):
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("status", {}).setdefault("phase", "Active")


def network_policy(obj):
    spec = obj.setdefault("spec", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or ():
            for port in (rule or {}).get("ports") or ():
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if "policyTypes" not in spec:
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _subjects(obj):
    for subject in obj.get("subjects") or ():
        if isinstance(subject, dict):
            if subject.get("kind") in ("User", "Group"):
                subject.setdefault("apiGroup", "rbac.authorization.k8s.io")


def pvc(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")


def storage_class(obj):
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def pdb(obj):
    obj.setdefault("spec", {})


def crd(obj):
    spec = obj.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    for version in spec.get("versions") or ():
        if isinstance(version, dict):
            version.setdefault("served", True)
            version.setdefault("storage", True)
    spec.setdefault("conversion", {"strategy": "None"})


_BY_KIND = {
    "Deployment": deployment,
    "ReplicaSet": replicaset,
    "StatefulSet": statefulset,
    "DaemonSet": daemonset,
    "Job": job,
    "CronJob": cronjob,
    "Pod": pod,
    "Secret": secret,
    "Namespace": namespace,
    "NetworkPolicy": network_policy,
    "RoleBinding": _subjects,
    "ClusterRoleBinding": _subjects,
    "PersistentVolumeClaim": pvc,
    "PodDisruptionBudget": pdb,
    "StorageClass": storage_class,
    "CustomResourceDefinition": crd,
}


def apply_defaults(rtype, obj, allocate_ip=None, allocate_node_port=None):
    if rtype.custom:
        return obj
    if rtype.kind == "Service":
        service(obj, allocate_ip, allocate_node_port)
        return obj
    func = _BY_KIND.get(rtype.kind)
    if func is not None:
        func(obj)
    return obj
