"""The controller simulation: readiness after a delay, broken objects, Jobs, DaemonSets, StatefulSets."""
import json
import time

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from k8s_sandbox import manifests


def _wait_for(read, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    value = read()
    while not predicate(value):
        if time.monotonic() > deadline:
            return value, False
        time.sleep(0.05)
        value = read()
    return value, True


@pytest.fixture
def client(sandbox):
    return sandbox.dynamic_client()


def _conditions(obj):
    return {c.type: c.status for c in obj.status.conditions or ()}


def test_deployment_turns_ready_after_delay(sandbox, client):
    """A Deployment reports observedGeneration, replicas and Available=True once its pods are
    ready, which happens after the configured delay, not before."""
    sandbox.control.settings(ready_delay=0.6)
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    created = time.monotonic()
    deployments.create(namespace="default", body=manifests.deployment("web", replicas=2))
    obj, ok = _wait_for(lambda: deployments.get(namespace="default", name="web"),
                        lambda d: (d.status.readyReplicas or 0) == 2)
    assert ok, obj.status
    assert time.monotonic() - created >= 0.6
    assert obj.status.observedGeneration == obj.metadata.generation
    assert (obj.status.replicas, obj.status.updatedReplicas, obj.status.availableReplicas) == (2, 2, 2)
    assert _conditions(obj) == {"Available": "True", "Progressing": "True"}
    pods = client.resources.get(api_version="v1", kind="Pod").get(namespace="default", label_selector="app=web")
    assert [p.status.phase for p in pods.items] == ["Running", "Running"]
    assert all(p.metadata.ownerReferences[0].kind == "ReplicaSet" for p in pods.items)


@pytest.mark.parametrize("rule,phase,event", [
    ({"name": "web"}, "Pending", "Failed"),
    ({"image": "*/app:1.0"}, "Pending", "Failed"),
    ({"kind": "Pod", "labels": {"app": "web"}}, "Pending", "Failed"),
    ({"name": "web", "reason": "CrashLoopBackOff"}, "Running", "BackOff"),
])
def test_broken_never_becomes_ready(sandbox, client, rule, phase, event):
    """An object matched by a 'broken' rule (by name, image or labels) never turns ready; its
    Progressing condition fails after progressDeadlineSeconds and the pod gets a Warning event
    (image pull back-off: Pending; crash loop: Running with restarts)."""
    sandbox.control.settings(broken=[rule])
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(namespace="default", body=manifests.deployment("web", progressDeadlineSeconds=1))
    obj = _wait_for(lambda: deployments.get(namespace="default", name="web"),
                    lambda d: _conditions(d).get("Progressing") == "False", timeout=4)[0]
    assert not obj.status.readyReplicas
    assert _conditions(obj) == {"Available": "False", "Progressing": "False"}
    events = client.resources.get(api_version="v1", kind="Event").get(namespace="default")
    assert any(e.reason == event and e.type == "Warning" for e in events.items)
    pods = client.resources.get(api_version="v1", kind="Pod").get(namespace="default", label_selector="app=web")
    assert [p.status.phase for p in pods.items] == [phase]


def test_per_object_delay(sandbox, client):
    """A 'delays' rule gives one object its own readiness delay."""
    sandbox.control.settings(ready_delay=0.05, delays=[{"name": "slow", "seconds": 1.0}])
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(namespace="default", body=manifests.deployment("slow"))
    deployments.create(namespace="default", body=manifests.deployment("fast"))
    fast, ok = _wait_for(lambda: deployments.get(namespace="default", name="fast"),
                         lambda d: d.status.readyReplicas == 1)
    assert ok
    assert not deployments.get(namespace="default", name="slow").status.readyReplicas
    del fast


@pytest.mark.parametrize("rule", [{"name": "slow-*"}, {"kind": "Job", "labels": {"app": "slow-job"}}])
def test_per_job_delay(sandbox, client, rule):
    """A 'job_delays' rule (by the Job's name or labels) gives one Job its own run time; others keep job_delay."""
    sandbox.control.settings(job_delay=0.05, job_delays=[dict(rule, seconds=1.5)])
    jobs = client.resources.get(api_version="batch/v1", kind="Job")
    for name in ("slow-job", "fast-job"):
        body = manifests.job(name)
        body["metadata"]["labels"] = {"app": name}
        jobs.create(namespace="default", body=body)
    started = time.monotonic()
    fast, ok = _wait_for(lambda: jobs.get(namespace="default", name="fast-job"),
                         lambda j: _conditions(j).get("Complete") == "True")
    assert ok, fast.status
    assert _conditions(jobs.get(namespace="default", name="slow-job")).get("Complete") != "True"
    slow, ok = _wait_for(lambda: jobs.get(namespace="default", name="slow-job"),
                         lambda j: _conditions(j).get("Complete") == "True")
    assert ok, slow.status
    assert time.monotonic() - started >= 1.5


@pytest.mark.parametrize("fails,condition", [(False, "Complete"), (True, "Failed")])
def test_job_completes_or_fails(sandbox, client, fails, condition):
    """Jobs complete after the job delay, or fail (BackoffLimitExceeded) when settings say so."""
    sandbox.control.settings(job_delay=0.1, job_failures=[{"name": "bad"}] if fails else [])
    jobs = client.resources.get(api_version="batch/v1", kind="Job")
    name = "bad" if fails else "good"
    created = jobs.create(namespace="default", body=manifests.job(name, backoffLimit=1))
    assert created.spec.selector.matchLabels["batch.kubernetes.io/controller-uid"] == created.metadata.uid
    obj, ok = _wait_for(lambda: jobs.get(namespace="default", name=name),
                        lambda j: _conditions(j).get(condition) == "True")
    assert ok, obj.status
    assert (obj.status.succeeded or 0) == (0 if fails else 1)
    assert (obj.status.failed or 0) == (2 if fails else 0)


def test_daemonset_counts_matching_nodes(sandbox, client):
    """desiredNumberScheduled counts nodes matching the nodeSelector whose taints are tolerated."""
    sandbox.control.add_node("compute-1", labels={"role": "compute"})
    sandbox.control.add_node("compute-2", labels={"role": "compute"},
                             taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    sandbox.control.add_node("compute-3", labels={"role": "compute"},
                             taints=[{"key": "dedicated", "value": "ovs", "effect": "NoSchedule"}])
    daemonsets = client.resources.get(api_version="apps/v1", kind="DaemonSet")
    daemonsets.create(namespace="default", body=manifests.daemonset(
        "agent", node_selector={"role": "compute"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "ovs", "effect": "NoSchedule"}]))
    obj, ok = _wait_for(lambda: daemonsets.get(namespace="default", name="agent"),
                        lambda d: d.status.numberReady == 2)
    assert ok, obj.status
    assert (obj.status.desiredNumberScheduled, obj.status.currentNumberScheduled) == (2, 2)
    pods = client.resources.get(api_version="v1", kind="Pod").get(namespace="default", label_selector="app=agent")
    assert sorted(p.spec.nodeName for p in pods.items) == ["compute-1", "compute-3"]


def test_statefulset_revisions_and_ordered_pods(sandbox, client):
    """StatefulSet pods are named <name>-<ordinal>; a template change moves updateRevision, and
    currentRevision follows once every pod runs the new revision."""
    sandbox.control.settings(ready_delay=0.05)
    statefulsets = client.resources.get(api_version="apps/v1", kind="StatefulSet")
    statefulsets.create(namespace="default", body=manifests.statefulset("db", replicas=3))

    def read():
        return statefulsets.get(namespace="default", name="db")

    first, ok = _wait_for(read, lambda s: s.status.readyReplicas == 3)
    assert ok, first.status
    assert first.status.currentRevision == first.status.updateRevision
    statefulsets.patch(namespace="default", name="db", content_type="application/strategic-merge-patch+json",
                       body={"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "db:2"}]}}}})
    second, ok = _wait_for(read, lambda s: s.status.observedGeneration == s.metadata.generation and
                           s.status.updatedReplicas == 3 and s.status.readyReplicas == 3 and
                           s.status.currentRevision == s.status.updateRevision)
    assert ok, second.status
    assert second.status.updateRevision != first.status.updateRevision
    pods = client.resources.get(api_version="v1", kind="Pod").get(namespace="default", label_selector="app=db")
    assert sorted(p.metadata.name for p in pods.items) == ["db-0", "db-1", "db-2"]


def test_unschedulable_pod_stays_pending(sandbox, client):
    """A pod whose nodeSelector matches no node stays Pending with PodScheduled=False."""
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    body = manifests.deployment("nowhere")
    body["spec"]["template"]["spec"]["nodeSelector"] = {"role": "missing"}
    deployments.create(namespace="default", body=body)
    pods = client.resources.get(api_version="v1", kind="Pod")
    listing, ok = _wait_for(lambda: pods.get(namespace="default", label_selector="app=nowhere"),
                            lambda p: p.items and p.items[0].status.conditions)
    assert ok
    condition = listing.items[0].status.conditions[0]
    assert (condition.type, condition.status, condition.reason) == ("PodScheduled", "False", "Unschedulable")
    del sandbox


def test_rolling_update_surges_before_removing_old_pods(sandbox, client):
    """A RollingUpdate with maxUnavailable 0 creates the new pod before removing the old one:
    during the rollout status.replicas exceeds spec.replicas and the Deployment stays Available."""
    sandbox.control.settings(ready_delay=0.5)
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(namespace="default", body=manifests.deployment(
        "roll", strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}))
    ok = _wait_for(lambda: deployments.get(namespace="default", name="roll"),
                   lambda d: d.status.availableReplicas == 1)[1]
    assert ok
    deployments.patch(namespace="default", name="roll", content_type="application/strategic-merge-patch+json",
                      body={"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}})
    during, ok = _wait_for(lambda: deployments.get(namespace="default", name="roll"),
                           lambda d: d.status.observedGeneration == 2 and d.status.replicas == 2)
    assert ok, during.status
    assert _conditions(during)["Available"] == "True"
    done, ok = _wait_for(lambda: deployments.get(namespace="default", name="roll"),
                         lambda d: d.status.replicas == 1 and d.status.updatedReplicas == 1 and
                         d.status.availableReplicas == 1)
    assert ok, done.status
    replicasets = client.resources.get(api_version="apps/v1", kind="ReplicaSet").get(namespace="default")
    assert sorted(rs.spec.replicas for rs in replicasets.items if rs.metadata.name.startswith("roll-")) == [0, 1]


def test_service_endpoints_follow_ready_pods(sandbox, client):
    """The endpoints controller lists ready pods selected by a Service in Endpoints and an
    EndpointSlice (addressType IPv4, ready conditions), with the targetPort resolved."""
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(namespace="default", body=manifests.deployment("api", replicas=2))
    client.resources.get(api_version="v1", kind="Service").create(
        namespace="default", body=manifests.service("api", port=80, ports=[{"port": 80, "targetPort": 8080}]))
    endpoints = client.resources.get(api_version="v1", kind="Endpoints")
    found, ok = _wait_for(lambda: endpoints.get(namespace="default", field_selector="metadata.name=api").items,
                          lambda e: e and e[0].subsets and len(e[0].subsets[0].addresses or ()) == 2)
    assert ok, found
    assert found[0].subsets[0].ports[0].port == 8080
    slices = client.resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice").get(
        namespace="default", label_selector="kubernetes.io/service-name=api")
    assert [e.conditions.ready for e in slices.items[0].endpoints] == [True, True]
    del sandbox


def test_claims_are_bound_by_default_storage_class(sandbox, client):
    """A claim without storageClassName gets the default StorageClass (admission) and is bound
    to a dynamically provisioned PersistentVolume."""
    claims = client.resources.get(api_version="v1", kind="PersistentVolumeClaim")
    created = claims.create(namespace="default", body={
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert created.spec.storageClassName == "standard"
    assert created.status.phase == "Pending"
    bound, ok = _wait_for(lambda: claims.get(namespace="default", name="data"), lambda c: c.status.phase == "Bound")
    assert ok
    volume = client.resources.get(api_version="v1", kind="PersistentVolume").get(name=bound.spec.volumeName)
    assert volume.spec.claimRef.name == "data"
    del sandbox


@pytest.mark.parametrize("template_labels, expected", [
    (None, {"app": "db"}),
    ({"tier": "data"}, {"app": "db", "tier": "data"}),
    # The selector's labels win over a template label of the same name.
    ({"app": "other", "tier": "data"}, {"app": "db", "tier": "data"}),
])
def test_statefulset_claims_carry_template_and_selector_labels(sandbox, client, template_labels, expected):
    """The StatefulSet controller labels each claim with its template's labels, the selector's on top."""
    template = {"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    if template_labels:
        template["metadata"]["labels"] = template_labels
    body = manifests.statefulset("db", replicas=1, volumeClaimTemplates=[template])
    client.resources.get(api_version="apps/v1", kind="StatefulSet").create(namespace="default", body=body)
    claims = client.resources.get(api_version="v1", kind="PersistentVolumeClaim")
    listing, ok = _wait_for(lambda: claims.get(namespace="default"), lambda found: len(found.items) == 1)
    assert ok
    assert listing.items[0].metadata.name == "data-db-0"
    assert dict(listing.items[0].metadata.labels) == expected
    del sandbox


def test_pod_deletion_is_graceful(sandbox, client):
    """Deleting a running pod marks it (deletionTimestamp, deletionGracePeriodSeconds); it is gone
    once the kubelet has stopped it, and its ReplicaSet replaces it."""
    sandbox.control.settings(pod_termination_delay=0.5)
    client.resources.get(api_version="apps/v1", kind="Deployment").create(
        namespace="default", body=manifests.deployment("grace"))
    pods = client.resources.get(api_version="v1", kind="Pod")
    listing, ok = _wait_for(lambda: pods.get(namespace="default", label_selector="app=grace"),
                            lambda p: p.items and p.items[0].status.phase == "Running")
    assert ok
    name = listing.items[0].metadata.name
    deleted = pods.delete(namespace="default", name=name)
    assert deleted.metadata.deletionTimestamp and deleted.metadata.deletionGracePeriodSeconds == 30
    assert pods.get(namespace="default", name=name).metadata.deletionTimestamp
    names, ok = _wait_for(lambda: {p.metadata.name for p in pods.get(namespace="default",
                                                                     label_selector="app=grace").items},
                          lambda n: name not in n and len(n) == 1)
    assert ok, names


def test_pdb_status(sandbox, client):
    """A PodDisruptionBudget reports expected/healthy pods and disruptionsAllowed."""
    client.resources.get(api_version="apps/v1", kind="Deployment").create(
        namespace="default", body=manifests.deployment("guarded", replicas=3))
    budgets = client.resources.get(api_version="policy/v1", kind="PodDisruptionBudget")
    budgets.create(namespace="default", body={
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}})
    found, ok = _wait_for(lambda: budgets.get(namespace="default", name="guarded"),
                          lambda b: b.status.currentHealthy == 3)
    assert ok, found.status
    assert (found.status.expectedPods, found.status.desiredHealthy, found.status.disruptionsAllowed) == (3, 2, 1)
    del sandbox


def test_missing_service_account_blocks_pods(sandbox, client):
    """Pods need their ServiceAccount (admission): a Deployment naming a missing one gets no
    pods, a ReplicaFailure/FailedCreate condition and a Warning event; creating the account heals it."""
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    body = manifests.deployment("needs-sa")
    body["spec"]["template"]["spec"]["serviceAccountName"] = "runner"
    deployments.create(namespace="default", body=body)
    failing, ok = _wait_for(lambda: deployments.get(namespace="default", name="needs-sa"),
                            lambda d: _conditions(d).get("ReplicaFailure") == "True")
    assert ok, failing.status
    events = client.resources.get(api_version="v1", kind="Event").get(namespace="default")
    assert any(e.reason == "FailedCreate" and "serviceaccount \"runner\" not found" in e.message for e in events.items)
    client.resources.get(api_version="v1", kind="ServiceAccount").create(
        namespace="default", body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}})
    healed, ok = _wait_for(lambda: deployments.get(namespace="default", name="needs-sa"),
                           lambda d: d.status.readyReplicas == 1)
    assert ok, healed.status
    assert "ReplicaFailure" not in _conditions(healed)
    del sandbox


def test_finished_job_ttl(sandbox, client):
    """ttlSecondsAfterFinished: the TTL controller deletes a finished Job (and its pods) after the TTL."""
    sandbox.control.settings(job_delay=0.05)
    jobs = client.resources.get(api_version="batch/v1", kind="Job")
    jobs.create(namespace="default", body=manifests.job("ephemeral", ttlSecondsAfterFinished=1))
    names, ok = _wait_for(lambda: [j.metadata.name for j in jobs.get(namespace="default").items],
                          lambda n: "ephemeral" not in n, timeout=6)
    assert ok, names
    pods = client.resources.get(api_version="v1", kind="Pod")
    assert _wait_for(lambda: pods.get(namespace="default", label_selector="job-name=ephemeral").items,
                     lambda p: not p)[1]


def test_job_active_deadline(sandbox, client):
    """activeDeadlineSeconds: a Job still running after its deadline fails with DeadlineExceeded."""
    sandbox.control.settings(job_delay=30)
    jobs = client.resources.get(api_version="batch/v1", kind="Job")
    jobs.create(namespace="default", body=manifests.job("slowpoke", activeDeadlineSeconds=1))
    job, ok = _wait_for(lambda: jobs.get(namespace="default", name="slowpoke"),
                        lambda j: _conditions(j).get("Failed") == "True", timeout=5)
    assert ok, job.status
    assert [c.reason for c in job.status.conditions] == ["DeadlineExceeded", "DeadlineExceeded"]


def test_min_ready_seconds(sandbox, client):
    """With minReadySeconds a ready pod counts as available only after it stayed ready that long."""
    sandbox.control.settings(ready_delay=0.05)
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(namespace="default", body=manifests.deployment("patient", minReadySeconds=1))
    ready, ok = _wait_for(lambda: deployments.get(namespace="default", name="patient"),
                          lambda d: d.status.readyReplicas == 1)
    assert ok
    assert not ready.status.availableReplicas
    available, ok = _wait_for(lambda: deployments.get(namespace="default", name="patient"),
                              lambda d: d.status.availableReplicas == 1, timeout=4)
    assert ok, available.status


def test_recreate_strategy_removes_old_pods_first(sandbox, client):
    """Recreate: the new ReplicaSet is scaled up only after every old pod is gone."""
    sandbox.control.settings(ready_delay=0.05, pod_termination_delay=0.5)
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(namespace="default", body=manifests.deployment("redo", replicas=2, strategy={"type": "Recreate"}))
    assert _wait_for(lambda: deployments.get(namespace="default", name="redo"),
                     lambda d: d.status.readyReplicas == 2)[1]
    deployments.patch(namespace="default", name="redo", content_type="application/strategic-merge-patch+json",
                      body={"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}})
    replicasets = client.resources.get(api_version="apps/v1", kind="ReplicaSet")
    pods = client.resources.get(api_version="v1", kind="Pod")
    deadline = time.monotonic() + 5
    mixed = False
    while time.monotonic() < deadline:
        images = {p.spec.containers[0].image for p in pods.get(namespace="default", label_selector="app=redo").items}
        mixed = mixed or len(images) > 1
        sets = [rs.spec.replicas for rs in replicasets.get(namespace="default").items
                if rs.metadata.name.startswith("redo-")]
        if sorted(sets) == [0, 2] and images == {"app:2"}:
            break
        time.sleep(0.05)
    assert sorted(sets) == [0, 2] and images == {"app:2"}
    assert not mixed


@pytest.mark.parametrize("kind,reason", [
    ("Deployment", "ScalingReplicaSet"),
    ("ReplicaSet", "SuccessfulCreate"),
    ("Pod", "Scheduled"),
    ("Pod", "Started"),
])
def test_normal_events(sandbox, client, kind, reason):
    """Controllers, scheduler and kubelet record the Normal events a real cluster shows."""
    client.resources.get(api_version="apps/v1", kind="Deployment").create(
        namespace="default", body=manifests.deployment("noisy"))
    events = client.resources.get(api_version="v1", kind="Event")
    found, ok = _wait_for(lambda: [(e.involvedObject.kind, e.reason) for e in events.get(namespace="default").items],
                          lambda seen: (kind, reason) in seen)
    assert ok, found
    del sandbox


def test_suspended_job_runs_nothing_until_resumed(sandbox, client):
    """A suspended Job creates no pods and reports Suspended=True; resuming it runs it to completion."""
    sandbox.control.settings(job_delay=0.05)
    jobs = client.resources.get(api_version="batch/v1", kind="Job")
    jobs.create(namespace="default", body=manifests.job("later", suspend=True))
    job, ok = _wait_for(lambda: jobs.get(namespace="default", name="later"),
                        lambda j: _conditions(j).get("Suspended") == "True")
    assert ok, job.status
    pods = client.resources.get(api_version="v1", kind="Pod")
    assert not pods.get(namespace="default", label_selector="job-name=later").items
    jobs.patch(namespace="default", name="later", body={"spec": {"suspend": False}},
               content_type="application/merge-patch+json")
    job, ok = _wait_for(lambda: jobs.get(namespace="default", name="later"),
                        lambda j: _conditions(j).get("Complete") == "True")
    assert ok, job.status


def test_eviction_honours_disruption_budget(sandbox, client):
    """The pods/eviction subresource deletes a pod while its PodDisruptionBudget allows a
    disruption, and answers 429 (DisruptionBudget) once it does not."""
    sandbox.control.settings(ready_delay=0.05, pod_termination_delay=5)
    client.resources.get(api_version="apps/v1", kind="Deployment").create(
        namespace="default", body=manifests.deployment("evictable", replicas=2))
    budgets = client.resources.get(api_version="policy/v1", kind="PodDisruptionBudget")
    budgets.create(namespace="default", body={
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "evictable"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "evictable"}}}})
    assert _wait_for(lambda: budgets.get(namespace="default", name="evictable"),
                     lambda b: b.status.disruptionsAllowed == 1)[1]
    sandbox.control.settings(ready_delay=30)  # replacement pods stay unready for the rest of the test
    pods = client.resources.get(api_version="v1", kind="Pod")
    names = [p.metadata.name for p in pods.get(namespace="default", label_selector="app=evictable").items]
    core = CoreV1Api(sandbox.api_client())
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction"}
    core.create_namespaced_pod_eviction(names[0], "default", dict(eviction, metadata={"name": names[0]}))
    time.sleep(0.5)  # the disruption controller recomputes: the evicted pod's replacement is not ready yet
    assert budgets.get(namespace="default", name="evictable").status.disruptionsAllowed == 0
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod_eviction(names[1], "default", dict(eviction, metadata={"name": names[1]}))
    assert caught.value.status == 429
    assert json.loads(caught.value.body)["details"]["causes"][0]["reason"] == "DisruptionBudget"


def test_pod_logs(sandbox, client):
    """pods/log answers text for a started container, and refuses (400) to pick among several
    containers or to read one still waiting to start."""
    sandbox.control.settings(broken=[{"name": "stuck"}])
    pods = client.resources.get(api_version="v1", kind="Pod")
    for name, containers in (("solo", ["main"]), ("duo", ["a", "b"]), ("stuck", ["main"])):
        pods.create(namespace="default", body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                               "spec": {"containers": [{"name": c, "image": "img:1"}
                                                                       for c in containers]}})
    assert _wait_for(lambda: pods.get(namespace="default", name="solo"), lambda p: p.status.phase == "Running")[1]
    core = CoreV1Api(sandbox.api_client())
    assert "container main started" in core.read_namespaced_pod_log("solo", "default")
    for name, message in (("duo", "a container name must be specified"), ("stuck", "is waiting to start")):
        with pytest.raises(ApiException) as caught:
            core.read_namespaced_pod_log(name, "default")
        assert caught.value.status == 400 and message in json.loads(caught.value.body)["message"]
