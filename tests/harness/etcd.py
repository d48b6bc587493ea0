"""A real etcd server for tests: Debian's ``/usr/bin/etcd`` (3.4) on loopback.

:class:`EtcdServer` starts one single-member etcd on free 127.0.0.1 client, peer and
metrics ports with a fresh data directory, waits until it answers ``/health``, and on
:meth:`EtcdServer.stop` terminates it and removes every file it made. The process is
started in its own session with ``PR_SET_PDEATHSIG`` set, and an ``atexit`` hook stops
anything still running, so a crashed or interrupted test run leaves no etcd behind.

With ``tls=True`` it serves HTTPS/gRPC-TLS with a throw-away CA, a server certificate
for 127.0.0.1/localhost and a client certificate, all made with the ``openssl`` CLI
(:func:`make_pki`). ``client_cert_auth=True`` additionally requires the client
certificate. ``auth=True`` enables etcd's user/password authentication with a ``root``
user and a limited user whose role grants read-write on :attr:`EtcdServer.granted_prefix`
only. The plain-HTTP metrics listener stays open without TLS or auth so tests can count
the write requests the server handled (:meth:`EtcdServer.write_requests`).

:class:`EtcdCluster` starts a plain-HTTP multi-member cluster, one member per pod name
(``etcd-server-0``...), each with an ``etcdctl`` wrapper at ``<directory>/<pod>/bin`` that
reaches that member only and logs its argv, and the sandbox pod exec rule that puts it on
the pods' ``PATH`` (:meth:`EtcdCluster.exec_rule`), for tests of member add/remove.
"""

import atexit
import ctypes
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ETCD_BINARY = os.environ.get('ETCD_BINARY', '/usr/bin/etcd')
ETCDCTL_BINARY = os.environ.get('ETCDCTL_BINARY', '/usr/bin/etcdctl')
OPENSSL_BINARY = os.environ.get('OPENSSL_BINARY', 'openssl')

