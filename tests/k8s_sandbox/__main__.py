"""Command line: run the sandbox in the foreground, or start/stop it in the background.

    python -m k8s_sandbox [serve] --host 127.0.0.1 --port 0 --kubeconfig-out PATH
        [--settings FILE.yaml] [--nodes FILE.yaml] [--state-dir DIR] [--tls] [--token T]
        [--ready-file PATH]
    python -m k8s_sandbox start --pidfile PIDFILE --kubeconfig-out PATH [same options]
    python -m k8s_sandbox stop --pidfile PIDFILE

The bound URL is printed on stdout (and written to --ready-file once requests are served).
"""
import argparse
import base64
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from .app import Sandbox
from .server import SandboxHTTPServer, serve_in_thread


def _options(parser):
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig-out", help="write a kubeconfig pointing at the sandbox here")
    parser.add_argument("--settings", help="YAML file of initial settings (see k8s_sandbox.settings)")
    parser.add_argument("--nodes", help="YAML list of nodes: [{name, labels, taints, unschedulable}]")
    parser.add_argument("--state-dir", help="persist objects here and reload them at start")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--ready-file", help="write the URL here once serving")
    parser.add_argument("--context", default="sandbox", help="kubeconfig context and cluster name")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m k8s_sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    _options(sub.add_parser("serve", help="run in the foreground (default)"))
    start = sub.add_parser("start", help="run in the background, recording the pid")
    _options(start)
    start.add_argument("--pidfile", required=True)
    start.add_argument("--log-file", help="stdout/stderr of the background process")
    stop = sub.add_parser("stop", help="stop a background sandbox")
    stop.add_argument("--pidfile", required=True)
    if not argv or argv[0].startswith("-"):
        argv = ["serve"] + list(argv)
    return parser.parse_args(argv)


def _load_yaml(path):
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def make_certificate(directory, host):
    cert = os.path.join(directory, "sandbox.crt")
    key = os.path.join(directory, "sandbox.key")
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-keyout", key, "-out", cert, "-subj", "/CN=k8s-sandbox",
                        "-addext", "subjectAltName=IP:%s,DNS:localhost" % host,
                        "-addext", "basicConstraints=critical,CA:TRUE"],
                       check=True, capture_output=True)
    return cert, key


def write_kubeconfig(path, url, context, token=None, ca_file=None):
    cluster = {"server": url}
    if ca_file:
        with open(ca_file, "rb") as handle:
            cluster["certificate-authority-data"] = base64.b64encode(handle.read()).decode()
    user = {"token": token} if token else {}
    config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
              "clusters": [{"name": context, "cluster": cluster}],
              "users": [{"name": context, "user": user}],
              "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                         "namespace": "default"}}],
              "current-context": context}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, default_flow_style=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def serve(args):
    nodes = _load_yaml(args.nodes)
    sandbox = Sandbox(state_dir=args.state_dir, token=args.token, nodes=nodes,
                      initial_settings=_load_yaml(args.settings))
    context = None
    ca_file = None
    if args.tls:
        cert_dir = args.state_dir or tempfile.mkdtemp(prefix="k8s-sandbox-tls-")
        os.makedirs(cert_dir, exist_ok=True)
        ca_file, key_file = make_certificate(cert_dir, args.host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca_file, key_file)
    server = SandboxHTTPServer((args.host, args.port), sandbox, context)
    host, port = server.server_address[:2]
    url = "%s://%s:%d" % ("https" if args.tls else "http", host, port)
    if args.kubeconfig_out:
        write_kubeconfig(args.kubeconfig_out, url, args.context, args.token, ca_file)
    stop = threading.Event()
    flusher = threading.Thread(target=sandbox.store.flush_loop, args=(stop,), daemon=True)
    flusher.start()
    sandbox.controllers.start()
    serve_in_thread(server)

    def _terminate(signum, frame):
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    print(url, flush=True)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(url + "\n")
        os.replace(tmp, args.ready_file)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    sandbox.execs.kill_all()
    sandbox.controllers.stop()
    flusher.join(timeout=5)
    return 0


def start(args, argv):
    ready = args.ready_file or args.pidfile + ".url"
    if os.path.exists(ready):
        os.unlink(ready)
    serve_argv = ["serve"] + _strip(argv, ("--pidfile", "--log-file", "--ready-file"))[1:]
    serve_argv += ["--ready-file", ready]
    log = open(args.log_file or os.devnull, "ab")  # pylint: disable=consider-using-with
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                      env.get("PYTHONPATH")]))
    process = subprocess.Popen([sys.executable, "-m", "k8s_sandbox"] + serve_argv,  # pylint: disable=consider-using-with
                               stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    log.close()
    with open(args.pidfile, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % process.pid)
    deadline = time.monotonic() + 60
    while not os.path.exists(ready):
        if process.poll() is not None:
            print("sandbox exited with %s" % process.returncode, file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print("sandbox did not become ready", file=sys.stderr)
            return 1
        time.sleep(0.05)
    with open(ready, encoding="utf-8") as handle:
        print(handle.read().strip(), flush=True)
    return 0


def _strip(argv, options):
    result = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in options:
            skip = "=" not in arg
            continue
        result.append(arg)
    return result


def _alive(pid):
    """True while the process exists and is not a zombie (nobody may reap a daemon here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop_background(args):
    try:
        with open(args.pidfile, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        print("no sandbox pidfile at %s" % args.pidfile, file=sys.stderr)
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.unlink(args.pidfile)
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.command == "start":
        return start(args, argv)
    if args.command == "stop":
        return stop_background(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
