"""The RabbitMQ cluster harness is real: three nodes in one cluster, per-pod CLI wrappers, cleanup.

One module-scoped :class:`harness.rabbitmq.RabbitCluster`; the last test stops it and checks
that no process and no file of it is left.
"""
import json
import os
import socket
import subprocess
import time

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.stream import stream

from harness.rabbitmq import RabbitCluster

pytestmark = pytest.mark.slow

NAMES = ['rabbitmq-server-0', 'rabbitmq-server-1', 'rabbitmq-server-2']
# what a real pod's environment has: the wrappers must not let it through
POD_ENV = {'RABBITMQ_NODENAME': 'rabbit@rabbitmq-server-0.rabbitmq-nodes.openstack', 'RABBITMQ_USE_LONGNAME': 'true',
           'HOME': '/var/lib/rabbitmq', 'RABBITMQ_ERLANG_COOKIE': 'not-this-one'}


@pytest.fixture(scope='module')
def rabbit_cluster(tmp_path_factory):
    cluster = RabbitCluster(NAMES, base_dir=str(tmp_path_factory.mktemp('rabbitmq-cluster'))).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def in_pod(cluster, name, command):
    """``/bin/sh -c command`` as the sandbox's exec in pod ``name`` runs it: its bin first on PATH, the pod's env."""
    env = dict(POD_ENV, PATH='%s:%s' % (cluster.bin_dir(name), os.environ['PATH']))
    return subprocess.run(['/bin/sh', '-c', command], env=env, cwd=cluster.directory, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120, check=False)


def test_three_members_form_one_cluster(rabbit_cluster):
    nodes = sorted(m.node for m in rabbit_cluster.members.values())
    assert nodes == ['okdtest-%s-%d@localhost' % (rabbit_cluster.token, n) for n in range(3)]
    assert [rabbit_cluster.members[name].node for name in NAMES] == nodes
    for name in NAMES:
        status = rabbit_cluster.cluster_status(name)
        assert sorted(status['disk_nodes']) == nodes and sorted(status['running_nodes']) == nodes
        assert rabbit_cluster.running(name)
    members = rabbit_cluster.members.values()
    assert len({m.port for m in members} | {m.dist_port for m in members}) == 6
    assert {m.epmd_port for m in members} == {rabbit_cluster.epmd_port}


def test_wrappers_reach_their_own_member_and_log_argv(rabbit_cluster):
    before = len(rabbit_cluster.argv())
    for name in NAMES:
        member = rabbit_cluster.members[name]
        assert os.path.dirname(rabbit_cluster.bin_dir(name)) == os.path.join(rabbit_cluster.directory, name)
        done = in_pod(rabbit_cluster, name, "rabbitmqctl eval 'node().'")
        assert (done.returncode, done.stdout) == (0, b"'%s'\n" % member.node.encode()), done.stderr
        done = in_pod(rabbit_cluster, name, 'rabbitmq-diagnostics -q check_running')
        assert done.returncode == 0 and member.node.encode() in done.stdout, done.stderr
        done = in_pod(rabbit_cluster, name, 'rabbitmq-queues check_if_node_is_quorum_critical')
        assert done.returncode == 0 and member.node.encode() in done.stdout, done.stderr
    assert rabbit_cluster.argv()[before:] == [line for name in NAMES for line in (
        "%s rabbitmqctl eval node()." % name, '%s rabbitmq-diagnostics -q check_running' % name,
        '%s rabbitmq-queues check_if_node_is_quorum_critical' % name)]


def test_sandbox_exec_rule_runs_each_pods_wrappers(rabbit_cluster, sandbox):
    """exec_rule: an exec in pod rabbitmq-server-<n> (its own RABBITMQ_* env) reaches member n."""
    core = CoreV1Api(sandbox.api_client())
    sandbox.control.settings(exec=[rabbit_cluster.exec_rule('default')])
    for name in NAMES:
        env = [{'name': key, 'value': value} for key, value in sorted(POD_ENV.items())]
        core.create_namespaced_pod('default', {
            'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': 'default'},
            'spec': {'containers': [{'name': 'server', 'image': 'registry.example/rabbitmq:3.10', 'env': env}]}})
    deadline = time.monotonic() + 60
    while any(core.read_namespaced_pod(name, 'default').status.phase != 'Running' for name in NAMES):
        assert time.monotonic() < deadline, 'the pods are not Running'
        time.sleep(0.05)
    for name in NAMES:
        out = stream(core.connect_get_namespaced_pod_exec, name, 'default', container='server',
                     command=['/bin/sh', '-c', "rabbitmqctl eval 'node().'"], stderr=True, stdin=False, stdout=True,
                     tty=False)
        assert out == "'%s'\n" % rabbit_cluster.members[name].node
    assert rabbit_cluster.argv()[-3:] == ['%s rabbitmqctl eval node().' % name for name in NAMES]


def test_quorum_queue_has_a_replica_on_every_member(rabbit_cluster):
    nodes = sorted(m.node for m in rabbit_cluster.members.values())
    rabbit_cluster.declare_quorum_queue('harness-qq')
    assert rabbit_cluster.quorum_members('harness-qq') == nodes
    done = in_pod(rabbit_cluster, NAMES[1], 'rabbitmq-queues -q quorum_status harness-qq --formatter json')
    assert sorted(row['Node Name'] for row in json.loads(done.stdout)) == nodes
    assert rabbit_cluster.publish('harness-qq', 'one', name=NAMES[2])
    assert rabbit_cluster.get('harness-qq', name=NAMES[0]) == 'one'
    assert rabbit_cluster.get('harness-qq') is None


def test_a_stopped_member_is_down_and_comes_back(rabbit_cluster):
    down = rabbit_cluster.members[NAMES[2]]
    rabbit_cluster.stop_member(NAMES[2])
    assert not down.alive() and not rabbit_cluster.running(NAMES[2])
    status = rabbit_cluster.cluster_status(NAMES[0])
    assert down.node in status['disk_nodes'] and down.node not in status['running_nodes']
    assert rabbit_cluster.publish('harness-qq', 'two', name=NAMES[0])      # 2 of 3 replicas: a majority
    assert rabbit_cluster.get('harness-qq', name=NAMES[1]) == 'two'
    rabbit_cluster.start_member(NAMES[2])                                    # its data kept: it is still a member
    assert rabbit_cluster.running(NAMES[2])
    assert len(rabbit_cluster.cluster_status(NAMES[2])['running_nodes']) == 3


def _processes_mentioning(*needles):
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                cmdline = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append((pid, cmdline))
    return found


def test_stop_leaves_no_process_and_no_file(rabbit_cluster):
    directory, epmd_port = rabbit_cluster.directory, rabbit_cluster.epmd_port
    pids = [m.process.pid for m in rabbit_cluster.members.values()] + [rabbit_cluster.epmd.pid]
    # beam.smp runs with "-home <member directory> -epmd_port <port>"; epmd with "-port <port>"
    needles = (directory, '-epmd_port %d ' % epmd_port, 'epmd -port %d ' % epmd_port)
    assert len(_processes_mentioning(*needles)) == 4
    rabbit_cluster.stop()
    assert not os.path.exists(directory)
    assert _processes_mentioning(*needles) == []
    for pid in pids:
        assert not os.path.exists('/proc/%d' % pid), pid
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', epmd_port), timeout=2).close()
