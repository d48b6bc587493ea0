"""module_utils/cluster_members: which RabbitMQ and etcd members leave, in which order, through which commands.

The clusters here are tables (a fake pod exec that answers as rabbitmqctl / etcdctl do, in the
output formats of RabbitMQ 3.10 and etcd 3.4); the real servers are in
tests/integration/scale/test_scale_playbook.py.
"""
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import cluster_members as cm

NS = 'openstack'


def pod(name, ready=True, phase='Running', deleting=False):
    meta = {'name': name, 'namespace': NS, 'labels': {'app': name.rsplit('-', 1)[0]}}
    if deleting:
        meta['deletionTimestamp'] = '2026-11-24T10:00:00Z'
    return {'metadata': meta, 'status': {'phase': phase, 'conditions': [
        {'type': 'Ready', 'status': 'True' if ready else 'False'}]}}


class FakeClient(object):
    def __init__(self, sts_name, replicas, pods, claims=()):
        self.sts = {'metadata': {'name': sts_name}, 'spec': {
            'replicas': replicas, 'selector': {'matchLabels': {'app': sts_name}},
            'volumeClaimTemplates': [{'metadata': {'name': 'data'}}]}}
        self.pods = dict((p['metadata']['name'], p) for p in pods)
        self.claims = list(claims)
        self.deleted = []

    def get(self, api_version, kind, name, namespace=None):
        assert (api_version, kind, namespace) == ('apps/v1', 'StatefulSet', NS)
        return self.sts if name == self.sts['metadata']['name'] else None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        if kind == 'Pod':
            assert label_selector == 'app=%s' % self.sts['metadata']['name']
            return list(self.pods.values()), '1'
        assert kind == 'PersistentVolumeClaim'
        return [{'metadata': {'name': c}} for c in self.claims], '1'

    def delete(self, api_version, kind, name, namespace=None):
        self.claims.remove(name)
        self.deleted.append(name)


class FakeRabbit(object):
    """rabbitmqctl / rabbitmq-queues in pods rabbitmq-server-<n>, each the node rabbit@rabbitmq-server-<n>.<domain>."""

    def __init__(self, count, down=()):
        self.nodes = dict(('rabbit@rabbitmq-server-%d.rabbitmq-nodes.openstack.svc.cluster.local' % n, n not in down)
                          for n in range(count))
        self.calls = []
        self.forget_fails = False

    def node(self, pod_name):
        return 'rabbit@%s.rabbitmq-nodes.openstack.svc.cluster.local' % pod_name

    def __call__(self, pod_name, argv, container):
        assert container == 'server'
        self.calls.append((pod_name, ' '.join(argv)))
        tool, args = argv[0], [a for a in argv[1:] if a != '--quiet']
        if args[0] == 'eval':
            return 0, "'%s'\n" % self.node(pod_name), ''
        if args[0] == 'cluster_status':
            return 0, json.dumps({'disk_nodes': sorted(self.nodes), 'ram_nodes': [],
                                  'running_nodes': sorted(n for n, up in self.nodes.items() if up)}), ''
        if (tool, args[0]) == ('rabbitmq-queues', 'shrink'):
            return 0, '', ''
        if args[0] == 'stop_app':
            self.nodes[self.node(pod_name)] = False
            return 0, '', ''
        if args[0] == 'forget_cluster_node':
            if self.forget_fails or self.nodes.get(args[1]):
                return 70, '', 'Error: {failed_to_remove_node, %s, {active, "Mnesia is running"}}' % args[1]
            del self.nodes[args[1]]
            return 0, '', ''
        raise AssertionError(argv)

    def changes(self):
        return [c for c in self.calls if any(w in c[1] for w in ('shrink', 'stop_app', 'forget'))]


