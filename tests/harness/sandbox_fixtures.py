"""pytest plugin: the Kubernetes sandbox as a real separate process.

``k8s_sandbox`` (session) starts ``python -m k8s_sandbox`` on a free loopback port, waits until
it answers, and stops it at the end of the session. ``sandbox`` (function) resets the cluster
state, the settings and the request log before each test and returns the same handle.

Handle attributes: ``url``, ``kubeconfig`` (path), ``control`` (k8s_sandbox.client.SandboxControl:
settings(**kw), reset(), request_log(), counts_by_verb(), clear_request_log(), add_node(...),
snapshot()), ``api_client()`` and ``dynamic_client()`` (official kubernetes client objects
configured from the kubeconfig), ``env`` (K8S_AUTH_KUBECONFIG/KUBECONFIG for subprocesses).
"""
import os
import pathlib
import subprocess
import sys
import time

import pytest

from k8s_sandbox.client import SandboxControl

TESTS_DIR = pathlib.Path(__file__).resolve().parent.parent


class SandboxProcess:
    """A running sandbox and the ways to talk to it."""

    def __init__(self, workdir, token=None, tls=False, settings_file=None, nodes_file=None):
        self.workdir = pathlib.Path(workdir)
        self.kubeconfig = str(self.workdir / "kubeconfig")
        self.token = token
        self.tls = tls
        self.settings_file = settings_file
        self.nodes_file = nodes_file
        self.url = None
        self.process = None
        self.control = None
        self.log_path = self.workdir / "sandbox.log"

    def start(self, timeout=60):
        ready = self.workdir / "url"
        command = [sys.executable, "-m", "k8s_sandbox", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--kubeconfig-out", self.kubeconfig, "--ready-file", str(ready)]
        if self.token:
            command += ["--token", self.token]
        if self.tls:
            command += ["--tls", "--state-dir", str(self.workdir / "state")]
        if self.settings_file:
            command += ["--settings", str(self.settings_file)]
        if self.nodes_file:
            command += ["--nodes", str(self.nodes_file)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                            env=env)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")
                raise RuntimeError("k8s sandbox exited (%s):\n%s" % (self.process.returncode, log))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("k8s sandbox did not start within %ss" % timeout)
            time.sleep(0.05)
        self.url = ready.read_text().strip()
        ca_file = str(self.workdir / "state" / "sandbox.crt") if self.tls else None
        self.control = SandboxControl(self.url, token=self.token, ca_file=ca_file)
        self.control.wait_ready()
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    @property
    def env(self):
        return {"KUBECONFIG": self.kubeconfig, "K8S_AUTH_KUBECONFIG": self.kubeconfig}

    def api_client(self):
        from kubernetes import config  # pylint: disable=import-outside-toplevel
        return config.new_client_from_config(config_file=self.kubeconfig)

    def dynamic_client(self):
        from kubernetes.dynamic import DynamicClient  # pylint: disable=import-outside-toplevel
        return DynamicClient(self.api_client())

    def reset(self):
        self.control.reset()
        self.control.clear_request_log()


@pytest.fixture(scope="session")
def k8s_sandbox(tmp_path_factory):
    """One sandbox process for the whole test session."""
    process = SandboxProcess(tmp_path_factory.mktemp("k8s-sandbox")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def sandbox(k8s_sandbox):  # pylint: disable=redefined-outer-name
    """The session sandbox with fresh state, default settings and an empty request log."""
    k8s_sandbox.reset()
    return k8s_sandbox
