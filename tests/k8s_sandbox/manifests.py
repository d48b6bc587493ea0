"""Small manifest builders for tests that talk to the sandbox."""


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name, data=None, namespace="default", labels=None, **extra):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data if data is not None else {"key": "value"}}
    if labels:
        body["metadata"]["labels"] = labels
    body.update(extra)
    return body


def pod_template(labels, image="registry.example/app:1.0", name="app", **spec):
    pod_spec = {"containers": [{"name": name, "image": image}]}
    pod_spec.update(spec)
    return {"metadata": {"labels": dict(labels)}, "spec": pod_spec}


def deployment(name, replicas=1, image="registry.example/app:1.0", namespace="default", labels=None, **spec):
    labels = labels or {"app": name}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": pod_template(labels, image)}}
    body["spec"].update(spec)
    return body


def statefulset(name, replicas=1, image="registry.example/db:1.0", namespace="default", **spec):
    labels = {"app": name}
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": dict(labels)},
                     "template": pod_template(labels, image)}}
    body["spec"].update(spec)
    return body


def daemonset(name, image="registry.example/agent:1.0", namespace="default", node_selector=None,
              tolerations=None):
    labels = {"app": name}
    template = pod_template(labels, image)
    if node_selector:
        template["spec"]["nodeSelector"] = node_selector
    if tolerations:
        template["spec"]["tolerations"] = tolerations
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": dict(labels)}, "template": template}}


def job(name, image="registry.example/tool:1.0", namespace="default", command=None, **spec):
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": image}]}}
    if command:
        template["spec"]["containers"][0]["command"] = list(command)
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": template}}
    body["spec"].update(spec)
    return body


def service(name, port=80, namespace="default", selector=None, **spec):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector or {"app": name}, "ports": [{"port": port}]}}
    body["spec"].update(spec)
    return body


def crd(plural="widgets", group="example.com", kind="Widget", scope="Namespaced", schema=None, status=True):
    version = {"name": "v1", "served": True, "storage": True,
               "schema": {"openAPIV3Schema": schema or {
                   "type": "object",
                   "properties": {"spec": {"type": "object", "properties": {
                       "size": {"type": "integer"}, "color": {"type": "string"},
                       "tags": {"type": "array", "items": {"type": "string"}}}},
                       "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
    if status:
        version["subresources"] = {"status": {}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": scope, "versions": [version],
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                               "listKind": kind + "List"}}}
