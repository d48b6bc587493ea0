"""galera_bootstrap with transport=kubernetes against real MariaDB 10.11 + galera-4.

The catalog's mariadb entry is rendered (``plugins/module_utils/render/manifests.py``) and
created in the Kubernetes sandbox: a 3-replica StatefulSet ``mariadb-server`` whose pods run
``galera-start.sh run``. The module reaches each pod only through the pod exec API
(``kubernetes.stream``), exactly as on a cluster; the sandbox's exec backend runs each exec
locally in that pod's member directory of the Galera harness (``harness.galera``: data dir,
my.cnf, control dir), with the pod's environment and the container path of the scripts volume
mapped to ``roles/galera/files``; the root password file the pod mounts from the credentials
Secret (``MARIADB_ROOT_PASSWORD_FILE``) is laid out in the member directory.

What a kubelet does besides exec - run the container's command and restart it when it exits -
is played by ``ContainerStandIn``: per pod, ``galera-start.sh run`` with the same member
environment, restarted whenever it (or the mariadbd it became) exits.
"""
import base64
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest
import yaml
from kubernetes.client import CoreV1Api

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m
from galera_module_runner import run_module
from harness.galera import START_SCRIPT

pytestmark = [pytest.mark.galera, pytest.mark.slow]

ROOT = pathlib.Path(__file__).resolve().parents[3]
NAMESPACE = "openstack"
STATEFULSET = "mariadb-server"
CONTAINER = "server"
SCRIPTS_MOUNT = "/var/lib/openstack-k8s/scripts"  # the scripts volume of the rendered StatefulSet
CREDENTIALS = {"MARIADB_ROOT_PASSWORD": "root-pw-k8s-transport", "MARIADB_SST_PASSWORD": "sst-pw-k8s-transport"}


def rendered_mariadb():
    node_roles = yaml.safe_load((ROOT / "roles" / "catalog" / "files" / "node_roles.yml").read_text())
    catalog = cat.load_directory(str(ROOT / "roles" / "catalog" / "files" / "services"), node_roles)
    deployment = m.make_deployment(namespace=NAMESPACE, node_roles=node_roles, node_cidrs=["10.0.0.0/24"])
    return m.all_objects(m.render_service_offline(catalog["mariadb"], deployment, credentials=CREDENTIALS)), node_roles


def member_env(member):
    env = member.start_script_env()
    env["GALERA_POLL_INTERVAL"] = "0.2"
    return env


def credential_files_env(member):
    """The credentials volume of the rendered pod, laid out in the member directory (its env points at it)."""
    directory = member.dir / "credentials"
    directory.mkdir(exist_ok=True)
    for name, value in CREDENTIALS.items():
        (directory / name).write_text(value)
        (directory / name).chmod(0o400)
    return {"MARIADB_ROOT_PASSWORD_FILE": str(directory / "MARIADB_ROOT_PASSWORD")}


class ContainerStandIn:
    """The kubelet's other job: run each pod's ``galera-start.sh run`` and restart it when it exits."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.processes = {}
        self.restarts = dict((m.name, 0) for m in cluster.members)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="container-stand-in", daemon=True)

    def _start(self, member):
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"}
        env.update(member_env(member))
        with open(member.control_dir / "start.log", "ab") as log:
            self.processes[member.name] = subprocess.Popen(  # pylint: disable=consider-using-with
                [str(START_SCRIPT), "run"], cwd=str(member.dir), env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _loop(self):
        while not self.stop_event.is_set():
            for member in self.cluster.members:
                process = self.processes.get(member.name)
                if process is None or process.poll() is not None:
                    if process is not None:
                        self.restarts[member.name] += 1
                    self._start(member)
            self.stop_event.wait(0.2)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=10)
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=10)


@pytest.fixture
def galera_pods(sandbox, galera_cluster_factory):
    """The rendered mariadb StatefulSet Running in the sandbox, each pod's exec bound to a harness member."""
    cluster = galera_cluster_factory(3, start=False)
    objects, node_roles = rendered_mariadb()
    label = node_roles["controller"]["label"]
    sandbox.control.add_node("controller-1", labels={label["key"]: label["value"]})
    pods = ["%s-%d" % (STATEFULSET, i) for i in range(len(cluster))]
    sandbox.control.settings(exec=[
        {"namespace": NAMESPACE, "name": pod, "container": CONTAINER, "mode": "local", "workdir": str(member.dir),
         "env": dict(member_env(member), **credential_files_env(member)),
         "path_map": {SCRIPTS_MOUNT: str(START_SCRIPT.parent)}}
        for pod, member in zip(pods, cluster.members)])
    dynamic = sandbox.dynamic_client()
    core = CoreV1Api(sandbox.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": "openstack-credentials"}, "type": "Opaque", "data": dict(
        (k, base64.b64encode(v.encode()).decode()) for k, v in CREDENTIALS.items())})
    for obj in objects:
        dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"]).create(body=obj, namespace=NAMESPACE)
    deadline = time.monotonic() + 30
    while sorted(p.metadata.name for p in core.list_namespaced_pod(NAMESPACE).items if p.status.phase == "Running") != pods:
        assert time.monotonic() < deadline, "the mariadb pods did not run"
        time.sleep(0.1)
    stand_in = ContainerStandIn(cluster).start()
    try:
        yield cluster, pods, sandbox
    finally:
        stand_in.stop()


