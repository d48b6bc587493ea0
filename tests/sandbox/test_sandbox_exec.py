"""pods/exec over WebSocket, driven by the official client's ``kubernetes.stream.stream``.

Documented rules checked here (kubelet remotecommand + apiserver pod exec):
- the connection is upgraded to a WebSocket in a ``*.channel.k8s.io`` subprotocol; every message
  is prefixed with its channel (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize);
- the end of the command is a Status on the error channel: ``Success``, or ``Failure`` with
  reason ``NonZeroExitCode`` and a cause ``ExitCode`` carrying the code (the client's ``returncode``);
- 404 for a missing pod, 400 for a container not in the pod, an ambiguous container or a pod
  without a node, 400 "Upgrade request required" without an upgrade, 500 "container not found"
  when the container does not run;
- v5.channel.k8s.io lets the client close stdin (channel 255).
"""
import json
import os
import signal
import time

import pytest
import requests
from kubernetes.client import CoreV1Api
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream


def _pod(name, containers=("app",), env=None, node=True):
    spec = {"containers": [{"name": c, "image": "registry.example/app:1.0", "env": list(env or [])} for c in containers]}
    if not node:
        spec["nodeSelector"] = {"no-such-label": "x"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": spec}


def _wait_running(core, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, "default")
        if pod.status.phase == "Running":
            return pod
        time.sleep(0.05)
    raise AssertionError("pod %s not Running" % name)


@pytest.fixture
def exec_env(sandbox, tmp_path):
    """A Running pod ``shell`` (one container) whose execs run locally in a per-pod directory."""
    core = CoreV1Api(sandbox.api_client())
    workdir = tmp_path / "shell"
    workdir.mkdir()
    sandbox.control.settings(exec=[{"name": "shell", "mode": "local", "workdir": str(tmp_path / "{pod}"),
                                    "env": {"SANDBOX_POD": "{namespace}/{pod}/{container}"}}])
    core.create_namespaced_secret("default", {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}})
    core.create_namespaced_pod("default", _pod("shell", env=[
        {"name": "GREETING", "value": "hello"},
        {"name": "MESSAGE", "value": "$(GREETING) world, $$(GREETING)"},
        {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}]))
    _wait_running(core, "shell")
    return core, workdir