_RUNNING = set()
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the kernel kills etcd when the process that started it dies."""
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@atexit.register
def _stop_all():
    for server in list(_RUNNING):
        server.stop()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _openssl(*args, cwd):
    subprocess.run([OPENSSL_BINARY] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(directory, client_cn=None):
    """A CA, a server certificate (127.0.0.1, localhost) and a client certificate.

    The client certificate has no CommonName by default: etcd 3.4 with
    ``--client-cert-auth`` answers 400 to HTTP-gateway (``/v3/...``) requests whose
    certificate carries one ("CommonName of client sending a request against gateway
    will be ignored"), and over gRPC a CN would silently become the etcd user name.

    Returns a dict of absolute paths: ``ca``, ``server_cert``, ``server_key``,
    ``client_cert``, ``client_key``.
    """
    os.makedirs(directory, exist_ok=True)
    _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-sha256',
             '-subj', '/CN=openstack-k8s-deploy test CA', '-keyout', 'ca.key', '-out', 'ca.crt',
             '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
             cwd=directory)
    for name, subject, ext in (
            ('server', '/CN=etcd-test-server',
             'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n'
             'keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n'),
            ('client', client_cn and '/CN=%s' % client_cn,
             'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
             'basicConstraints=CA:FALSE\n')):
        with open(os.path.join(directory, name + '.ext'), 'w') as handle:
            handle.write(ext)
        _openssl('req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', subject or '/O=openstack-k8s-deploy tests',
                 '-keyout', name + '.key', '-out', name + '.csr', cwd=directory)
        _openssl('x509', '-req', '-in', name + '.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
                 '-days', '2', '-sha256', '-extfile', name + '.ext', '-out', name + '.crt', cwd=directory)
    for name in os.listdir(directory):
        if name.endswith('.key'):
            os.chmod(os.path.join(directory, name), 0o600)
    return dict(ca=os.path.join(directory, 'ca.crt'),
                server_cert=os.path.join(directory, 'server.crt'),
                server_key=os.path.join(directory, 'server.key'),
                client_cert=os.path.join(directory, 'client.crt'),
                client_key=os.path.join(directory, 'client.key'))


class EtcdStartError(RuntimeError):
    pass


def _popen_etcd(args, log_path):
    """Start etcd in its own session, dying with this process, its output into ``log_path``."""
    log = open(log_path, 'wb')
    try:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)
    finally:
        log.close()


def _healthy(endpoint, context=None, timeout=2):
    """True when ``endpoint/health`` answers ``"health":"true"`` (the member sees a leader)."""
    try:
        with urllib.request.urlopen(endpoint + '/health', timeout=timeout, context=context) as response:
            return b'true' in response.read()
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(path, lines=20):
    try:
        with open(path, 'rb') as handle:
            return b'\n'.join(handle.read().splitlines()[-lines:]).decode('utf-8', 'replace')
    except (OSError, TypeError):
        return ''


def _kill_group(process):
    """SIGTERM the process group of ``process`` (SIGKILL after 10 s) and reap it; None is fine."""
    if process is None:
        return
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)


class EtcdServer(object):
    """One etcd process. Use as a context manager or call :meth:`start`/:meth:`stop`."""

    ROOT_USER = 'root'
    LIMITED_USER = 'openstack-config'
    LIMITED_ROLE = 'openstack-config'

    def __init__(self, tls=False, client_cert_auth=False, auth=False, granted_prefix='/openstack',
                 base_dir=None, start_timeout=20.0):
        if client_cert_auth and not tls:
            raise ValueError('client_cert_auth needs tls=True')
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.auth = auth
        self.granted_prefix = granted_prefix
        self.start_timeout = start_timeout
        self._base_dir = base_dir
        self.workdir = None
        self.process = None
        self.pki = {}
        self.client_port = self.peer_port = self.metrics_port = None
        # Generated per server so no password is written into the repository.
        self.root_password = secrets.token_urlsafe(24) if auth else None
        self.password = secrets.token_urlsafe(24) if auth else None

    # -- what tests use ------------------------------------------------------------------
    @property
    def scheme(self):
        return 'https' if self.tls else 'http'

    @property
    def endpoint(self):
        return '%s://127.0.0.1:%d' % (self.scheme, self.client_port)

    @property
    def endpoints(self):
        return [self.endpoint]

    @property
    def ca_cert(self):
        return self.pki.get('ca')

    @property
    def client_cert(self):
        return self.pki.get('client_cert')

    @property
    def client_key(self):
        return self.pki.get('client_key')

    @property
    def username(self):
        return self.LIMITED_USER if self.auth else None

    @property
    def metrics_url(self):
        return 'http://127.0.0.1:%d/metrics' % self.metrics_port

    def connection(self, root=False, **overrides):
        """The module options (``endpoints``, TLS, auth) that reach this server."""
        params = dict(endpoints=self.endpoints, ca_cert=self.ca_cert, client_cert=self.client_cert,
                      client_key=self.client_key, username=None, password=None)
        if self.auth:
            params['username'] = self.ROOT_USER if root else self.LIMITED_USER
            params['password'] = self.root_password if root else self.password
        params.update(overrides)
        return params

    def client(self, root=True, timeout=10):
        """A separate raw ``pyetcd`` client (root by default), independent of the code under test."""
        import pyetcd
        kwargs = dict(host='127.0.0.1', port=self.client_port, timeout=timeout)
        if self.tls:
            kwargs.update(ca_cert=self.ca_cert, cert_cert=self.client_cert, cert_key=self.client_key)
        if self.auth:
            kwargs.update(user=self.ROOT_USER if root else self.LIMITED_USER,
                          password=self.root_password if root else self.password)
        return pyetcd.client(**kwargs)

    def dump(self, prefix=''):
        """Every key (under ``prefix``) as a dict of str → str, read with a fresh raw client."""
        with self.client() as cli:
            if prefix:
                items = cli.get_prefix(prefix)
            else:
                items = cli.get_all()
            return dict((meta.key.decode(), value.decode()) for value, meta in items)

    def wipe(self):
        """Delete every key (auth users and roles are kept); returns how many were deleted."""
        from pyetcd import etcdrpc
        with self.client() as cli:
            # key NUL with range_end NUL is etcd's "every key".
            request = etcdrpc.DeleteRangeRequest(key=b'\x00', range_end=b'\x00')
            response = cli.kvstub.DeleteRange(request, cli.timeout, credentials=cli.call_credentials,
                                              metadata=cli.metadata)
            return response.deleted

    def metrics(self):
        """The Prometheus metrics as {'name{labels}': float}."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if not line or line.startswith('#'):
                continue
            name, value = line.rpartition(' ')[::2]
            try:
                values[name] = float(value)
            except ValueError:
                continue
        return values

    def write_requests(self):
        """Server-side counts of handled write RPCs and MVCC writes so far.

        ``Put``/``Txn``/``DeleteRange`` count gRPC requests (HTTP gateway requests are
        proxied to gRPC and counted too); ``mvcc_put``/``mvcc_delete`` count keys written.
        """
        metrics = self.metrics()
        counts = dict(Put=0.0, Txn=0.0, DeleteRange=0.0)
        pattern = re.compile(r'^grpc_server_handled_total\{(.*)\}$')
        for name, value in metrics.items():
            match = pattern.match(name)
            if not match:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if labels.get('grpc_service') == 'etcdserverpb.KV' and labels.get('grpc_method') in counts:
                counts[labels['grpc_method']] += value
        counts['mvcc_put'] = metrics.get('etcd_mvcc_put_total', 0.0)
        counts['mvcc_delete'] = metrics.get('etcd_mvcc_delete_total', 0.0)
        return dict((k, int(v)) for k, v in counts.items())

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.workdir = tempfile.mkdtemp(prefix='etcd-test-', dir=self._base_dir)
        try:
            if self.tls:
                self.pki = make_pki(os.path.join(self.workdir, 'pki'))
            attempts = 3
            while True:
                try:
                    self._spawn()
                    break
                except EtcdStartError:  # a port taken between probe and bind: try other ports
                    self._kill()
                    attempts -= 1
                    if not attempts:
                        raise
            if self.auth:
                self._enable_auth()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self):
        self.client_port, self.peer_port, self.metrics_port = free_port(), free_port(), free_port()
        data_dir = os.path.join(self.workdir, 'data-%d' % self.client_port)
        peer_url = 'http://127.0.0.1:%d' % self.peer_port
        args = [ETCD_BINARY, '--name', 'test', '--data-dir', data_dir,
                '--listen-client-urls', self.endpoint, '--advertise-client-urls', self.endpoint,
                '--listen-peer-urls', peer_url, '--initial-advertise-peer-urls', peer_url,
                '--initial-cluster', 'test=' + peer_url, '--initial-cluster-state', 'new',
                '--initial-cluster-token', 'test-%d' % self.client_port,
                '--listen-metrics-urls', 'http://127.0.0.1:%d' % self.metrics_port,
                '--logger', 'zap', '--log-level', 'warn', '--bcrypt-cost', '4']
        if self.tls:
            args += ['--cert-file', self.pki['server_cert'], '--key-file', self.pki['server_key'],
                     '--trusted-ca-file', self.pki['ca']]
            if self.client_cert_auth:
                args += ['--client-cert-auth']
        self.log_path = os.path.join(self.workdir, 'etcd-%d.log' % self.client_port)
        self.process = _popen_etcd(args, self.log_path)
        _RUNNING.add(self)
        self._wait_healthy()

    def _ssl_context(self):
        context = ssl.create_default_context(cafile=self.pki['ca'])
        context.load_cert_chain(self.pki['client_cert'], self.pki['client_key'])
        return context

    def _wait_healthy(self):
        deadline = time.monotonic() + self.start_timeout
        context = self._ssl_context() if self.tls else None
        while True:
            if self.process.poll() is not None:
                raise EtcdStartError('etcd exited with %s: %s' % (self.process.returncode, self.log_tail()))
            if _healthy(self.endpoint, context):
                return
            if time.monotonic() > deadline:
                raise EtcdStartError('etcd did not become healthy within %.0fs: %s'
                                     % (self.start_timeout, self.log_tail()))
            time.sleep(0.05)

    def log_tail(self, lines=20):
        return _log_tail(getattr(self, 'log_path', None), lines)

    def etcdctl(self, *args, user=None, password=None):
        """Run ``etcdctl`` (v3 API) against this server; returns stdout."""
        cmd = [ETCDCTL_BINARY, '--endpoints', self.endpoint, '--command-timeout', '10s']
        if self.tls:
            cmd += ['--cacert', self.pki['ca'], '--cert', self.pki['client_cert'], '--key', self.pki['client_key']]
        if user:
            cmd += ['--user', '%s:%s' % (user, password)]
        env = dict(os.environ, ETCDCTL_API='3')
        result = subprocess.run(cmd + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=30, check=False)
        if result.returncode != 0:
            # Passwords are passed via --new-user-password and never echoed back here.
            raise RuntimeError('etcdctl %s failed: %s' % (args[0] if args else '', result.stderr.decode()))
        return result.stdout.decode()

    def _enable_auth(self):
        self.etcdctl('user', 'add', self.ROOT_USER, '--new-user-password=%s' % self.root_password)
        self.etcdctl('user', 'grant-role', self.ROOT_USER, 'root')
        self.etcdctl('role', 'add', self.LIMITED_ROLE)
        self.etcdctl('role', 'grant-permission', self.LIMITED_ROLE, '--prefix=true', 'readwrite', self.granted_prefix)
        self.etcdctl('user', 'add', self.LIMITED_USER, '--new-user-password=%s' % self.password)
        self.etcdctl('user', 'grant-role', self.LIMITED_USER, self.LIMITED_ROLE)
        self.etcdctl('auth', 'enable')

    def _kill(self):
        process, self.process = self.process, None
        _kill_group(process)

    def stop(self):
        self._kill()
        _RUNNING.discard(self)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None