def module_args(sandbox, pods, **extra):
    args = {"transport": "kubernetes", "namespace": NAMESPACE, "container": CONTAINER, "kubeconfig": sandbox.kubeconfig,
            "start_script": SCRIPTS_MOUNT + "/galera-start.sh", "replicas": len(pods),
            "members": [{"name": pod} for pod in pods], "timeout": 120, "poll_interval": 0.2}
    args.update(extra)
    return args


def run_ok(args, check=False):
    ok, result, elapsed = run_module("galera_bootstrap", args, check=check, timeout=150)
    assert ok, result.get("msg", result)
    return result, elapsed


def assert_synced(cluster):
    statuses = cluster.wait_synced(timeout=30)
    assert {(s["wsrep_local_state_comment"], s["wsrep_cluster_size"]) for s in statuses} == {("Synced", "3")}


def write_rows(member, count, start=0):
    conn = member.connect()
    try:
        with conn.cursor() as cur:
            for row_id in range(start, start + count):
                cur.execute("INSERT INTO k8s.t (id) VALUES (%s)", (row_id,))
    finally:
        conn.close()
    return list(range(start, start + count))


def wait_applied_everywhere(members, timeout=30.0):
    """Wait until the members have applied the same last write set.

    A commit is acknowledged once certified; the other members apply it a moment later.
    Killing them before that makes their recovered positions differ by design.
    """
    deadline = time.monotonic() + timeout
    while True:
        committed = {int(member.status()["wsrep_last_committed"]) for member in members}
        if len(committed) == 1:
            return
        assert time.monotonic() < deadline, "members never applied the same write sets: %s" % committed
        time.sleep(0.1)


def positions_by_harness(cluster, pods):
    """Each member's position read without the module: grastate.dat, else mariadbd --wsrep-recover."""
    found = {}
    for pod, member in zip(pods, cluster.members):
        grastate = member.grastate()
        found[pod] = grastate["seqno"] if grastate["seqno"] >= 0 else member.recover_position()[1]
    return found


def test_kubernetes_transport_bootstraps_and_recovers_through_pod_exec(galera_pods):
    cluster, pods, sandbox = galera_pods
    sandbox.control.clear_request_log()

    # fresh deployment: the first pod bootstraps, the others join - every step a pod exec
    result, _elapsed = run_ok(module_args(sandbox, pods))
    assert (result["action"], result["bootstrapped"], result["joined"]) == ("bootstrap", pods[0], pods[1:])
    assert result["cluster_size"] == 3
    assert_synced(cluster)
    execs = [e for e in sandbox.control.request_log() if e["subresource"] == "exec"]
    assert execs and {(e["namespace"], e["code"]) for e in execs} == {(NAMESPACE, 101)}
    assert {e["name"] for e in execs} == set(pods)
    again, _elapsed = run_ok(module_args(sandbox, pods))
    assert (again["changed"], again["action"]) == (False, "none")
    assert {m["name"]: m["cluster_size"] for m in again["members"]} == dict((pod, 3) for pod in pods)

    # the first member leaves (graceful), the others go on committing, then kill -9 of everything:
    # the first pod is behind, so member order must lose to the recovered positions
    cluster[0].query("CREATE DATABASE k8s")
    cluster[0].query("CREATE TABLE k8s.t (id INT PRIMARY KEY)")
    acked = write_rows(cluster[1], 20)
    cluster.stop(0)
    cluster.wait_synced(size=2, members=cluster.members[1:], timeout=30)
    acked += write_rows(cluster[1], 30, start=1000)
    wait_applied_everywhere(cluster.members[1:])
    cluster.kill9_all()
    positions = positions_by_harness(cluster, pods)
    assert positions[pods[1]] == positions[pods[2]] > positions[pods[0]], positions
    result, _elapsed = run_ok(module_args(sandbox, pods))
    assert (result["action"], result["bootstrapped"]) == ("bootstrap", pods[1]), result["reason"]
    assert sorted(result["joined"]) == [pods[0], pods[2]]
    assert {p["name"]: p["seqno"] for p in result["positions"]} == positions
    assert set(result["recovered"]) == {pods[1], pods[2]}
    assert_synced(cluster)
    for member in cluster.members:
        assert sorted(row[0] for row in member.query("SELECT id FROM k8s.t")) == acked, member.name


ERROR_STATUS_CASES = [
    ("no exec backend (a real cluster: the runtime's InternalError)", None, "no exec backend is configured"),
    ("start script missing in the container", {"mode": "local", "workdir": "/"}, "executable file not found"),
]


@pytest.mark.parametrize("rule, message", [c[1:] for c in ERROR_STATUS_CASES], ids=[c[0] for c in ERROR_STATUS_CASES])
def test_exec_failure_status_is_reported_as_its_message(sandbox, rule, message):
    """A Failure Status that is not NonZeroExitCode must reach the operator as the server's message."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.transport import (  # pylint: disable=import-outside-toplevel
        KubernetesTransport)
    core = CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod("default", {"metadata": {"name": "galera-0"},
                                           "spec": {"containers": [{"name": CONTAINER, "image": "mariadb-server:1"}]}})
    deadline = time.monotonic() + 10
    while core.read_namespaced_pod("galera-0", "default").status.phase != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    if rule:
        sandbox.control.settings(exec=[dict(rule, name="galera-0")])
    transport = KubernetesTransport([{"name": "galera-0"}], SCRIPTS_MOUNT + "/galera-start.sh", "default", api=core)
    error = transport.info("galera-0")["error"]
    assert message in error and "invalid literal" not in error, error
