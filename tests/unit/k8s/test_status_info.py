"""The pure parts of openstack_service_info's status: failing pods, their events, RabbitMQ cluster state.

Pod and Event shapes are those a kubelet and the API server report; the RabbitMQ documents have
the keys and shapes of ``rabbitmqctl cluster_status --formatter json`` (RabbitMQ 3.8 - 4.x).
"""
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import info

LABELS = {'app.kubernetes.io/managed-by': 'openstack_k8s.deploy', 'app.kubernetes.io/name': 'keystone',
          'app.kubernetes.io/component': 'api'}


def pod(name='keystone-api-1', phase='Running', ready=True, containers=(), conditions=(), deleting=False, labels=None, **status):
    conds = [{'type': 'Ready', 'status': 'True' if ready else 'False',
              'reason': None if ready else 'ContainersNotReady', 'message': None if ready else 'containers with unready status: [api]'}]
    conds.extend(conditions)
    meta = {'name': name, 'labels': dict(LABELS, **(labels or {}))}
    if deleting:
        meta['deletionTimestamp'] = '2026-11-23T10:00:00Z'
    return {'metadata': meta, 'spec': {'nodeName': 'ctl-1'},
            'status': dict(phase=phase, conditions=conds, containerStatuses=list(containers), **status)}


def container(state, restarts=0):
    return {'name': 'api', 'restartCount': restarts, 'state': state}


