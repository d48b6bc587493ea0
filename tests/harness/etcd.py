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
"""

import atexit
import ctypes
import os
import re
import secrets
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
        log = open(self.log_path, 'wb')
        try:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            log.close()
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
            try:
                with urllib.request.urlopen(self.endpoint + '/health', timeout=2, context=context) as response:
                    if b'true' in response.read():
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise EtcdStartError('etcd did not become healthy within %.0fs: %s' % (self.start_timeout, self.log_tail()))
            time.sleep(0.05)

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, 'rb') as handle:
                return b'\n'.join(handle.read().splitlines()[-lines:]).decode('utf-8', 'replace')
        except (OSError, AttributeError):
            return ''

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

    def stop(self):
        self._kill()
        _RUNNING.discard(self)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None
