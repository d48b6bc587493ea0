"""Run-time settings of the sandbox (readiness delays, broken objects, faults) and object matchers."""
import copy
import fnmatch

from .podexec import check_rules

DEFAULTS = {
    # Seconds before a workload's pods turn ready (after each new generation).
    "ready_delay": 0.2,
    # Per-object overrides: [{"kind", "name", "namespace", "labels", "image", "seconds"}]; first match wins.
    "delays": [],
    # Objects (same matchers) whose pods never become ready; a wait on them must time out. A rule's
    # "reason" picks how: ImagePullBackOff (default, pod Pending) or CrashLoopBackOff (Running, restarting).
    "broken": [],
    # Seconds before a Job completes, and matchers of Jobs that fail instead.
    "job_delay": 0.2,
    # Per-Job overrides of job_delay, the same matchers as "delays" (tried on the pod, then its Job); first match wins.
    "job_delays": [],
    "job_failures": [],
    # Seconds a deleted pod stays Terminating (its deletionTimestamp set) before it is gone.
    "pod_termination_delay": 0.2,
    # Seconds the namespace controller waits before emptying a Terminating namespace.
    "namespace_delete_delay": 0.1,
    # Record Normal events (Scheduled, Started, SuccessfulCreate, ScalingReplicaSet, Completed); Warning
    # events for failures are always recorded.
    "events": True,
    # Run the controller simulation (workload status, pods, garbage collection, namespaces).
    "controllers": True,
    # Watch history kept for resuming watches; older resourceVersions get 410 Expired.
    "history_size": 10000,
    # Seconds between BOOKMARK events on watches that allow them.
    "bookmark_interval": 1.0,
    # Fault injection rules: [{"rate": 0.1, "responses": [500, 503, 429, "drop", "timeout"],
    #   "verbs": ["get", ...], "path": "regex", "count": N, "retry_after": 1, "timeout_seconds": 5}]
    "faults": [],
    "fault_seed": 0,
    # Seconds after which watch streams are cut without a clean end (None = never).
    "watch_drop_after": None,
    # pods/exec backends (k8s_sandbox.podexec): [{"name", "namespace", "labels", "container" (globs),
    #   "mode": "local", "workdir", "env", "path_map", "timeout"}]; first match wins; no match = an
    #   InternalError Status on the error channel. Nothing runs unless a rule is configured.
    "exec": [],
}


def merged(current, update):
    result = copy.deepcopy(current)
    for key, value in (update or {}).items():
        if key not in DEFAULTS:
            raise KeyError("unknown sandbox setting %r (known: %s)" % (key, ", ".join(sorted(DEFAULTS))))
        if key == "exec":
            check_rules(value)
        result[key] = copy.deepcopy(value)
    return result


def _images(obj):
    spec = obj.get("spec") or {}
    template = spec.get("template") or ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    pod_spec = template.get("spec") or (spec if obj.get("kind") == "Pod" else {})
    return [c.get("image", "") for key in ("initContainers", "containers") for c in pod_spec.get(key) or ()]


def matches(rule, obj, kind):
    """Does a matcher rule select this object? Absent keys match anything; names/images are globs."""
    meta = obj.get("metadata") or {}
    if rule.get("kind") and rule["kind"] != kind:
        return False
    if rule.get("name") and not fnmatch.fnmatchcase(meta.get("name", ""), rule["name"]):
        return False
    if rule.get("namespace") and not fnmatch.fnmatchcase(meta.get("namespace", ""), rule["namespace"]):
        return False
    for key, value in (rule.get("labels") or {}).items():
        if (meta.get("labels") or {}).get(key) != value:
            return False
    if rule.get("image") and not any(fnmatch.fnmatchcase(image, rule["image"]) for image in _images(obj)):
        return False
    return True


def first_match(rules, obj, kind):
    for rule in rules or ():
        if matches(rule, obj, kind):
            return rule
    return None
