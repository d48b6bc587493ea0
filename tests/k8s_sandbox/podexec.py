"""pods/exec: the WebSocket stream protocol of the kubelet, served by configurable exec backends.

A real API server checks the pod and container, then proxies the upgraded connection to the
kubelet, which runs the command in the container through the CRI and streams it back over a
WebSocket in the ``*.channel.k8s.io`` protocols: every message is one binary frame whose
first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds 255 =
"close this channel"), and the error channel carries the end of the command: a ``Status``
JSON (v4, v5) or a plain error message (older protocols, nothing on success).

The sandbox has no containers, so what an exec runs is chosen by the ``exec`` setting: a
list of rules matching pods (``name``/``namespace`` globs, ``labels``, ``container`` glob).
The only mode is ``local``: the command runs as a local subprocess (argv as given, never
through a shell) in ``workdir``, with the environment the kubelet would give the container
(its literal ``env`` with ``$(VAR)`` expansion, ``valueFrom`` field/Secret/ConfigMap
references and ``envFrom`` resolved from the sandbox's own objects) plus the rule's ``env``;
``path_map`` rewrites argv elements under container paths to local paths (like a volume
mount). ``{pod}``, ``{namespace}``, ``{container}``, ``{node}``, ``{pod_ip}``, ``{uid}`` and
``{workdir}`` are substituted in ``workdir``, ``env`` and ``path_map`` values. Without a
matching rule the exec ends with an InternalError Status saying so.
"""
import base64
import errno
import fnmatch
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time

