"""The command line: background start/stop, state persistence, TLS and bearer tokens."""
import os
import pathlib
import subprocess
import sys

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from harness.sandbox_fixtures import SandboxProcess
from k8s_sandbox import manifests
from k8s_sandbox.client import SandboxControl

TESTS_DIR = pathlib.Path(__file__).resolve().parent.parent


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
    return subprocess.run([sys.executable, "-m", "k8s_sandbox"] + list(args), env=env, check=True,
                          capture_output=True, text=True, timeout=60)


def _core(kubeconfig):
    from kubernetes import config  # pylint: disable=import-outside-toplevel
    return CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def test_start_stop_and_state_dir(tmp_path):
    """'start' backgrounds the server (pidfile) and prints its URL; with --state-dir a second
    process sees the objects the first one stored; 'stop' ends it."""
    pidfile, kubeconfig, state = tmp_path / "pid", tmp_path / "kubeconfig", tmp_path / "state"
    common = ["--pidfile", str(pidfile), "--kubeconfig-out", str(kubeconfig), "--state-dir", str(state)]
    url = _cli("start", *common).stdout.strip()
    try:
        assert url.startswith("http://127.0.0.1:")
        _core(kubeconfig).create_namespaced_config_map("default", manifests.configmap("kept"))
        SandboxControl(url).flush()
    finally:
        _cli("stop", "--pidfile", str(pidfile))
    assert not pidfile.exists()
    _cli("start", *common)
    try:
        assert _core(kubeconfig).read_namespaced_config_map("kept", "default").data == {"key": "value"}
    finally:
        _cli("stop", "--pidfile", str(pidfile))


@pytest.mark.parametrize("token_in_kubeconfig,expected", [(True, 200), (False, 401)])
def test_tls_and_token(tmp_path, token_in_kubeconfig, expected):
    """With --tls and --token the kubeconfig carries the CA and token; a request without the
    right bearer token is 401 Unauthorized."""
    process = SandboxProcess(tmp_path, token="s3cret", tls=True).start()
    try:
        assert process.url.startswith("https://")
        if not token_in_kubeconfig:
            text = pathlib.Path(process.kubeconfig).read_text()
            pathlib.Path(process.kubeconfig).write_text(text.replace("s3cret", "wrong"))
        core = _core(process.kubeconfig)
        if expected == 200:
            assert core.read_namespace("default").metadata.name == "default"
        else:
            with pytest.raises(ApiException) as caught:
                core.read_namespace("default")
            assert caught.value.status == 401
    finally:
        process.stop()
