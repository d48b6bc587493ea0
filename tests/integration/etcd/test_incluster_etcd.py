"""The in-cluster etcd's rendered start script, run for real: Debian's etcd 3.4 in one network
namespace per pod (``harness.podnet``), the pods' DNS names resolving as the headless Service
would, each pod's data directory mounted where the StatefulSet mounts its volume.

The script and its environment are taken from the StatefulSet the renderer makes of the catalog
entry (``roles/catalog/files/services/etcd.yml``), field references resolved as the kubelet does.
Cases: the members form a cluster together; a member started after the others formed a quorum
joins; a restarted member keeps its data; two members added by a scale-up join one at a time
(each a learner until promoted) and the old members then restart with the new count; a member
whose volume was replaced joins again under its own name once its old entry is removed.
"""
import json
import pathlib
import shutil

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m
from harness import podnet

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[3]
NAMESPACE = 'openstack'
OK, WHY = podnet.available()
NODE_ROLES = yaml.safe_load((ROOT / 'roles' / 'catalog' / 'files' / 'node_roles.yml').read_text())
CATALOG = cat.load_directory(str(ROOT / 'roles' / 'catalog' / 'files' / 'services'), NODE_ROLES)


def rendered(replicas):
    deployment = m.make_deployment(namespace=NAMESPACE, node_roles=NODE_ROLES,
                                   replicas={'etcd': {'server': replicas}})
    objects = m.all_objects(m.render_service_offline(CATALOG['etcd'], deployment))
    return next(o for o in objects if o['kind'] == 'StatefulSet')


def container_of(statefulset):
    spec = statefulset['spec']['template']['spec']
    container = next(c for c in spec['containers'] if c['name'] == 'server')
    mount = next(v['mountPath'] for v in container['volumeMounts'] if v['name'] == 'data')
    return container, mount


def pod_env(container, pod_name):
    """The container's environment for one pod, field references resolved as the kubelet does."""
    env = {}
    for item in container.get('env', []):
        if 'value' in item:
            env[item['name']] = item['value']
            continue
        path = item['valueFrom']['fieldRef']['fieldPath']
        env[item['name']] = {'metadata.name': pod_name, 'metadata.namespace': NAMESPACE}[path]
    return env


@pytest.fixture(scope='module')
def network(tmp_path_factory):
    if not OK:
        pytest.skip(WHY)
    statefulset = rendered(3)
    net = podnet.PodNetwork(tmp_path_factory.mktemp('etcd-pods'), statefulset['metadata']['name'], 5,
                            statefulset['spec']['serviceName'], namespace=NAMESPACE)
    yield net
    net.close()


class Cluster(object):
    def __init__(self, network, tmp_path):
        self.net, self.dir = network, tmp_path
        network.stop_pods()

    def start(self, ordinal, replicas, fresh=False):
        container, mount = container_of(rendered(replicas))
        assert container['command'][:2] == ['/bin/sh', '-ec'], container['command']
        pod = self.net.pods[ordinal]
        data = self.dir / pod.name
        if fresh and data.exists():
            shutil.rmtree(data)
        data.mkdir(exist_ok=True)
        return pod.start(container['command'][2], pod_env(container, pod.name), {mount: str(data)})

    def form(self, count):
        """Start members 0..count-1 together, as the StatefulSet does, and wait until they formed a cluster."""
        for ordinal in range(count):
            self.start(ordinal, count)
        self.wait_started(list(range(count)))

    def client_urls(self, ordinals=None):
        """The client URLs of these members (default: every running one), by address."""
        pods = [self.net.pods[i] for i in ordinals] if ordinals is not None else [p for p in self.net.pods if p.running()]
        return ['http://%s:2379' % pod.address for pod in pods]

    def ctl(self, *args, endpoints=None):
        endpoints = endpoints or self.client_urls()
        return self.net.run('etcdctl', '--endpoints=' + ','.join(endpoints), '--dial-timeout=2s',
                            '--command-timeout=5s', *args)

    def members(self):
        result = self.ctl('member', 'list', '-w', 'json')
        if result.returncode != 0:
            return None
        return sorted((member.get('name', ''), tuple(member.get('clientURLs') or ()), bool(member.get('isLearner')))
                      for member in json.loads(result.stdout).get('members', []))

    def healthy(self, ordinals):
        result = self.ctl('endpoint', 'health', endpoints=self.client_urls(ordinals))
        # etcdctl 3.4 prints the health lines on stderr.
        return result.returncode == 0 and (result.stdout + result.stderr).count(' is healthy') == len(ordinals)

    def wait_started(self, ordinals, timeout=60):
        names = sorted(self.net.pods[i].name for i in ordinals)

        def started():
            members = self.members()
            # every member started (it has client URLs) and a voter (no learner left)
            return (members is not None and [m[0] for m in members] == names
                    and all(urls and not learner for _n, urls, learner in members) and self.healthy(ordinals))
        try:
            podnet.wait_for(started, timeout, 'etcd members %s started and healthy' % names)
        except AssertionError as exc:
            logs = '\n'.join('--- %s\n%s' % (p.name, p.output()[-3000:]) for p in self.net.pods)
            raise AssertionError('%s\n%s' % (exc, logs))

    def put_get(self, writer, reader, key, value):
        assert self.ctl('put', key, value, endpoints=self.client_urls([writer])).returncode == 0
        got = self.ctl('get', key, '--print-value-only', endpoints=self.client_urls([reader]))
        return got.stdout.strip()


