"""The galera role and playbooks/galera_recover.yml, run by ansible-playbook (host transport)."""
import json
import os
import subprocess
import sys

import pytest

from galera_module_runner import REPO_ROOT, member_args
from harness.galera import MARIADBD, START_SCRIPT

pytestmark = [pytest.mark.galera, pytest.mark.slow]


def run_playbook(extra_vars, check=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(REPO_ROOT / "playbooks" / "galera_recover.yml"),
           "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)


def role_vars(cluster, **extra):
    values = {"galera_transport": "host", "galera_replicas": 3, "galera_members": member_args(cluster),
              "galera_start_script": str(START_SCRIPT), "galera_script_env": {"GALERA_MARIADBD": MARIADBD, "GALERA_POLL_INTERVAL": "0.2"},
              "galera_timeout": 300}
    values.update(extra)
    return values


def test_playbook_check_mode_reports_the_decision_and_starts_nothing(galera_cluster_factory):
    cluster = galera_cluster_factory(3, start=False)
    proc = run_playbook(role_vars(cluster), check=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "action: bootstrap" in proc.stdout and "bootstrapped: node1" not in proc.stdout
    assert "fresh deployment: no member has data; node1 bootstraps the new cluster" in proc.stdout
    assert cluster.running() == [] and all(m.pids() == [] for m in cluster.members)


def test_playbook_refuses_even_replicas_before_touching_members(galera_cluster_factory):
    cluster = galera_cluster_factory(3, start=False)
    proc = run_playbook(role_vars(cluster, galera_replicas=4))
    assert proc.returncode != 0
    assert "galera replicas must be odd (2n+1), got 4" in proc.stdout + proc.stderr
    assert not any((m.control_dir / "start.log").exists() for m in cluster.members)