from . import errors
from .errors import ApiError

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
# Offered by the client in order of preference; the first one the server supports wins, as in
# k8s.io/apimachinery's wsstream handshake. "" is a client that names no protocol.
JSON_STATUS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PROTOCOLS = JSON_STATUS_PROTOCOLS + ("v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
TRUE_VALUES = ("1", "t", "T", "TRUE", "true", "True")
FALSE_VALUES = ("0", "f", "F", "FALSE", "false", "False")
PLACEHOLDER = re.compile(r"\{(pod|namespace|container|node|pod_ip|uid|workdir)\}")
ENV_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
RULE_KEYS = ("name", "namespace", "labels", "container", "mode", "workdir", "env", "path_map", "timeout")


class ExecRefused(Exception):
    """The kubelet refuses before upgrading: a status code and a plain-text body."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text


def check_rules(rules):
    """Validate the ``exec`` setting; raise KeyError (the settings endpoint answers 400)."""
    if not isinstance(rules, list):
        raise KeyError("sandbox setting 'exec' must be a list of rules")
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise KeyError("exec[%d] must be a mapping" % index)
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            raise KeyError("exec[%d]: unknown keys %s (known: %s)" % (index, unknown, ", ".join(RULE_KEYS)))
        if rule.get("mode") != "local":
            raise KeyError("exec[%d]: mode must be 'local' (the only exec backend), got %r" % (index, rule.get("mode")))
        if not rule.get("workdir"):
            raise KeyError("exec[%d]: workdir is required (the directory a local exec runs in)" % index)
        for key in ("env", "path_map", "labels"):
            if not isinstance(rule.get(key) or {}, dict):
                raise KeyError("exec[%d]: %s must be a mapping" % (index, key))


def parse_bool(query, name):
    value = query.get(name)
    if value is None or value == "":
        return False
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise errors.bad_request('strconv.ParseBool: parsing "%s": invalid syntax' % value)


class ExecRequest:
    """The checked request: the pod, the container, the command and which streams."""

    def __init__(self, pod, container, command, stdin, stdout, stderr, tty):
        self.pod = pod
        self.container = container
        self.command = command
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty

    @property
    def where(self):
        return "%s/%s container %s" % (self.pod["metadata"]["namespace"], self.pod["metadata"]["name"], self.container)


def check_request(sandbox, route, query, headers):
    """What the API server and the kubelet check before upgrading (ApiError / ExecRefused)."""
    rtype = route.rtype
    with sandbox.store.lock:
        pod = sandbox.store.get(rtype.key, route.namespace, route.name)
    if pod is None:
        raise errors.not_found(rtype, route.name)
    stdin, stdout, stderr, tty = (parse_bool(query, name) for name in ("stdin", "stdout", "stderr", "tty"))
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or ()]
    init_names = [c["name"] for c in spec.get("initContainers") or ()]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or ()]
    container = query.get("container") or ""
    if not container:
        if len(names) != 1:
            message = "a container name must be specified for pod %s, choose one of: [%s]" % (route.name, " ".join(names))
            if init_names:
                message += " or one of the init containers: [%s]" % " ".join(init_names)
            raise errors.bad_request(message)
        container = names[0]
    elif container not in names + init_names + ephemeral:
        raise errors.bad_request("container %s is not valid for pod %s" % (container, route.name))
    if not spec.get("nodeName"):
        raise errors.bad_request("pod %s does not have a host assigned" % route.name)
    connection = [t.strip().lower() for t in (headers.get("Connection") or "").split(",")]
    if (headers.get("Upgrade") or "").lower() != "websocket" or "upgrade" not in connection:
        # The sandbox speaks WebSocket only; a real server also upgrades to SPDY/3.1.
        raise errors.bad_request("Upgrade request required")
    if tty and stderr:
        stderr = False  # the kubelet bypasses stderr with a TTY
    if not (stdin or stdout or stderr):
        raise ExecRefused(400, "you must specify at least 1 of stdin, stdout, stderr")
    statuses = {c.get("name"): c for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
                for c in (pod.get("status") or {}).get(key) or ()}
    if "running" not in ((statuses.get(container) or {}).get("state") or {}):
        # kubelet: findContainer finds no running container -> streaming.WriteError -> 500, plain text
        raise ExecRefused(500, 'container not found ("%s")' % container)
    return ExecRequest(pod, container, query.get_all("command"), stdin, stdout, stderr, tty)


def choose_protocol(headers):
    """The subprotocol, or raise ExecRefused(403) like golang.org/x/net/websocket on a mismatch."""
    offered = [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol") or () for p in value.split(",")]
    offered = [p for p in offered if p]
    if not offered:
        return ""
    for protocol in offered:
        if protocol in PROTOCOLS:
            return protocol
    raise ExecRefused(403, "")


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def status_success():
    return {"metadata": {}, "status": "Success"}


def status_exit(code, argv):
    """What the kubelet sends for a non-zero exit (remotecommand NonZeroExitCode / ExitCode cause)."""
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command %s, exit code %d"
                       % (_go_list(argv), code),
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def status_internal(message):
    return {"metadata": {}, "status": "Failure", "message": "Internal error occurred: %s" % message,
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def _go_list(argv):
    return "[%s]" % " ".join(argv)


class WebSocket:
    """Server side of RFC 6455 on an upgraded HTTP connection: unmasked frames out, masked frames in."""

    def __init__(self, rfile, wfile):
        self.rfile = rfile
        self.wfile = wfile
        self.write_lock = threading.Lock()
        self.closed = False

    def send(self, opcode, payload):
        header = bytes([0x80 | opcode])
        size = len(payload)
        if size < 126:
            header += bytes([size])
        elif size < 1 << 16:
            header += bytes([126]) + struct.pack("!H", size)
        else:
            header += bytes([127]) + struct.pack("!Q", size)
        with self.write_lock:
            if self.closed:
                return
            self.wfile.write(header + payload)
            self.wfile.flush()

    def send_channel(self, channel, data):
        self.send(OP_BINARY, bytes([channel]) + data)

    def close(self, code=1000, reason=b""):
        try:
            self.send(OP_CLOSE, struct.pack("!H", code) + reason)
        except OSError:
            pass
        with self.write_lock:
            self.closed = True

    def _read_exact(self, size):
        data = self.rfile.read(size) if size else b""
        if len(data) != size:
            raise ConnectionError("websocket peer went away")
        return data

    def receive(self):
        """One whole message: (opcode, payload); continuation frames are joined."""
        message_opcode, parts = None, []
        while True:
            first, second = self._read_exact(2)
            fin, opcode = first & 0x80, first & 0x0F
            if not second & 0x80:
                self.close(1002, b"client frames must be masked")
                raise ConnectionError("unmasked client frame")
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read_exact(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read_exact(size)))
            if opcode >= 0x8:  # control frames may arrive between fragments
                return opcode, payload
            if opcode != OP_CONT:
                message_opcode = opcode
            parts.append(payload)
            if fin:
                return message_opcode, b"".join(parts)


class Placeholders(dict):
    def __init__(self, request, workdir=""):
        meta = request.pod["metadata"]
        status = request.pod.get("status") or {}
        super().__init__(pod=meta["name"], namespace=meta.get("namespace", ""), container=request.container,
                         node=(request.pod.get("spec") or {}).get("nodeName", ""), pod_ip=status.get("podIP", ""),
                         uid=meta.get("uid", ""), workdir=workdir)

    def apply(self, text):
        return PLACEHOLDER.sub(lambda match: self[match.group(1)], str(text))


def find_rule(sandbox, request):
    pod = request.pod
    meta = pod["metadata"]
    for rule in sandbox.settings.get("exec") or ():
        if rule.get("name") and not fnmatch.fnmatchcase(meta["name"], rule["name"]):
            continue
        if rule.get("namespace") and not fnmatch.fnmatchcase(meta.get("namespace", ""), rule["namespace"]):
            continue
        if any((meta.get("labels") or {}).get(k) != v for k, v in (rule.get("labels") or {}).items()):
            continue
        if rule.get("container") and not fnmatch.fnmatchcase(request.container, rule["container"]):
            continue
        return rule
    return None


def _expand(value, env):
    """Kubernetes $(VAR) expansion: defined variables are replaced, $$ escapes, the rest stays."""
    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)
    return ENV_REF.sub(replace, value)


def _field(pod, path):
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP"),
              "status.hostIP": status.get("hostIP"),
              "status.podIPs": ",".join(p.get("ip", "") for p in status.get("podIPs") or ()),
              "status.hostIPs": ",".join(p.get("ip", "") for p in status.get("hostIPs") or ())}
    if path in simple:
        return simple[path] or ""
    match = re.match(r"metadata\.(labels|annotations)\['([^']+)'\]$", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    raise LookupError("unsupported fieldRef fieldPath %s" % path)


class EnvBuilder:
    """The container environment as the kubelet builds it (makeEnvironmentVariables)."""

    def __init__(self, sandbox, pod):
        self.sandbox = sandbox
        self.pod = pod
        self.namespace = pod["metadata"].get("namespace", "")

    def _object(self, resource, name):
        with self.sandbox.store.lock:
            return self.sandbox.store.get(("", resource), self.namespace, name)

    def _key(self, ref, resource, kind):
        obj = self._object(resource, ref.get("name", ""))
        optional = bool(ref.get("optional"))
        if obj is None:
            if optional:
                return None
            raise LookupError('%s "%s" not found' % (kind.lower(), ref.get("name", "")))
        if kind == "Secret":
            data = obj.get("data") or {}
            if ref["key"] in data:
                return base64.b64decode(data[ref["key"]]).decode("utf-8", "replace")
        else:
            if ref["key"] in (obj.get("data") or {}):
                return obj["data"][ref["key"]]
            if ref["key"] in (obj.get("binaryData") or {}):
                return base64.b64decode(obj["binaryData"][ref["key"]]).decode("utf-8", "replace")
        if optional:
            return None
        raise LookupError("couldn't find key %s in %s %s/%s" % (ref["key"], kind, self.namespace, ref.get("name", "")))

    def build(self, container_spec):
        env = {"PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
               "HOSTNAME": self.pod["metadata"]["name"], "HOME": os.environ.get("HOME", "/root"),
               "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
               "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443"}
        for source in container_spec.get("envFrom") or ():
            prefix = source.get("prefix", "")
            for key, resource, kind in (("configMapRef", "configmaps", "ConfigMap"), ("secretRef", "secrets", "Secret")):
                ref = source.get(key)
                if not ref:
                    continue
                obj = self._object(resource, ref.get("name", ""))
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise LookupError('%s "%s" not found' % (kind.lower(), ref.get("name", "")))
                for name, value in (obj.get("data") or {}).items():
                    env[prefix + name] = base64.b64decode(value).decode("utf-8", "replace") if kind == "Secret" else value
        for item in container_spec.get("env") or ():
            if "valueFrom" not in item:
                env[item["name"]] = _expand(item.get("value", ""), env)
                continue
            source = item["valueFrom"]
            value = None
            if "fieldRef" in source:
                value = _field(self.pod, source["fieldRef"].get("fieldPath", ""))
            elif "secretKeyRef" in source:
                value = self._key(source["secretKeyRef"], "secrets", "Secret")
            elif "configMapKeyRef" in source:
                value = self._key(source["configMapKeyRef"], "configmaps", "ConfigMap")
            # resourceFieldRef (limits/requests) is not resolved: the variable stays unset.
            if value is not None:
                env[item["name"]] = value
        return env


def container_spec(pod, name):
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            if container["name"] == name:
                return container
    return {}


def _map_path(arg, path_map):
    for prefix, local in path_map.items():
        prefix = prefix.rstrip("/")
        if arg == prefix or arg.startswith(prefix + "/"):
            return local.rstrip("/") + arg[len(prefix):]
    return arg


class Session:
    """One exec: the process, the pumps between it and the WebSocket, and the final Status."""

    def __init__(self, sandbox, request, protocol, ws):
        self.sandbox = sandbox
        self.request = request
        self.protocol = protocol
        self.ws = ws
        self.process = None
        self.stdin_lock = threading.Lock()
        # stdin that arrives before the process exists (the client may write at once)
        self.early_stdin = []
        self.early_stdin_closed = False

    def _finish(self, status):
        if self.protocol in JSON_STATUS_PROTOCOLS:
            self.ws.send_channel(ERROR, json.dumps(status, separators=(",", ":")).encode())
        elif status["status"] != "Success":
            self.ws.send_channel(ERROR, status["message"].encode())
        self.ws.close(1000)

    def _prepare(self, rule):
        request = self.request
        values = Placeholders(request)
        workdir = values.apply(rule["workdir"])
        values["workdir"] = workdir
        if not os.path.isdir(workdir):
            raise LookupError("sandbox exec backend: workdir %s of pod %s does not exist" % (workdir, request.where))
        env = EnvBuilder(self.sandbox, request.pod).build(container_spec(request.pod, request.container))
        env.update((str(k), values.apply(v)) for k, v in (rule.get("env") or {}).items())
        path_map = dict((k, values.apply(v)) for k, v in (rule.get("path_map") or {}).items())
        argv = [_map_path(arg, path_map) for arg in request.command]
        return argv, workdir, env

    def run(self):
        # the client's frames (stdin, close) are read from the start, so that every ending waits
        # for the client's close frame before the connection goes (the RFC 6455 closing handshake)
        reader = threading.Thread(target=self._read_client, daemon=True)
        reader.start()
        try:
            self._run()
        finally:
            reader.join(timeout=2)

    def _run(self):
        request = self.request
        # the kubelet first writes an empty message on the lowest writable channel: "connected"
        self.ws.send_channel(STDOUT if request.stdout else STDERR if request.stderr else ERROR, b"")
        rule = find_rule(self.sandbox, request)
        if rule is None:
            self._finish(status_internal(
                "sandbox: no exec backend is configured for pod %s; a real cluster would run %s in the container "
                "(configure the sandbox setting 'exec', see docs/k8s-sandbox.md)" % (request.where, _go_list(request.command))))
            return
        if not request.command:
            self._finish(status_internal("error executing command in container: command must not be empty"))
            return
        try:
            argv, workdir, env = self._prepare(rule)
        except (LookupError, KeyError, ValueError) as exc:
            self._finish(status_internal(str(exc)))
            return
        # With tty=true a real runtime gives one terminal for both outputs; here stderr joins stdout
        # (no pseudo-terminal: programs see pipes, and resize messages are ignored).
        merged = subprocess.STDOUT if request.tty and request.stdout else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                argv, cwd=workdir, env=env, start_new_session=True,
                stdin=subprocess.PIPE if request.stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if request.stdout else subprocess.DEVNULL,
                stderr=subprocess.PIPE if request.stderr else merged)
        except OSError as exc:
            reason = "executable file not found in $PATH" if exc.errno == errno.ENOENT else exc.strerror
            self._finish(status_internal(
                'error executing command in container: failed to exec in container: OCI runtime exec failed: exec failed: '
                'unable to start container process: exec: "%s": %s: unknown' % (request.command[0], reason)))
            return
        self.sandbox.execs.add(self)
        with self.stdin_lock:
            early, self.early_stdin = self.early_stdin, []
        for data in early:
            self._write_stdin(data)
        if self.early_stdin_closed:
            self._close_stdin()
        try:
            self._stream(rule)
        finally:
            self.kill()
            self.sandbox.execs.discard(self)

    def _stream(self, rule):
        process = self.process
        pumps = []
        for pipe, channel in ((process.stdout, STDOUT), (process.stderr, STDERR)):
            if pipe is not None:
                thread = threading.Thread(target=self._pump, args=(pipe, channel), daemon=True)
                thread.start()
                pumps.append(thread)
        timeout = rule.get("timeout")
        deadline = time.monotonic() + float(timeout) if timeout else None
        while process.poll() is None:
            if self.ws.closed or (deadline is not None and time.monotonic() > deadline):
                self.kill()
                break
            time.sleep(0.02)
        for thread in pumps:
            thread.join(timeout=5)
        code = process.wait()
        if code < 0:
            code = 128 - code  # killed by a signal: the runtime reports 128 + signal
        if self.ws.closed:
            return
        self._finish(status_success() if code == 0 else status_exit(code, self.request.command))

    def _pump(self, pipe, channel):
        try:
            while True:
                data = os.read(pipe.fileno(), 32768)
                if not data:
                    break
                self.ws.send_channel(channel, data)
        except OSError:
            pass
        finally:
            pipe.close()

    def _close_stdin(self):
        with self.stdin_lock:
            if self.process is None:
                self.early_stdin_closed = True
            elif self.process.stdin is not None and not self.process.stdin.closed:
                try:
                    self.process.stdin.close()
                except OSError:
                    pass

    def _write_stdin(self, data):
        with self.stdin_lock:
            if self.process is None:
                self.early_stdin.append(data)
            elif self.process.stdin is not None and not self.process.stdin.closed:
                try:
                    self.process.stdin.write(data)
                    self.process.stdin.flush()
                except OSError:
                    pass

    def _read_client(self):
        try:
            while True:
                opcode, payload = self.ws.receive()
                if opcode == OP_CLOSE:
                    self.ws.close(1000)  # echo it (a no-op when ours went first)
                    break
                if opcode == OP_PING:
                    self.ws.send(OP_PONG, payload)
                    continue
                if opcode not in (OP_TEXT, OP_BINARY) or not payload:
                    continue
                channel, data = payload[0], payload[1:]
                if channel == CLOSE and self.protocol == "v5.channel.k8s.io":
                    if data[:1] == bytes([STDIN]):
                        self._close_stdin()
                elif channel == STDIN and self.request.stdin:
                    self._write_stdin(data)
                # RESIZE (4) carries {"Width", "Height"}: without a TTY there is nothing to resize.
        except (ConnectionError, OSError, ValueError):
            with self.ws.write_lock:
                self.ws.closed = True
        finally:
            self._close_stdin()

    def kill(self):
        """Kill the command's whole process group (a disconnect, a timeout, a sandbox reset or stop)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class ExecRegistry:
    """Running exec sessions, so a reset or shutdown leaves no process behind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = set()

    def add(self, session):
        with self.lock:
            self.sessions.add(session)

    def discard(self, session):
        with self.lock:
            self.sessions.discard(session)

    def kill_all(self):
        with self.lock:
            sessions = list(self.sessions)
        for session in sessions:
            session.kill()


def serve(handler, route, query):
    """Answer pods/<name>/exec on ``handler`` (a server.Handler); return the HTTP code for the log."""
    sandbox = handler.sandbox
    try:
        request = check_request(sandbox, route, query, handler.headers)
        protocol = choose_protocol(handler.headers)
        key = handler.headers.get("Sec-WebSocket-Key")
        if not key or handler.headers.get("Sec-WebSocket-Version") != "13":
            raise ExecRefused(400, "websocket: Sec-WebSocket-Key and Sec-WebSocket-Version 13 are required")
    except ExecRefused as exc:
        handler.close_connection = True
        handler.send_text(exc.code, exc.text)
        return exc.code
    except ApiError:
        handler.close_connection = True
        raise
    handler.close_connection = True
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(key))
    if protocol:
        handler.send_header("Sec-WebSocket-Protocol", protocol)
    handler.end_headers()
    handler.wfile.flush()
    ws = WebSocket(handler.rfile, handler.wfile)
    try:
        Session(sandbox, request, protocol, ws).run()
    except (ConnectionError, OSError):
        pass
    return 101