def run(core, command, pod="shell", **kwargs):
    """Run to completion the way galera_bootstrap's KubernetesTransport does; return (rc, out, err)."""
    options = dict(command=command, stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    options.update(kwargs)
    resp = stream(core.connect_get_namespaced_pod_exec, pod, "default", **options)
    out, err = [], []
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            out.append(resp.read_stdout())
        if resp.peek_stderr():
            err.append(resp.read_stderr())
    resp.close()
    error = resp.peek_channel(3)  # returncode consumes the error channel
    return resp.returncode, "".join(out), "".join(err), error


STREAM_CASES = [
    ("stdout", ["echo", "hello"], 0, "hello\n", ""),
    ("stderr", ["sh", "-c", "echo oops >&2"], 0, "", "oops\n"),
    ("exit code", ["sh", "-c", "echo partial; exit 3"], 3, "partial\n", ""),
    ("argv is not a shell", ["echo", "$HOME", ";", "ls"], 0, "$HOME ; ls\n", ""),
    ("literal env, $(VAR) expansion, fieldRef, secretKeyRef, backend env", ["sh", "-c",
     'echo "$MESSAGE|$MY_POD|$PASSWORD|$SANDBOX_POD|$HOSTNAME"'], 0,
     "hello world, $(GREETING)|shell|s3cret|default/shell/app|shell\n", ""),
    ("workdir", ["pwd"], 0, None, ""),
    ("signal is 128+n", ["sh", "-c", "kill -9 $$"], 137, "", ""),
    ("large output", ["head", "-c", "300000", "/dev/zero"], 0, "\0" * 300000, ""),
]


@pytest.mark.parametrize("command, rc, out, err", [c[1:] for c in STREAM_CASES], ids=[c[0] for c in STREAM_CASES])
def test_exec_streams_and_exit_codes(exec_env, command, rc, out, err):
    core, workdir = exec_env
    code, stdout, stderr, _status = run(core, command)
    assert (code, stderr) == (rc, err)
    assert stdout == (str(workdir) + "\n" if out is None else out)


def test_error_channel_carries_the_kubelet_status(exec_env):
    """v4/v5: a Status JSON on channel 3, exactly the fields the kubelet sends."""
    core, _workdir = exec_env
    _code, _out, _err, status = run(core, ["sh", "-c", "exit 7"])
    status = json.loads(status)
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"] == {"causes": [{"reason": "ExitCode", "message": "7"}]}
    assert status["message"].startswith("command terminated with non-zero exit code:")
    _code, _out, _err, status = run(core, ["true"])
    assert json.loads(status) == {"metadata": {}, "status": "Success"}


def test_stdin_is_streamed_and_closed_with_v5(exec_env):
    """The client writes stdin (channel 0) and closes it with the v5 CLOSE signal: cat sees EOF."""
    core, _workdir = exec_env
    resp = stream(core.connect_get_namespaced_pod_exec, "shell", "default", command=["sh", "-c", "cat; echo done"],
                  stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
    assert resp.subprotocol == "v5.channel.k8s.io"
    resp.write_stdin("line one\n")
    resp.write_stdin(b"line two\n")
    resp.close_channel(0)
    resp.run_forever(timeout=10)
    assert resp.returncode == 0
    assert resp.read_all() == "line one\nline two\ndone\n"


def test_preloaded_stream_returns_the_output(exec_env):
    """stream() without _preload_content=False returns stdout+stderr as one string."""
    core, _workdir = exec_env
    assert stream(core.connect_get_namespaced_pod_exec, "shell", "default", command=["echo", "hi"],
                  stderr=True, stdin=False, stdout=True, tty=False) == "hi\n"


def _handshake_error(core, pod, **kwargs):
    options = dict(command=["true"], stderr=True, stdin=False, stdout=True, tty=False)
    options.update(kwargs)
    with pytest.raises(ApiException) as exc:
        stream(core.connect_get_namespaced_pod_exec, pod, "default", **options)
    return exc.value.reason


REFUSALS = [
    ("missing pod", "nothing", {}, "404", 'pods \\"nothing\\" not found'),
    ("container not in the pod", "shell", {"container": "nope"}, "400", "container nope is not valid for pod shell"),
    ("container must be named", "pair", {}, "400", "a container name must be specified for pod pair, choose one of: [a b]"),
    ("no node", "pending", {}, "400", "pod pending does not have a host assigned"),
    ("no stream", "shell", {"stdout": False, "stderr": False}, "400", "you must specify at least 1 of stdin, stdout, stderr"),
]


@pytest.mark.parametrize("pod, kwargs, code, message", [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_refusals_before_the_upgrade(exec_env, pod, kwargs, code, message):
    core, _workdir = exec_env
    core.create_namespaced_pod("default", _pod("pair", containers=("a", "b")))
    core.create_namespaced_pod("default", _pod("pending", node=False))
    reason = _handshake_error(core, pod, **kwargs)
    assert "Handshake status %s" % code in reason and message in reason, reason


def test_container_not_running_is_500(sandbox, exec_env):
    """A container that does not run (image pull back-off) cannot exec: the kubelet answers 500."""
    core, _workdir = exec_env
    sandbox.control.settings(broken=[{"name": "stuck"}])
    core.create_namespaced_pod("default", _pod("stuck"))
    deadline = time.monotonic() + 5
    while not core.read_namespaced_pod("stuck", "default").spec.node_name and time.monotonic() < deadline:
        time.sleep(0.05)
    reason = _handshake_error(core, "stuck")
    assert "Handshake status 500" in reason and 'container not found ("app")' in reason, reason


def test_no_backend_is_an_internal_error_status(exec_env):
    """Nothing runs unless configured: the error channel says no backend is configured for the pod."""
    core, _workdir = exec_env
    core.create_namespaced_pod("default", _pod("other"))
    _wait_running(core, "other")
    resp = stream(core.connect_get_namespaced_pod_exec, "other", "default", command=["echo", "x"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    status = json.loads(resp.read_channel(3))
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError", 500)
    assert "no exec backend is configured for pod default/other container app" in status["message"]
    assert resp.read_all() == ""


def test_missing_executable_is_an_internal_error_status(exec_env):
    core, _workdir = exec_env
    resp = stream(core.connect_get_namespaced_pod_exec, "shell", "default", command=["/no/such/binary"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    status = json.loads(resp.read_channel(3))
    assert status["reason"] == "InternalError" and "executable file not found" in status["message"]


def test_plain_get_needs_an_upgrade(sandbox, exec_env):
    core, _workdir = exec_env
    answer = requests.get(sandbox.url + "/api/v1/namespaces/default/pods/shell/exec",
                          params={"command": "true", "stdout": "true"}, timeout=10)
    assert answer.status_code == 400 and answer.json()["message"] == "Upgrade request required"
    del core


def test_unsupported_subprotocol_is_403(exec_env):
    core, _workdir = exec_env
    from kubernetes.stream import ws_client  # pylint: disable=import-outside-toplevel
    config = core.api_client.configuration
    url = config.host + "/api/v1/namespaces/default/pods/shell/exec?command=true&stdout=true"
    with pytest.raises(Exception) as exc:
        ws_client.create_websocket(config, ws_client.get_websocket_url(url), {"sec-websocket-protocol": "base64.channel.k8s.io"})
    assert "403" in str(exc.value)


@pytest.mark.parametrize("protocol, status_text", [("v4.channel.k8s.io", '{"metadata":{},"status":"Failure"'),
                                                   ("channel.k8s.io", "command terminated with non-zero exit code")])
def test_older_protocols(exec_env, protocol, status_text):
    """v4 has no CLOSE signal; channel.k8s.io (v1) puts a plain message on the error channel."""
    core, _workdir = exec_env
    from kubernetes.stream import ws_client  # pylint: disable=import-outside-toplevel
    config = core.api_client.configuration
    url = config.host + "/api/v1/namespaces/default/pods/shell/exec?command=sh&command=-c&command=exit+2&stdout=true"
    client = ws_client.WSClient(config, ws_client.get_websocket_url(url), {"sec-websocket-protocol": protocol}, True)
    assert client.subprotocol == protocol
    client.run_forever(timeout=10)
    assert client.read_channel(3).startswith(status_text)


def test_disconnect_kills_the_command(exec_env, tmp_path):
    """Closing the stream kills the command's process group (nothing outlives an exec)."""
    core, _workdir = exec_env
    pidfile = tmp_path / "shell" / "pid"
    resp = stream(core.connect_get_namespaced_pod_exec, "shell", "default",
                  command=["sh", "-c", "echo $$ > pid; sleep 60 & wait"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    deadline = time.monotonic() + 5
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    started = time.monotonic()
    resp.close()  # waits for the server's close frame (up to 3 s): the server echoes it at once
    assert time.monotonic() - started < 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("exec process %d survived the disconnect" % pid)


def test_exec_is_in_discovery_and_the_request_log(sandbox, exec_env):
    core, _workdir = exec_env
    run(core, ["true"])
    resources = {r.name: r for r in core.get_api_resources().resources}
    assert (resources["pods/exec"].kind, sorted(resources["pods/exec"].verbs)) == ("PodExecOptions", ["create", "get"])
    entry = [e for e in sandbox.control.request_log() if e["subresource"] == "exec"][-1]
    assert (entry["code"], entry["name"], entry["verb"]) == (101, "shell", "get")


@pytest.mark.parametrize("rule, message", [
    ({"mode": "docker", "workdir": "/tmp"}, "mode must be 'local'"),
    ({"mode": "local"}, "workdir is required"),
    ({"mode": "local", "workdir": "/tmp", "shell": True}, "unknown keys ['shell']"),
])
def test_exec_settings_are_checked(sandbox, rule, message):
    with pytest.raises(RuntimeError) as exc:
        sandbox.control.settings(exec=[rule])
    assert message in str(exc.value)