@pytest.fixture
def cluster(network, tmp_path):
    c = Cluster(network, tmp_path)
    yield c
    network.stop_pods()


def test_members_form_a_cluster_together(cluster):
    cluster.form(3)
    assert cluster.put_get(0, 2, '/openstack/a', 'one') == 'one'
    assert 'initial cluster state new' in cluster.net.pods[0].output()


def test_a_late_member_of_a_new_cluster_joins(cluster):
    cluster.start(0, 3)
    cluster.start(1, 3)
    podnet.wait_for(lambda: cluster.healthy([0, 1]), 60, 'two of three members form a quorum')
    cluster.start(2, 3)
    cluster.wait_started([0, 1, 2])
    assert cluster.put_get(1, 2, '/openstack/b', 'two') == 'two'


def test_a_restarted_member_keeps_its_data(cluster):
    cluster.form(3)
    assert cluster.put_get(0, 1, '/openstack/c', 'three') == 'three'
    cluster.net.pods[1].stop()
    assert cluster.put_get(0, 2, '/openstack/d', 'four') == 'four'  # two of three keep the quorum
    cluster.start(1, 3)
    cluster.wait_started([0, 1, 2])
    assert cluster.put_get(2, 1, '/openstack/d', 'four') == 'four'


def test_scale_up_adds_members_one_at_a_time(cluster):
    cluster.form(3)
    assert cluster.put_get(0, 0, '/openstack/e', 'five') == 'five'
    # The StatefulSet goes to 5 (podManagementPolicy Parallel): both new pods start at once.
    cluster.start(3, 5)
    cluster.start(4, 5)
    cluster.wait_started([0, 1, 2, 3, 4], timeout=90)
    logs = cluster.net.pods[3].output() + cluster.net.pods[4].output()
    assert logs.count('initial cluster state existing') == 2, logs
    assert logs.count('promoted to a voting member') == 2, logs
    # etcd takes one learner at a time: the second new member's add was refused until the first
    # was promoted.
    assert 'member add refused' in logs, logs
    assert cluster.put_get(4, 3, '/openstack/e', 'five') == 'five'
    # The template's REPLICAS changed: the old members roll, one at a time, from their data.
    for ordinal in (2, 1, 0):
        cluster.net.pods[ordinal].stop()
        cluster.start(ordinal, 5)
        cluster.wait_started([0, 1, 2, 3, 4])
    assert cluster.put_get(0, 4, '/openstack/f', 'six') == 'six'


def test_a_member_with_a_new_volume_joins_again(cluster):
    cluster.form(3)
    cluster.net.pods[2].stop()
    # The operator's part (docs/operations.md): remove the old member entry, then start on an empty volume.
    old = json.loads(cluster.ctl('member', 'list', '-w', 'json').stdout)['members']
    member_id = next(m['ID'] for m in old if m.get('name') == cluster.net.pods[2].name)
    assert cluster.ctl('member', 'remove', '%x' % member_id).returncode == 0
    cluster.start(2, 3, fresh=True)
    cluster.wait_started([0, 1, 2])
    assert cluster.put_get(0, 2, '/openstack/g', 'seven') == 'seven'
