"""Readiness predicates: one row per state a real controller reports."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import waiter


def deployment(spec_replicas=3, generation=2, observed=2, **status):
    obj = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'keystone-api', 'generation': generation},
           'spec': {'replicas': spec_replicas}, 'status': dict(status)}
    if observed is not None:
        obj['status']['observedGeneration'] = observed
    return obj


def statefulset(replicas=3, strategy='RollingUpdate', **status):
    status.setdefault('observedGeneration', 1)
    return {'apiVersion': 'apps/v1', 'kind': 'StatefulSet', 'metadata': {'name': 'mariadb', 'generation': 1},
            'spec': {'replicas': replicas, 'updateStrategy': {'type': strategy}}, 'status': status}


def daemonset(**status):
    status.setdefault('observedGeneration', 4)
    return {'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'metadata': {'name': 'neutron-ovs-agent', 'generation': 4},
            'spec': {}, 'status': status}


def job(*conditions, **status):
    status['conditions'] = [dict(type=t, status=s, reason=r, message='m') for t, s, r in conditions]
    return {'apiVersion': 'batch/v1', 'kind': 'Job', 'metadata': {'name': 'keystone-db-sync'}, 'spec': {}, 'status': status}


CASES = [
    # (id, object, ready, failed, detail fragment)
    ('deploy-complete', deployment(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3), True, False, 'available=3'),
    ('deploy-generation-unobserved', deployment(observed=1, replicas=3, updatedReplicas=3, availableReplicas=3),
     False, False, 'observedGeneration 1 < generation 2'),
    ('deploy-no-status-yet', deployment(observed=None), False, False, 'observedGeneration None'),
    ('deploy-old-pods-still-running', deployment(updatedReplicas=3, availableReplicas=3, replicas=4),
     False, False, 'replicas=4'),
    ('deploy-not-all-available', deployment(updatedReplicas=3, availableReplicas=2, readyReplicas=2, replicas=3),
     False, False, 'available=2'),
    ('deploy-deadline-exceeded', deployment(updatedReplicas=1, availableReplicas=0, conditions=[
        {'type': 'Progressing', 'status': 'False', 'reason': 'ProgressDeadlineExceeded', 'message': 'too slow'}], replicas=3),
     False, False, 'ProgressDeadlineExceeded: too slow'),
    ('deploy-scaled-to-zero', deployment(spec_replicas=0), True, False, 'spec.replicas=0'),
    ('sts-ready', statefulset(readyReplicas=3, updatedReplicas=3, currentRevision='r2', updateRevision='r2'), True, False, 'ready=3'),
    ('sts-rolling-revision-differs', statefulset(readyReplicas=3, updatedReplicas=3, currentRevision='r1', updateRevision='r2'),
     False, False, 'currentRevision=r1 updateRevision=r2'),
    ('sts-ondelete-ignores-revisions', statefulset(strategy='OnDelete', readyReplicas=3, updatedReplicas=0, currentRevision='r1',
                                                   updateRevision='r2'), True, False, 'ready=3'),
    ('sts-one-missing', statefulset(readyReplicas=2, updatedReplicas=3, currentRevision='r2', updateRevision='r2'),
     False, False, 'ready=2'),
    ('ds-ready', daemonset(desiredNumberScheduled=2, numberReady=2, updatedNumberScheduled=2, numberAvailable=2), True, False, 'desired=2'),
    ('ds-updating', daemonset(desiredNumberScheduled=2, numberReady=2, updatedNumberScheduled=1, numberAvailable=2),
     False, False, 'updated=1'),
    ('ds-no-nodes-match', daemonset(desiredNumberScheduled=0, numberReady=0), True, False, 'desired=0'),
    ('job-complete', job(('Complete', 'True', 'Completed')), True, False, 'Complete=True'),
    ('job-running', job(active=1), False, False, 'active=1'),
    ('job-failed', job(('Failed', 'True', 'BackoffLimitExceeded')), False, True, 'BackoffLimitExceeded'),
    ('job-suspended-condition-only', job(('Suspended', 'True', 'JobSuspended')), False, False, 'active=0'),
    ('pdb-observed', {'kind': 'PodDisruptionBudget', 'metadata': {'generation': 1},
                      'status': {'observedGeneration': 1, 'currentHealthy': 2, 'desiredHealthy': 1, 'disruptionsAllowed': 1}},
     True, False, 'disruptionsAllowed=1'),
    ('pdb-not-observed', {'kind': 'PodDisruptionBudget', 'metadata': {'generation': 1}, 'status': {}}, False, False, 'None < generation 1'),
    ('svc-clusterip', {'kind': 'Service', 'spec': {'clusterIP': '10.0.0.7'}}, True, False, 'type=ClusterIP'),
    ('svc-lb-pending', {'kind': 'Service', 'spec': {'type': 'LoadBalancer'}, 'status': {'loadBalancer': {}}}, False, False, 'ingress=[]'),
    ('svc-lb-ready', {'kind': 'Service', 'spec': {'type': 'LoadBalancer'},
                      'status': {'loadBalancer': {'ingress': [{'ip': '192.0.2.1'}]}}}, True, False, '192.0.2.1'),
    ('secret-exists', {'kind': 'Secret', 'metadata': {'name': 'x'}}, True, False, 'present'),
    ('absent', None, False, False, 'absent'),
]


@pytest.mark.parametrize('obj,ready,failed,detail', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_readiness(obj, ready, failed, detail):
    state = waiter.readiness(obj)
    assert (state.ready, state.failed) == (ready, failed), state
    assert detail in state.detail
    assert state.condition


def test_every_waited_kind_names_its_condition():
    for kind, predicate in waiter.PREDICATES.items():
        state = predicate({'kind': kind, 'metadata': {}, 'spec': {}, 'status': {}})
        assert kind.split('Disruption', maxsplit=1)[0] in state.condition or kind == 'Service', (kind, state.condition)


def test_wait_error_carries_object_condition_and_status():
    ref = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': 'glance-api', 'namespace': 'openstack'}
    err = waiter.WaitTimeout('timed out', ref, 'Deployment rolled out', 'available=0', 12.345)
    assert err.to_dict() == {'object': ref, 'condition': 'Deployment rolled out', 'last_status': 'available=0',
                             'elapsed': 12.3, 'message': 'timed out'}
    assert waiter.describe_ref(ref) == 'Deployment openstack/glance-api'


def pod(phase, conditions=(), waiting=None, terminated=None):
    container = {'name': 'api', 'state': {'waiting': waiting} if waiting else {'running': {}}}
    if terminated:
        container['lastState'] = {'terminated': terminated}
    return {'status': {'phase': phase, 'conditions': list(conditions), 'containerStatuses': [container]}}


UNSCHEDULABLE = {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
                 'message': '0/5 nodes are available: 5 node(s) didn\'t match Pod\'s node affinity/selector.'}
POD_CASES = [
    ('none', [], 'no pods'),
    ('unschedulable', [pod('Pending', [UNSCHEDULABLE])] * 3,
     "pods: 3 Pending; Unschedulable: 0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector."),
    ('image-pull', [pod('Pending', waiting={'reason': 'ImagePullBackOff', 'message': 'Back-off pulling image "x"'}),
                    pod('Running')],
     'pods: 1 Pending, 1 Running; api ImagePullBackOff: Back-off pulling image "x"'),
    ('crash-loop', [pod('Running', waiting={'reason': 'CrashLoopBackOff', 'message': 'back-off 5m0s'},
                        terminated={'exitCode': 1, 'reason': 'Error'})],
     'pods: 1 Running; api CrashLoopBackOff: back-off 5m0s'),
    ('restarted', [pod('Running', terminated={'exitCode': 137, 'reason': 'OOMKilled'})], 'pods: 1 Running; api last exit 137 (OOMKilled)'),
    ('creating-is-not-a-reason', [pod('Pending', waiting={'reason': 'ContainerCreating'})], 'pods: 1 Pending'),
]


@pytest.mark.parametrize('pods,summary', [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_summary(pods, summary):
    assert waiter.pod_summary(pods) == summary