# etcd refuses member add/remove ("unhealthy cluster") until its peers have been connected for
# its HealthInterval, 5 s; the members connect a little before they answer /health.
RECONFIG_SETTLE = 5.5


class EtcdMember(object):
    """One member of an :class:`EtcdCluster`: its pod name, ports, directory and process."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.client_port = self.peer_port = None
        self.process = None

    @property
    def directory(self):
        """``<cluster.directory>/<pod>``: the member's ``bin/``, ``data/`` and ``etcd.log``."""
        return os.path.join(self.cluster.directory, self.name)

    @property
    def bin_dir(self):
        return os.path.join(self.directory, 'bin')

    @property
    def etcdctl_path(self):
        return os.path.join(self.bin_dir, 'etcdctl')

    @property
    def data_dir(self):
        return os.path.join(self.directory, 'data')

    @property
    def log_path(self):
        return os.path.join(self.directory, 'etcd.log')

    @property
    def endpoint(self):
        return 'http://127.0.0.1:%d' % self.client_port

    @property
    def peer_url(self):
        return 'http://127.0.0.1:%d' % self.peer_port

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self):
        """The exit status once the process ended (None while it runs or before it started)."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines=20):
        return _log_tail(self.log_path, lines)

    def _write_wrapper(self):
        """``bin/etcdctl``: logs ``<pod> <args>``, then runs the real etcdctl against this member only."""
        os.makedirs(self.bin_dir, exist_ok=True)
        # env -i: the caller's ETCDCTL_* (or the pod's) must not leak in. ETCDCTL_ENDPOINTS stands
        # for the pod's default 127.0.0.1:2379; an explicit --endpoints of the caller overrides it.
        lines = ['#!/bin/sh',
                 '# etcdctl of the test member %s (%s); logs its argv' % (self.name, self.endpoint),
                 'printf "%%s\\n" %s >> %s' % (shlex.quote(self.name + ' ') + '"$*"',
                                               shlex.quote(self.cluster.argv_log)),
                 'exec env -i PATH=/usr/sbin:/usr/bin:/bin LANG=C.UTF-8 ETCDCTL_API=3 ETCDCTL_ENDPOINTS=%s %s "$@"'
                 % (shlex.quote(self.endpoint), shlex.quote(ETCDCTL_BINARY))]
        with open(self.etcdctl_path, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        os.chmod(self.etcdctl_path, 0o755)


class EtcdCluster(object):
    """A real multi-member etcd cluster on loopback, one member per pod name.

    ``EtcdCluster(['etcd-server-0', 'etcd-server-1', 'etcd-server-2'])`` starts one etcd per
    name (``--name <pod>``, plain HTTP, own client and peer ports, one ``--initial-cluster``
    of all, state ``new``, a unique cluster token) and waits until every member is healthy.
    Use as a context manager or call :meth:`start`/:meth:`stop`; :meth:`stop` kills every
    member still running and removes :attr:`directory`.

    Each member has ``<directory>/<pod>/bin/etcdctl`` (:meth:`bin_dir`), a wrapper that runs
    the real etcdctl (API 3) against that member only, with a clean environment, and appends
    ``<pod> <args>`` to :attr:`argv_log` (:meth:`argv`). :meth:`exec_rule` is the sandbox's pod
    exec rule that puts it first on ``PATH`` for ``etcd-server-*`` pods, so ``etcdctl`` run in
    pod ``etcd-server-N`` talks to member ``etcd-server-N``, as the default 127.0.0.1:2379 does
    in the real pod. The harness's own :meth:`etcdctl` calls are not logged.

    etcd refuses ``member add``/``remove`` for about 5 s after the members connect
    ("etcdserver: unhealthy cluster"): call :meth:`settle` before a test that reconfigures.
    """

    def __init__(self, names, base_dir=None, start_timeout=30.0):
        names = list(names)
        if not names or len(set(names)) != len(names):
            raise ValueError('EtcdCluster needs distinct member names, got %r' % (names,))
        self.names = names
        self.start_timeout = start_timeout
        self._base_dir = base_dir
        self.directory = None
        self.token = None
        self.healthy_at = None
        self.members = dict((name, EtcdMember(self, name)) for name in names)

    def __getitem__(self, name):
        return self.members[name]

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.directory = tempfile.mkdtemp(prefix='etcd-cluster-', dir=self._base_dir)
        try:
            attempts = 3
            while True:
                try:
                    self._spawn()
                    break
                except EtcdStartError:  # a port taken between probe and bind: try other ports
                    self._kill_all()
                    attempts -= 1
                    if not attempts:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self):
        ports = set()
        while len(ports) < 2 * len(self.names):
            ports.add(free_port())
        ports = sorted(ports)
        for member in self.members.values():
            member.client_port, member.peer_port = ports.pop(), ports.pop()
            shutil.rmtree(member.data_dir, ignore_errors=True)
            member._write_wrapper()
        self.token = 'etcd-cluster-%s' % secrets.token_hex(6)
        initial = ','.join('%s=%s' % (m.name, m.peer_url) for m in self._ordered())
        for member in self._ordered():
            args = [ETCD_BINARY, '--name', member.name, '--data-dir', member.data_dir,
                    '--listen-client-urls', member.endpoint, '--advertise-client-urls', member.endpoint,
                    '--listen-peer-urls', member.peer_url, '--initial-advertise-peer-urls', member.peer_url,
                    '--initial-cluster', initial, '--initial-cluster-state', 'new',
                    '--initial-cluster-token', self.token, '--logger', 'zap', '--log-level', 'warn']
            member.process = _popen_etcd(args, member.log_path)
            _RUNNING.add(self)
        self._wait_healthy()

    def _wait_healthy(self):
        deadline = time.monotonic() + self.start_timeout
        waiting = list(self._ordered())
        while waiting:
            for member in self._ordered():
                if member.process.poll() is not None:
                    raise EtcdStartError('etcd member %s exited with %s: %s'
                                         % (member.name, member.process.returncode, member.log_tail()))
            waiting = [m for m in waiting if not _healthy(m.endpoint)]
            if not waiting:
                self.healthy_at = time.monotonic()
                return
            if time.monotonic() > deadline:
                raise EtcdStartError('etcd members %s did not become healthy within %.0fs: %s' % (
                    ', '.join(m.name for m in waiting), self.start_timeout, waiting[0].log_tail()))
            time.sleep(0.05)

    def _kill_all(self):
        for member in self._ordered():
            process, member.process = member.process, None
            _kill_group(process)

    def stop(self):
        """Kill every member still running and remove :attr:`directory`."""
        self._kill_all()
        _RUNNING.discard(self)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def stop_member(self, name, sig=signal.SIGTERM, timeout=10):
        """Stop one member (SIGTERM by default) and wait for it; returns its exit status."""
        process = self.members[name].process
        if process is None:
            return None
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        return process.wait(timeout=timeout)

    def settle(self, seconds=RECONFIG_SETTLE):
        """Sleep until ``seconds`` after every member became healthy, so ``member add/remove`` is accepted.

        etcd's strict reconfiguration check (on by default) answers "etcdserver: unhealthy cluster"
        until the members have been connected to each other for 5 s (its HealthInterval).
        """
        left = self.healthy_at + seconds - time.monotonic()
        if left > 0:
            time.sleep(left)

    def wait_exit(self, name, timeout=30):
        """Wait until member ``name`` exits by itself; returns its exit status (TimeoutExpired if not)."""
        return self.members[name].process.wait(timeout=timeout)

    # -- what tests use ------------------------------------------------------------------
    def _ordered(self):
        return [self.members[name] for name in self.names]

    def bin_dir(self, name):
        """``<directory>/<name>/bin``: holds the ``etcdctl`` wrapper of member ``name``."""
        return self.members[name].bin_dir

    @property
    def argv_log(self):
        return os.path.join(self.directory, 'argv.log')

    def argv(self):
        """Every ``<pod> <args>`` line the wrappers logged, in order."""
        try:
            with open(self.argv_log) as handle:
                return handle.read().splitlines()
        except (FileNotFoundError, TypeError):
            return []

    def exec_rule(self, namespace, container='server'):
        """The sandbox pod exec rule: ``etcdctl`` in pod ``etcd-server-N`` reaches member ``etcd-server-N``."""
        return {'namespace': namespace, 'name': 'etcd-server-*', 'container': container, 'mode': 'local',
                'workdir': self.directory, 'timeout': 60,
                'env': {'PATH': self.directory + '/{pod}/bin:' + os.environ['PATH']}}

    def pod_exec(self, name, command, timeout=60):
        """``/bin/sh -c command`` as the sandbox runs it in pod ``name`` (wrapper first on PATH)."""
        env = dict(os.environ, PATH=self.bin_dir(name) + ':' + os.environ['PATH'])
        return subprocess.run(['/bin/sh', '-c', command], cwd=self.directory, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout, check=False)

    def running(self, name):
        """Is the etcd process of member ``name`` alive?"""
        return self.members[name].running

    def endpoint(self, name):
        return self.members[name].endpoint

    @property
    def endpoints(self):
        """Client URLs of the members whose process runs, in name order."""
        return [m.endpoint for m in self._ordered() if m.running]

    def _running_member(self, name=None):
        if name is not None:
            return self.members[name]
        for member in self._ordered():
            if member.running:
                return member
        raise RuntimeError('no etcd member of the cluster is running')

    def etcdctl(self, *args, name=None, check=True, timeout=30):
        """Run etcdctl (API 3) against member ``name`` (default: the first running one), not logged.

        Returns the CompletedProcess (text); with ``check`` a non-zero exit raises RuntimeError.
        """
        member = self._running_member(name)
        env = {'PATH': '/usr/sbin:/usr/bin:/bin', 'LANG': 'C.UTF-8', 'ETCDCTL_API': '3'}
        result = subprocess.run([ETCDCTL_BINARY, '--endpoints', member.endpoint] + list(args), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError('etcdctl %s (%s) failed with %d: %s'
                               % (' '.join(args), member.name, result.returncode, result.stderr))
        return result

    def member_list_json(self, name=None):
        """``etcdctl member list -w json`` parsed whole (``header`` and ``members``), from member
        ``name`` or the first running member."""
        return json.loads(self.etcdctl('member', 'list', '-w', 'json', name=name).stdout)

    def members_list(self, name=None):
        """The ``members`` of ``etcdctl member list -w json``: dicts with ``ID`` (an int), ``name``,
        ``peerURLs``, ``clientURLs`` (a member added but never started has no ``name``/``clientURLs``)."""
        return self.member_list_json(name)['members']

    def member_ids(self, name=None):
        """{member name: hex ID as ``etcdctl member remove`` takes it} of the started members."""
        return dict((m['name'], '%x' % m['ID']) for m in self.members_list(name) if m.get('name'))

    def health(self):
        """{name: True/False}: does each member answer ``/health`` with a leader (False when stopped)."""
        return dict((m.name, m.running and _healthy(m.endpoint)) for m in self._ordered())

    def client(self, name=None, timeout=10):
        """A raw ``pyetcd`` client (the library of :meth:`EtcdServer.client`) to member ``name``."""
        import pyetcd
        return pyetcd.client(host='127.0.0.1', port=self._running_member(name).client_port, timeout=timeout)

    def put(self, key, value, name=None):
        with self.client(name) as cli:
            cli.put(key, value)

    def get(self, key, name=None):
        """The value of ``key`` as str (None when absent), read (linearizable) through member ``name``."""
        with self.client(name) as cli:
            value, _meta = cli.get(key)
        return None if value is None else value.decode()
