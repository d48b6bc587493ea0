"""HostTransport driving the real galera-start.sh on a stopped member (no mariadbd needed)."""
import os
import pathlib
import subprocess

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.bootstrap import describe_state, predict_after
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.decision import decide
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.transport import HostTransport, TransportError

SCRIPT = str(pathlib.Path(__file__).resolve().parents[3] / "roles" / "galera" / "files" / "galera-start.sh")
UUID = "9831284b-e76b-11f1-9982-5f25257f8ea1"


def runner(args, environ_update):
    proc = subprocess.run(args, env=dict(os.environ, **environ_update), capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def make_member(tmp_path, name, grastate=None):
    member_dir = tmp_path / name
    (member_dir / "data").mkdir(parents=True)
    (member_dir / "control").mkdir()
    cnf = member_dir / "my.cnf"
    cnf.write_text("[mysqld]\ndatadir=%s\nsocket=%s\npid-file=%s\n" % (member_dir / "data", member_dir / "s.sock", member_dir / "m.pid"))
    if grastate is not None:
        (member_dir / "data" / "grastate.dat").write_text(grastate)
    return {"name": name, "defaults_file": str(cnf), "control_dir": str(member_dir / "control"), "env": {}}


@pytest.fixture
def members(tmp_path):
    return [
        make_member(tmp_path, "n1", "# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   42\nsafe_to_bootstrap: 1\n" % UUID),
        make_member(tmp_path, "n2"),
        make_member(tmp_path, "n3", "uuid: %s\nseqno: ???\n" % UUID),
    ]


def test_info_reads_grastate_through_the_script(members):
    transport = HostTransport(members, SCRIPT, runner)
    states = [transport.info(m["name"]) for m in members]
    assert [s["error"] for s in states] == [None, None, None]
    assert [s["running"] for s in states] == [False, False, False]
    assert states[0]["grastate"] == {"version": "2.1", "uuid": UUID, "seqno": 42, "safe_to_bootstrap": 1}
    assert states[0]["datadir"] == str(pathlib.Path(members[0]["defaults_file"]).parent / "data")
    assert states[1]["grastate"] is None and states[1]["grastate_error"] is None
    assert "is not an integer" in states[2]["grastate_error"]
    plan = decide(states, 3)
    assert plan["action"] == "refuse" and "n3 cannot be read" in plan["refusal"]


def test_command_without_a_waiting_run_process_is_refused(members):
    transport = HostTransport(members, SCRIPT, runner)
    with pytest.raises(TransportError) as err:
        transport.command("n1", "bootstrap")
    assert "no run process is waiting" in str(err.value) and "exit 4" in str(err.value)
    assert not (pathlib.Path(members[0]["control_dir"]) / "command").exists()


def test_missing_script_is_named(members):
    transport = HostTransport(members, "/nonexistent/galera-start.sh", runner)
    state = transport.info("n1")
    assert "start script /nonexistent/galera-start.sh is missing" in state["error"]


def test_unreadable_defaults_file_is_an_unreadable_member(members):
    members[1]["defaults_file"] = "/nonexistent/my.cnf"
    transport = HostTransport(members, SCRIPT, runner)
    state = transport.info("n2")
    assert "exited 2" in state["error"] and "GALERA_DEFAULTS_FILE /nonexistent/my.cnf is not readable" in state["error"]


def test_diff_prediction_words_match_the_real_description():
    running = {"name": "n1", "error": None, "running": True, "grastate": None,
               "status": {"wsrep_local_state_comment": "Synced", "wsrep_cluster_status": "Primary", "wsrep_cluster_size": "3"}}
    stopped = {"name": "n2", "error": None, "running": False, "grastate": {"uuid": UUID, "seqno": 7, "safe_to_bootstrap": 0},
               "status": None}
    fresh = dict(stopped, name="n3", grastate=None)
    assert [describe_state(s) for s in (running, stopped, fresh)] == [
        "running, Synced, Primary, size 3", "stopped, seqno 7", "stopped, no data"]
    plan = {"bootstrap": None, "join": ["n2", "n3"], "leave": []}
    assert predict_after([running, stopped, fresh], plan, 3) == dict.fromkeys(["n1", "n2", "n3"], describe_state(running))
    plan = {"bootstrap": None, "join": [], "leave": ["n1"]}
    assert predict_after([running, stopped], plan, 1)["n1"] == "stopped"
