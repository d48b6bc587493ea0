"""Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels."""
import re

from .errors import bad_request

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_CMP = re.compile(r"^\s*(%s)\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$" % _KEY)


def _split_top_level(text):
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def parse_label_selector(text):
    """Return a list of (key, operator, values); raise a 400 on bad syntax."""
    requirements = []
    if not text:
        return requirements
    for part in _split_top_level(text):
        match = _CMP.match(part)
        if match:
            key, op, value = match.groups()
            requirements.append((key, "!=" if op == "!=" else "=", (value,)))
            continue
        match = re.match(r"^\s*(%s)\s+(in|notin)\s*\(([^)]*)\)\s*$" % _KEY, part)
        if match:
            key, op, values = match.groups()
            requirements.append((key, op, tuple(v.strip() for v in values.split(",") if v.strip())))
            continue
        match = re.match(r"^\s*(!?)\s*(%s)\s*$" % _KEY, part)
        if match:
            negate, key = match.groups()
            requirements.append((key, "!" if negate else "exists", ()))
            continue
        raise bad_request("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, gt, lt" % part)
    return requirements


def labels_match(requirements, labels):
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "=" and (not present or labels[key] != values[0]):
            return False
        if op == "!=" and present and labels[key] == values[0]:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def selector_from_label_selector(selector):
    """A metav1.LabelSelector as requirements (matchLabels AND matchExpressions)."""
    if selector is None:
        return None
    requirements = [(k, "=", (v,)) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(expr.get("operator"))
        if op is None:
            continue
        requirements.append((expr.get("key"), op, tuple(expr.get("values") or ())))
    return requirements


def label_selector_string(selector):
    """The string form the API prints in Scale.status.selector."""
    parts = []
    for key, op, values in selector_from_label_selector(selector) or ():
        if op == "=":
            parts.append("%s=%s" % (key, values[0]))
        elif op in ("in", "notin"):
            parts.append("%s %s (%s)" % (key, op, ",".join(sorted(values))))
        elif op == "exists":
            parts.append(key)
        else:
            parts.append("!" + key)
    return ",".join(parts)


# Field selectors each kind supports beyond metadata.name / metadata.namespace.
EXTRA_FIELDS = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "Job": ("status.successful",),
    "ReplicaSet": ("status.replicas",),
}


def parse_field_selector(text, kind):
    requirements = []
    if not text:
        return requirements
    allowed = ("metadata.name", "metadata.namespace") + EXTRA_FIELDS.get(kind, ())
    for part in _split_top_level(text):
        match = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, part))
        field, op, value = match.groups()
        if field not in allowed:
            raise bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"'
                              % field)
        requirements.append((field, op != "!=", value))
    return requirements


def _field_value(obj, field):
    current = obj
    for part in field.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def fields_match(requirements, obj):
    for field, equal, value in requirements:
        if (_field_value(obj, field) == value) != equal:
            return False
    return True