def rabbit(count, replicas_now=None, ready=None, pods=None, down=()):
    fake = FakeRabbit(count, down)
    pods = pods if pods is not None else [pod('rabbitmq-server-%d' % n, ready=(ready or {}).get(n, True))
                                          for n in range(replicas_now or count)]
    client = FakeClient('rabbitmq-server', replicas_now or count, pods)
    return fake, client, cm.Members(client, fake, 'rabbitmq', NS, sleep=lambda s: None)


def node(n):
    return 'rabbit@rabbitmq-server-%d.rabbitmq-nodes.openstack.svc.cluster.local' % n


def test_rabbitmq_members_leave_highest_first_one_at_a_time():
    fake, _client, members = rabbit(3)
    result = members.leave(1)
    assert result['left'] == [node(2), node(1)]
    assert fake.changes() == [
        ('rabbitmq-server-0', 'rabbitmq-queues --quiet shrink %s' % node(2)),
        ('rabbitmq-server-2', 'rabbitmqctl --quiet stop_app'),
        ('rabbitmq-server-0', 'rabbitmqctl --quiet forget_cluster_node %s' % node(2)),
        ('rabbitmq-server-0', 'rabbitmq-queues --quiet shrink %s' % node(1)),
        ('rabbitmq-server-1', 'rabbitmqctl --quiet stop_app'),
        ('rabbitmq-server-0', 'rabbitmqctl --quiet forget_cluster_node %s' % node(1)),
    ]
    assert list(fake.nodes) == [node(0)]
    assert [m['stays'] for m in result['members']] == [True, False, False]


@pytest.mark.parametrize('count, replicas, check, left', [
    (3, 3, False, []),                          # nothing above the count: nothing changes
    (5, 3, True, [node(4), node(3)]),           # check mode: the plan, no change
    (1, 1, False, []),
], ids=['same-count', 'check-mode', 'single'])
def test_rabbitmq_no_change(count, replicas, check, left):
    fake, _client, members = rabbit(count)
    result = members.leave(replicas, check_mode=check)
    assert result['left'] == left and result['changed'] == bool(left)
    assert fake.changes() == []
    assert len(fake.nodes) == count


def test_rabbitmq_member_whose_pod_is_gone_is_forgotten_without_stop_app():
    # A re-run after the StatefulSet shrank first: rabbitmq-server-2's pod is gone, its node still counted.
    fake, _client, members = rabbit(3, replicas_now=2, down=(2,))
    result = members.leave(2)
    assert result['left'] == [node(2)]
    assert fake.changes() == [('rabbitmq-server-0', 'rabbitmq-queues --quiet shrink %s' % node(2)),
                              ('rabbitmq-server-0', 'rabbitmqctl --quiet forget_cluster_node %s' % node(2))]


@pytest.mark.parametrize('pods, named', [
    ([pod('rabbitmq-server-0'), pod('rabbitmq-server-1', ready=False), pod('rabbitmq-server-2')],
     'rabbitmq-server-1 is not'),
    ([pod('rabbitmq-server-0', deleting=True), pod('rabbitmq-server-1'), pod('rabbitmq-server-2')],
     'rabbitmq-server-0 is not'),
    ([pod('rabbitmq-server-2')], 'rabbitmq-server-0, rabbitmq-server-1 are not'),
], ids=['not-ready', 'terminating', 'missing'])
def test_rabbitmq_refuses_while_a_staying_member_is_not_ready(pods, named):
    fake, _client, members = rabbit(3, pods=pods)
    with pytest.raises(cm.MembersError) as exc:
        members.leave(2)
    assert named in exc.value.message and 'nothing was changed' in exc.value.message
    assert fake.calls == []


def test_rabbitmq_forget_that_does_not_take_fails_naming_the_node():
    fake, _client, members = rabbit(3)
    fake.forget_fails = True
    with pytest.raises(cm.MembersError) as exc:
        members.leave(2)
    assert 'forget_cluster_node %s exited 70 and the node is still a member' % node(2) in exc.value.message
    assert members.steps == ['rabbitmq-server-0: quorum queue replicas moved off %s' % node(2),
                             'rabbitmq-server-2: stop_app']


