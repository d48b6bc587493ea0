"""The etcd cluster harness is real: three etcd members, per-pod etcdctl wrappers, member removal."""

import json
import os
import socket
import time

import pytest

import harness.etcd
from harness.etcd import EtcdCluster
from k8s_sandbox.podexec import check_rules

pytestmark = pytest.mark.slow

NAMES = ['etcd-server-0', 'etcd-server-1', 'etcd-server-2']


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    with EtcdCluster(NAMES, base_dir=str(tmp_path_factory.mktemp('etcd-cluster'))) as running:
        yield running


def test_three_members_form_one_cluster(cluster):
    listed = cluster.members_list()
    assert sorted(m['name'] for m in listed) == NAMES
    assert sorted(m['clientURLs'][0] for m in listed) == sorted(cluster.endpoints)
    assert len(set(cluster.endpoints)) == 3
    assert cluster.health() == dict((name, True) for name in NAMES)
    assert all(cluster.running(name) for name in NAMES)
    # one cluster: every member reports the same cluster ID and members
    seen = set()
    for name in NAMES:
        other = cluster.member_list_json(name)
        seen.add((other['header']['cluster_id'], tuple(sorted(m['ID'] for m in other['members']))))
    assert len(seen) == 1
    cluster.put('/harness/cluster', 'written-on-0', name='etcd-server-0')
    assert cluster.get('/harness/cluster', name='etcd-server-2') == 'written-on-0'


def test_each_wrapper_reaches_its_own_member(cluster, monkeypatch):
    # env -i: what the caller (the pod) has in ETCDCTL_* does not leak into the wrapper
    monkeypatch.setenv('ETCDCTL_ENDPOINTS', 'http://127.0.0.1:1')
    monkeypatch.setenv('ETCDCTL_API', '2')
    ids = dict((m['name'], m['ID']) for m in cluster.members_list())
    before = len(cluster.argv())
    for name in NAMES:
        assert os.access(os.path.join(cluster.bin_dir(name), 'etcdctl'), os.X_OK)
        done = cluster.pod_exec(name, 'etcdctl endpoint status -w json')
        assert done.returncode == 0, done.stderr
        [status] = json.loads(done.stdout)
        assert status['Endpoint'] == cluster.endpoint(name)
        assert status['Status']['header']['member_id'] == ids[name]
    assert cluster.argv()[before:] == ['%s endpoint status -w json' % name for name in NAMES]


def test_exec_rule_puts_the_pods_wrapper_first(cluster):
    rule = cluster.exec_rule('openstack')
    check_rules([rule])
    assert rule['namespace'] == 'openstack' and rule['name'] == 'etcd-server-*' and rule['container'] == 'server'
    assert rule['workdir'] == cluster.directory
    for name in NAMES:
        assert rule['env']['PATH'].replace('{pod}', name).split(':')[0] == cluster.bin_dir(name)
    assert cluster.exec_rule('ns', container='etcd')['container'] == 'etcd'


def test_member_removed_through_a_wrapper_leaves_and_stop_cleans_up(tmp_path):
    cluster = EtcdCluster(NAMES, base_dir=str(tmp_path)).start()
    try:
        cluster.put('/harness/kept', 'yes')
        removed = cluster.member_ids()['etcd-server-2']
        cluster.settle()
        deadline = time.monotonic() + 30
        done = cluster.pod_exec('etcd-server-0', 'etcdctl member remove %s' % removed)
        # Under load the cluster can take longer than settle() to accept reconfiguration.
        while done.returncode != 0 and 'unhealthy cluster' in done.stderr and time.monotonic() < deadline:
            time.sleep(1)
            done = cluster.pod_exec('etcd-server-0', 'etcdctl member remove %s' % removed)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith('Member %s removed from cluster ' % removed)
        assert cluster.wait_exit('etcd-server-2', timeout=30) == 0
        assert not cluster.running('etcd-server-2')
        assert len(cluster.members_list()) == 2 and sorted(cluster.member_ids()) == NAMES[:2]
        # When the removed member led, the two left elect a new leader first (a second or more under load).
        expected = {'etcd-server-0': True, 'etcd-server-1': True, 'etcd-server-2': False}
        deadline = time.monotonic() + 20
        while cluster.health() != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert cluster.health() == expected
        assert cluster.get('/harness/kept', name='etcd-server-1') == 'yes'
        again = cluster.pod_exec('etcd-server-0', 'etcdctl member remove %s' % removed)
        assert again.returncode == 1 and 'etcdserver: member not found' in again.stderr
        assert set(cluster.argv()) == {'etcd-server-0 member remove %s' % removed} and len(cluster.argv()) >= 2
    finally:
        processes = [m.process for m in cluster.members.values()]
        directory = cluster.directory
        cluster.stop()
    assert all(p.poll() is not None for p in processes)
    assert not os.path.exists(directory)
    assert cluster.endpoints == [] and cluster.directory is None
    for process in processes:
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)


def test_a_port_race_is_retried(tmp_path, monkeypatch):
    """A member that cannot bind its port makes start() try again with other ports."""
    calls = []
    real = harness.etcd.free_port

    def taken_once():
        calls.append(1)
        if len(calls) == 1:
            return sock.getsockname()[1]  # a port something listens on
        return real()

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen(1)
        monkeypatch.setattr(harness.etcd, 'free_port', taken_once)
        with EtcdCluster(NAMES[:1], base_dir=str(tmp_path)) as single:
            assert single.health() == {'etcd-server-0': True}
            assert sock.getsockname()[1] not in (single['etcd-server-0'].client_port, single['etcd-server-0'].peer_port)
    assert len(calls) >= 4
