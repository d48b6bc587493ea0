"""Run the collection's Galera modules the way an operator does: ``ansible`` ad hoc, real module code."""
import json
import os
import pathlib
import subprocess
import sys
import time

import yaml

from harness.galera import MARIADBD, START_SCRIPT

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
VENV_BIN = pathlib.Path(sys.executable).parent


def member_args(cluster, indexes=None):
    indexes = range(len(cluster)) if indexes is None else indexes
    return [{"name": cluster[i].name, "defaults_file": str(cluster[i].cnf), "control_dir": str(cluster[i].control_dir)}
            for i in indexes]


def module_args(cluster, replicas=None, indexes=None, **extra):
    args = {
        "replicas": len(cluster) if replicas is None else replicas,
        "members": member_args(cluster, indexes),
        "start_script": str(START_SCRIPT),
        "script_env": {"GALERA_MARIADBD": MARIADBD, "GALERA_POLL_INTERVAL": "0.2"},
        "timeout": 240,
        "poll_interval": 0.2,
    }
    args.update(extra)
    return args


def info_args(cluster, replicas=None, indexes=None, **extra):
    args = {
        "members": member_args(cluster, indexes),
        "start_script": str(START_SCRIPT),
        "script_env": {"GALERA_MARIADBD": MARIADBD},
    }
    if replicas is not None:
        args["replicas"] = replicas
    args.update(extra)
    return args


def run_module(name, args, check=False, timeout=400):
    """Run ``openstack_k8s.deploy.<name>`` on localhost; return (ok, result dict, seconds)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".collections"), ANSIBLE_STDOUT_CALLBACK="minimal",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", "openstack_k8s.deploy.%s" % name,
           "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    marker = proc.stdout.find("localhost | ")
    arrow = proc.stdout.find("=>", marker)
    if marker < 0 or arrow < 0:
        raise AssertionError("no module result from ansible (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    # success is printed as JSON, failure (core 2.19) as YAML: YAML reads both
    result = yaml.safe_load(proc.stdout[arrow + 2:])
    ok = proc.returncode == 0 and not result.get("failed")
    return ok, result, elapsed