class FakeEtcd(object):
    """etcdctl in pods etcd-server-<n>; member list in etcd 3.4's JSON (decimal IDs, isLearner only when true)."""

    def __init__(self, count, unstarted=()):
        self.members = []
        for n in range(count):
            member = {'ID': 10000000000000000000 + n, 'peerURLs': ['http://etcd-server-%d.etcd-nodes.openstack.svc'
                                                                   '.cluster.local:2380' % n]}
            if n in unstarted:
                member['isLearner'] = True
            else:
                member['name'] = 'etcd-server-%d' % n
                member['clientURLs'] = ['http://etcd-server-%d.etcd-nodes.openstack.svc.cluster.local:2379' % n]
            self.members.append(member)
        self.calls = []
        self.refuse = False

    def hex(self, n):
        return '%x' % (10000000000000000000 + n)

    def __call__(self, pod_name, argv, container):
        self.calls.append((pod_name, ' '.join(argv)))
        if argv[1:3] == ['member', 'list']:
            return 0, json.dumps({'header': {'cluster_id': 1, 'member_id': 2, 'raft_term': 3},
                                  'members': self.members}), ''
        if argv[1:3] == ['member', 'remove']:
            if self.refuse:
                return 1, '', 'Error: etcdserver: re-configuration failed due to not enough started members'
            self.members = [m for m in self.members if '%x' % m['ID'] != argv[3]]
            return 0, 'Member %s removed from cluster 1\n' % argv[3], ''
        raise AssertionError(argv)


def etcd(count, unstarted=()):
    fake = FakeEtcd(count, unstarted)
    client = FakeClient('etcd-server', count, [pod('etcd-server-%d' % n) for n in range(count)])
    return fake, cm.Members(client, fake, 'etcd', NS)


def test_etcd_members_are_removed_highest_first():
    fake, members = etcd(5)
    result = members.leave(3)
    assert result['left'] == ['etcd-server-4', 'etcd-server-3']
    removes = [c for c in fake.calls if 'remove' in c[1]]
    timeouts = ' '.join(cm.ETCD_TIMEOUTS)
    assert removes == [('etcd-server-0', 'etcdctl member remove %s %s' % (fake.hex(4), timeouts)),
                       ('etcd-server-0', 'etcdctl member remove %s %s' % (fake.hex(3), timeouts))]
    assert [m['name'] for m in fake.members] == ['etcd-server-0', 'etcd-server-1', 'etcd-server-2']


def test_etcd_member_added_but_never_started_is_found_by_its_peer_url():
    fake, members = etcd(4, unstarted=(3,))
    result = members.leave(3)
    assert result['left'] == [fake.hex(3)]
    assert result['members'][3] == dict(member=None, id=fake.hex(3), pod='etcd-server-3', learner=True,
                                        started=False, stays=False)


def test_etcd_refused_remove_fails_naming_the_member():
    fake, members = etcd(3)
    fake.refuse = True
    with pytest.raises(cm.MembersError) as exc:
        members.leave(1)
    assert 'member remove %s (etcd-server-2) exited 1 and it is still a member' % fake.hex(2) in exc.value.message
    assert 'not enough started members' in exc.value.message


@pytest.mark.parametrize('text, expected', [
    ("'rabbit@rabbitmq-server-0.rabbitmq-nodes.openstack.svc.cluster.local'\n",
     'rabbit@rabbitmq-server-0.rabbitmq-nodes.openstack.svc.cluster.local'),
    ('rabbit@localhost\n', 'rabbit@localhost'),
    ('', None),
    ('ok\n', None),
], ids=['quoted-atom', 'plain-atom', 'nothing', 'not-a-node'])
def test_parse_node_name(text, expected):
    assert cm.parse_node_name(text) == expected


@pytest.mark.parametrize('text', ['', 'Error: unable to perform an operation on node', '{"nodes": []}'],
                         ids=['empty', 'error-text', 'no-running-nodes'])