POD_CASES = [
    # (id, pod, finished jobs, expected (phase, reason, restarts) or None)
    ('running-ready', pod(), (), None),
    ('succeeded-job-pod', pod(phase='Succeeded', ready=False), (), None),
    ('terminating', pod(ready=False, deleting=True), (), None),
    ('crash-loop', pod(ready=False, containers=[container({'waiting': {'reason': 'CrashLoopBackOff', 'message': 'back-off 5m0s'}}, 7)]),
     (), ('Running', 'CrashLoopBackOff', 7)),
    ('image-pull', pod(phase='Pending', ready=False, containers=[container({'waiting': {'reason': 'ImagePullBackOff'}})]),
     (), ('Pending', 'ImagePullBackOff', 0)),
    ('unschedulable', pod(phase='Pending', ready=False, conditions=[
        {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable', 'message': '0/3 nodes are available'}]),
     (), ('Pending', 'Unschedulable', 0)),
    ('running-not-ready-probe', pod(ready=False, containers=[container({'running': {}}, 1)]), (), ('Running', 'ContainersNotReady', 1)),
    ('failed-job-pod', pod(phase='Failed', ready=False, labels={'job-name': 'keystone-db-sync'},
                           containers=[container({'terminated': {'reason': 'Error', 'exitCode': 1}})]),
     (), ('Failed', 'Error', 0)),
    ('failed-pod-of-a-job-that-completed-since', pod(phase='Failed', ready=False, labels={'job-name': 'keystone-db-sync'}),
     ('keystone-db-sync',), None),
    ('evicted', pod(phase='Failed', ready=False, reason='Evicted', message='The node was low on resource: memory.'),
     (), ('Failed', 'Evicted', 0)),
]


@pytest.mark.parametrize('obj, finished, expected', [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_problem(obj, finished, expected):
    problem = info.pod_problem(obj, finished)
    if expected is None:
        assert problem is None
    else:
        assert (problem['phase'], problem['reason'], problem['restarts']) == expected, problem
        assert problem['service'] == 'keystone' and problem['component'] == 'api' and problem['events'] == []


def event(name, last, reason, kind='Warning', count=1, **extra):
    return dict({'metadata': {'name': name}, 'type': kind, 'reason': reason, 'message': reason + ' message\n',
                 'count': count, 'lastTimestamp': last}, **extra)


EVENTS = [event('a', '2026-11-23T10:00:03Z', 'BackOff', count=4), event('b', '2026-11-23T10:00:01Z', 'Scheduled', 'Normal'),
          event('c', None, 'Pulled', 'Normal', eventTime='2026-11-23T10:00:02.000000Z'),
          event('d', '2026-11-23T10:00:00Z', 'SuccessfulCreate', 'Normal')]


@pytest.mark.parametrize('limit, reasons', [(3, ['Scheduled', 'Pulled', 'BackOff']), (1, ['BackOff']), (0, []),
                                            (10, ['SuccessfulCreate', 'Scheduled', 'Pulled', 'BackOff'])])
def test_last_events_are_the_most_recent_oldest_first(limit, reasons):
    events = info.last_events(EVENTS, limit)
    assert [e['reason'] for e in events] == reasons
    assert all(e['message'] == e['reason'] + ' message' for e in events)


def test_problem_pods_mark_their_service_not_ready():
    services = {'keystone': {'name': 'keystone', 'ready': True}, 'glance': {'name': 'glance', 'ready': True}}
    problems = info.problem_pods([pod(), pod('keystone-api-2', ready=False)])
    info.attach_pods(services, problems)
    assert services['keystone'] == {'name': 'keystone', 'ready': False, 'problem_pods': ['keystone-api-2']}
    assert services['glance'] == {'name': 'glance', 'ready': True, 'problem_pods': []}


NODES = ['rabbit@rabbitmq-server-%d.rabbitmq-nodes.openstack.svc.cluster.local' % i for i in range(3)]


def cluster_status(running=NODES, disk=NODES, partitions=None, alarms=(), maintenance=None):
    return json.dumps({
        'alarms': list(alarms), 'cluster_name': NODES[0], 'disk_nodes': list(disk), 'ram_nodes': [],
        'running_nodes': list(running), 'partitions': partitions or {},
        'maintenance_status': maintenance or dict((n, 'not under maintenance') for n in running),
        'versions': dict((n, {'erlang_version': '26.2.5', 'rabbitmq_name': 'RabbitMQ', 'rabbitmq_version': '4.1.4'}) for n in running),
        'listeners': dict((n, []) for n in running), 'feature_flags': []})


RABBIT_CASES = [
    # (id, rabbitmqctl stdout, expected replicas, state, reason fragment)
    ('healthy', cluster_status(), 3, 'healthy', '3 of 3 nodes running'),
    ('node-down', cluster_status(running=NODES[:2]), 3, 'degraded', 'not running: ' + NODES[2]),
    ('fewer-members-than-replicas', cluster_status(running=NODES[:1], disk=NODES[:1]), 3, 'degraded', '1 of 3 nodes running'),
    ('partition', cluster_status(partitions={NODES[0]: [NODES[2]], NODES[1]: []}), 3, 'degraded',
     'network partition: %s cannot see %s' % (NODES[0], NODES[2])),
    ('memory-alarm', cluster_status(alarms=[{'node': NODES[1], 'resource': 'memory', 'type': 'resource_limit'}]), 3,
     'degraded', 'alarms: memory on ' + NODES[1]),
    ('maintenance', cluster_status(maintenance=dict([(NODES[0], 'under maintenance')] + [(n, 'not under maintenance') for n in NODES[1:]])),
     3, 'degraded', 'under maintenance: ' + NODES[0]),
    ('banner-before-json', 'Cluster status of node %s ...\n%s\n' % (NODES[0], cluster_status()), 3, 'healthy', '3 of 3'),
    ('not-json', 'Error: unable to perform an operation on node', 3, 'unknown', 'printed no JSON'),
    ('truncated-json', cluster_status()[:40], 3, 'unknown', 'unreadable JSON'),
    ('other-json', '{"status": "ok"}', 3, 'unknown', 'no running_nodes'),
]


@pytest.mark.parametrize('text, expected, state, reason', [c[1:] for c in RABBIT_CASES], ids=[c[0] for c in RABBIT_CASES])
def test_parse_rabbitmq_cluster_status(text, expected, state, reason):
    result = info.parse_rabbitmq_cluster_status(text, expected)
    assert result['state'] == state and reason in result['reason'], result
    assert result['healthy'] is {'healthy': True, 'degraded': False, 'unknown': None}[state]
    if state == 'healthy':
        assert result['versions'] == ['4.1.4'] and result['running_nodes'] == NODES


def rabbit_pod(name, ready=True, phase='Running'):
    return {'metadata': {'name': name, 'labels': dict(LABELS, **{'app.kubernetes.io/name': 'rabbitmq'})},
            'status': {'phase': phase, 'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}}


RABBIT_SERVICES = {'rabbitmq': {'name': 'rabbitmq', 'workloads': [{'desired': 3}]}}


def test_rabbitmq_status_asks_the_next_ready_pod_when_one_exec_fails():
    calls = []

    def run_exec(pod_name, command, container):
        calls.append((pod_name, command, container))
        if pod_name == 'rabbitmq-server-0':
            raise RuntimeError('Handshake status 500 container not found ("server")')
        return 0, cluster_status(), ''
    pods = [rabbit_pod('rabbitmq-server-0'), rabbit_pod('rabbitmq-server-1'), rabbit_pod('rabbitmq-server-2', ready=False)]
    result = info.rabbitmq_status(RABBIT_SERVICES, pods, run_exec, container='server')
    assert result['state'] == 'healthy' and result['pod'] == 'rabbitmq-server-1' and result['expected_nodes'] == 3
    assert calls == [('rabbitmq-server-0', info.RABBITMQ_COMMAND, 'server'), ('rabbitmq-server-1', info.RABBITMQ_COMMAND, 'server')]


@pytest.mark.parametrize('services, pods, outcome, reason', [
    ({}, [], None, 'rabbitmq is not deployed'),
    (RABBIT_SERVICES, [rabbit_pod('rabbitmq-server-0', ready=False)], None, 'no rabbitmq pod is Running and Ready'),
    (RABBIT_SERVICES, [rabbit_pod('rabbitmq-server-0')], RuntimeError('command terminated: exec: "rabbitmqctl": not found'),
     'rabbitmqctl could not run in any rabbitmq pod: rabbitmq-server-0: command terminated'),
    (RABBIT_SERVICES, [rabbit_pod('rabbitmq-server-0')], (69, '', 'Error: unable to perform an operation on node'),
     'exited 69: Error: unable to perform'),
], ids=['not-deployed', 'no-ready-pod', 'exec-fails', 'rabbitmqctl-fails'])
def test_rabbitmq_status_is_unknown_when_it_cannot_tell(services, pods, outcome, reason):
    def run_exec(pod_name, command, container):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    result = info.rabbitmq_status(services, pods, run_exec)
    assert result['state'] == 'unknown' and result['healthy'] is None and reason in result['reason'], result