def test_cluster_status_that_cannot_be_read_is_an_error(text):
    with pytest.raises(cm.MembersError):
        cm.parse_cluster_status(text)


def test_departed_claims_are_those_of_higher_ordinals_only():
    client = FakeClient('rabbitmq-server', 3, [], claims=[
        'data-rabbitmq-server-0', 'data-rabbitmq-server-2', 'data-rabbitmq-server-3', 'data-rabbitmq-server-10',
        'data-rabbitmq-server-x', 'data-mariadb-server-4', 'logs-rabbitmq-server-4'])
    assert cm.departed_claims(client, NS, client.sts, 3) == ['data-rabbitmq-server-10', 'data-rabbitmq-server-3']


def test_claims_are_deleted_only_after_the_statefulset_shrank_and_the_pods_are_gone():
    _fake, client, members = rabbit(3)
    client.claims = ['data-rabbitmq-server-%d' % n for n in range(3)]
    with pytest.raises(cm.MembersError) as exc:
        cm.delete_departed_claims(members, 1)
    assert 'still asks for 3 pods' in exc.value.message and client.deleted == []
    client.sts['spec']['replicas'] = 1
    clock = iter(range(0, 1000, 10))
    members.clock = lambda: next(clock)
    with pytest.raises(cm.MembersError) as exc:  # the pods are still there
        cm.delete_departed_claims(members, 1, timeout=30)
    assert 'rabbitmq-server-1, rabbitmq-server-2 of StatefulSet openstack/rabbitmq-server are still there' \
        in exc.value.message and client.deleted == []
    for name in ('rabbitmq-server-1', 'rabbitmq-server-2'):
        del client.pods[name]
    assert cm.delete_departed_claims(members, 1, check_mode=True) == dict(
        changed=True, deleted=['data-rabbitmq-server-2', 'data-rabbitmq-server-1'])
    assert client.deleted == []
    assert cm.delete_departed_claims(members, 1)['deleted'] == ['data-rabbitmq-server-2', 'data-rabbitmq-server-1']
    assert client.claims == ['data-rabbitmq-server-0']
    assert cm.delete_departed_claims(members, 1) == dict(changed=False, deleted=[])


ETCD_ANSWERS = [
    # (case, error etcdctl printed, how many times, whether the removal was applied anyway, left)
    ('settles', 'Error: etcdserver: unhealthy cluster', 2, False, True),
    ('stays-unhealthy', 'Error: etcdserver: unhealthy cluster', 100, False, False),
    # A removal that outlasted etcdctl's wait on a busy machine, but was applied: the member list decides.
    ('applied-after-deadline', 'Error: context deadline exceeded', 1, True, True),
    ('deadline-then-accepted', 'Error: context deadline exceeded', 1, False, True),
    ('not-transient', 'Error: etcdserver: re-configuration failed due to not enough started members', 1, False, False),
]


@pytest.mark.parametrize('case, error, refusals, applied, left', ETCD_ANSWERS, ids=[a[0] for a in ETCD_ANSWERS])
def test_etcd_transient_refusals_are_asked_again_for_a_while(case, error, refusals, applied, left):
    del case
    fake, members = etcd(3)
    answer = fake.__call__
    count = []

    def run(pod_name, argv, container):
        if argv[1:3] == ['member', 'remove'] and len(count) < refusals:
            count.append(1)
            if applied:
                answer(pod_name, argv, container)
            return 1, '', '{"level":"warn"}\n' + error
        return answer(pod_name, argv, container)
    members.run_exec = run
    clock = iter(range(0, 10000, 2))
    members.clock, members.sleep = lambda: next(clock), lambda s: None
    if left:
        assert members.leave(2)['left'] == ['etcd-server-2']
    else:
        with pytest.raises(cm.MembersError) as exc:
            members.leave(2)
        assert error.split(': ', 1)[1] in exc.value.message
        assert [m['name'] for m in fake.members] == ['etcd-server-0', 'etcd-server-1', 'etcd-server-2']
