# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one adapter between the collection and etcd (v3 gRPC API).

It uses the generated protobuf stubs of ``etcd-sdk-python`` (``pyetcd.etcdrpc``) over a
``grpc`` channel it builds itself, because the package's convenience client hides the
two things this collection needs: the revision of a range read, and compares on
``mod_revision`` over a key range inside a transaction. The adapter

* connects to the first reachable of ``endpoints`` (http or https; TLS with a CA and an
  optional client certificate; user/password auth with one token);
* reads a whole prefix at one revision (paged, every page pinned to the same revision);
* applies puts and deletes in transactions of at most ``max_txn_ops`` operations, each
  guarded by the ``mod_revision`` every touched key had when it was read (0: absent), the
  first also by "no key under the prefix changed since the read";
* counts the requests it makes (``requests``) and the keys it writes (``writes``);
* raises :class:`EtcdError` with a message that names the endpoint, the user or the keys
  involved and what to do; the password never appears in a message.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

try:
    from urllib.parse import urlparse
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urlparse import urlparse

try:
    import grpc
    from pyetcd import etcdrpc
    HAS_ETCD = True
    ETCD_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by the import sanity test
    HAS_ETCD = False
    ETCD_IMPORT_ERROR = exc

ETCD_LIBRARY = 'etcd-sdk-python'
DEFAULT_MAX_TXN_OPS = 128          # etcd's --max-txn-ops default
MAX_TXN_BYTES = 1024 * 1024         # stay under etcd's 1.5 MiB --max-request-bytes default
RANGE_PAGE = 5000
GRPC_OPTIONS = [('grpc.max_receive_message_length', 64 * 1024 * 1024),
                ('grpc.max_send_message_length', 16 * 1024 * 1024),
                ('grpc.enable_retries', 0)]

ETCD_CONNECTION_SPEC = dict(
    endpoints=dict(type='list', elements='str', required=True),
    ca_cert=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=False),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    timeout=dict(type='float', default=10),
)
# The ``etcd`` option of the modules that read the config tree (doc fragment ``etcd_tree``).
ETCD_TREE_SPEC = dict(ETCD_CONNECTION_SPEC, prefix=dict(type='str', default='/openstack'))


class EtcdError(Exception):
    """An etcd request failed; ``message`` says which endpoint/user/keys and what to do."""

    def __init__(self, message, code=None):
        super(EtcdError, self).__init__(message)
        self.message = message
        self.code = code


class EtcdConflictError(EtcdError):
    """A guarded transaction found keys changed by another writer after our read."""

    def __init__(self, message, keys, applied):
        super(EtcdConflictError, self).__init__(message, code='conflict')
        self.keys = keys
        self.applied = applied


def range_end(prefix):
    """The etcd range end that covers every key starting with ``prefix`` (bytes)."""
    end = bytearray(prefix)
    for index in range(len(end) - 1, -1, -1):
        if end[index] < 0xff:
            end[index] += 1
            return bytes(end[:index + 1])
    return b'\x00'


def parse_endpoints(endpoints):
    """[(scheme, 'host:port')] from URLs; raises EtcdError naming a bad one."""
    if not endpoints:
        raise EtcdError('endpoints is empty; give at least one etcd URL such as https://etcd.openstack.svc:2379')
    parsed = []
    for url in endpoints:
        result = urlparse(str(url).strip())
        if result.scheme not in ('http', 'https') or not result.hostname:
            raise EtcdError('endpoint %r is not an http:// or https:// URL (e.g. https://etcd:2379)' % (url,))
        if result.path not in ('', '/'):
            raise EtcdError('endpoint %r has a path; give only scheme://host:port' % (url,))
        try:
            port = result.port or 2379
        except ValueError:
            raise EtcdError('endpoint %r has an invalid port' % (url,))
        host = result.hostname
        if ':' in host:
            host = '[%s]' % host
        parsed.append((result.scheme, '%s:%d' % (host, port)))
    schemes = set(scheme for scheme, _target in parsed)
    if len(schemes) > 1:
        raise EtcdError('endpoints mix http and https (%s); use one scheme for all' % ', '.join(endpoints))
    return parsed


def _read_file(path, what):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise EtcdError('cannot read %s %s: %s' % (what, path, exc.strerror or exc))


class EtcdClient(object):
    """A connection to one etcd cluster. Use as a context manager (closes the channel)."""

    def __init__(self, endpoints, ca_cert=None, client_cert=None, client_key=None, username=None,
                 password=None, timeout=10, max_txn_ops=DEFAULT_MAX_TXN_OPS):
        self.endpoints = parse_endpoints(endpoints)
        self.secure = self.endpoints[0][0] == 'https'
        if bool(client_cert) != bool(client_key):
            raise EtcdError('client_cert and client_key go together; set both or neither')
        if not self.secure and (ca_cert or client_cert):
            raise EtcdError('ca_cert/client_cert are set but the endpoints are http://; use https:// endpoints for TLS')
        if bool(username) != bool(password):
            raise EtcdError('username and password go together; set both or neither')
        if max_txn_ops < 2:
            raise EtcdError('max_txn_ops must be at least 2, got %d' % max_txn_ops)
        self.username = username
        self._password = password
        self.timeout = float(timeout)
        self.max_txn_ops = int(max_txn_ops)
        self._credentials = None
        if self.secure:
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_file(ca_cert, 'ca_cert') if ca_cert else None,
                private_key=_read_file(client_key, 'client_key') if client_key else None,
                certificate_chain=_read_file(client_cert, 'client_cert') if client_cert else None)
        self._current = 0
        self._channel = None
        self._kv = None
        self._metadata = None
        self.requests = {}
        self.writes = 0

    # -- connection ------------------------------------------------------------------------
    @property
    def endpoint(self):
        scheme, target = self.endpoints[self._current]
        return '%s://%s' % (scheme, target)

    def _connect(self):
        if self._channel is None:
            target = self.endpoints[self._current][1]
            if self.secure:
                self._channel = grpc.secure_channel(target, self._credentials, options=GRPC_OPTIONS)
            else:
                self._channel = grpc.insecure_channel(target, options=GRPC_OPTIONS)
            self._kv = etcdrpc.KVStub(self._channel)
            if self.username and self._metadata is None:
                self._authenticate()
        return self._kv

    def _authenticate(self):
        """Log in once per channel; raises grpc.RpcError (translated by the caller)."""
        self._count('Authenticate')
        stub = etcdrpc.AuthStub(self._channel)
        request = etcdrpc.AuthenticateRequest(name=self.username, password=self._password)
        response = stub.Authenticate(request, timeout=self.timeout)
        self._metadata = (('token', response.token),)

    def _next_endpoint(self):
        self.close()
        self._current = (self._current + 1) % len(self.endpoints)

    def close(self):
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._kv = None
        self._metadata = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _count(self, name):
        self.requests[name] = self.requests.get(name, 0) + 1

    def _call(self, name, request, idempotent):
        """Send one KV request; fail over to the next endpoint when unreachable (reads only)."""
        tried = 0
        reauthenticated = False
        while True:
            operation = name
            try:
                operation = 'authenticate'
                stub = self._connect()
                operation = name
                self._count(name)
                return getattr(stub, name)(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                details = exc.details() or ''
                if self.username and not reauthenticated and 'invalid auth token' in details:
                    # Simple tokens expire after --auth-token-ttl of idleness: log in again once.
                    reauthenticated = True
                    self.close()
                    continue
                tried += 1
                # Authenticating and reading are safe to send again elsewhere; a write is not.
                if ((idempotent or operation == 'authenticate')
                        and code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                        and tried < len(self.endpoints)):
                    self._next_endpoint()
                    continue
                raise self._translate(exc, operation)

    def _translate(self, exc, operation):
        code = exc.code()
        details = exc.details() or str(code)
        who = 'user %s' % self.username if self.username else 'an anonymous client'
        if code == grpc.StatusCode.UNAVAILABLE:
            hint = ('; check the endpoint URL, that etcd serves %s there, and ca_cert/client_cert/client_key'
                    % ('TLS' if self.secure else 'plain http'))
            return EtcdError('etcd at %s is unreachable (%s)%s' % (self.endpoint, details, hint), code='unreachable')
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return EtcdError('etcd at %s did not answer %s within %.1fs; raise timeout or check the cluster health'
                             % (self.endpoint, operation, self.timeout), code='timeout')
        if 'authentication failed' in details or code == grpc.StatusCode.UNAUTHENTICATED:
            return EtcdError('etcd at %s refused the credentials of %s (%s); check username and password'
                             % (self.endpoint, who, details), code='auth')
        if 'user name is empty' in details or 'user name not found' in details:
            return EtcdError('etcd at %s requires authentication (%s); set username and password' % (self.endpoint, details),
                             code='auth')
        if code == grpc.StatusCode.PERMISSION_DENIED and not self.username:
            return EtcdError('etcd at %s denied %s to an anonymous client (%s); the cluster requires authentication: '
                             'set username and password' % (self.endpoint, operation, details), code='auth')
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return EtcdError('etcd at %s denied %s to %s (%s); grant the user a role with readwrite on the prefix'
                             % (self.endpoint, operation, who, details), code='permission')
        if 'too many operations in txn' in details:
            return EtcdError('etcd at %s refused a transaction of %d operations (%s); set max_txn_ops to the '
                             "server's --max-txn-ops" % (self.endpoint, self.max_txn_ops, details), code='txn_size')
        return EtcdError('etcd %s at %s failed: %s (%s)' % (operation, self.endpoint, details, code.name), code='error')

    # -- reads -----------------------------------------------------------------------------
    def read_prefix(self, prefix):
        """({key: (value, mod_revision)}, revision) of every key starting with ``prefix`` at one revision."""
        start = prefix.encode('utf-8')
        end = range_end(start)
        revision = 0
        found = {}
        key = start
        while True:
            request = etcdrpc.RangeRequest(key=key, range_end=end, limit=RANGE_PAGE, revision=revision)
            response = self._call('Range', request, idempotent=True)
            if not revision:
                revision = response.header.revision
            for kv in response.kvs:
                # surrogateescape: a non-UTF-8 key written by someone else still round-trips to a delete.
                found[kv.key.decode('utf-8', 'surrogateescape')] = (kv.value.decode('utf-8', 'replace'), kv.mod_revision)
            if not response.more or not response.kvs:
                return found, revision
            key = response.kvs[-1].key + b'\x00'

    def revision(self):
        """The cluster's current revision (one cheap range read)."""
        request = etcdrpc.RangeRequest(key=b'\x00', count_only=True, limit=1)
        return self._call('Range', request, idempotent=True).header.revision

    # -- writes ----------------------------------------------------------------------------
    def _chunks(self, operations):
        """Split operations so every transaction stays under the op and byte limits.

        One compare slot per chunk is kept for the prefix guard.
        """
        limit = self.max_txn_ops - 1
        chunk, size = [], 0
        for operation in operations:
            weight = len(operation[1]) + len(operation[2] or b'') + 64
            if chunk and (len(chunk) >= limit or size + weight > MAX_TXN_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(operation)
            size += weight
        if chunk:
            yield chunk

    def apply(self, prefix, puts, deletes, observed, revision):
        """Write ``puts`` {key: value} and delete ``deletes`` [key] (full keys), guarded.

        ``observed`` is {key: mod_revision} from :meth:`read_prefix` at ``revision``. Returns
        the revision after the last transaction. Raises :class:`EtcdConflictError` when
        another writer changed a touched key (or, before the first transaction, any key
        under ``prefix``) since the read; nothing of the failing transaction is written.
        """
        operations = [('put', key.encode('utf-8', 'surrogateescape'), puts[key].encode('utf-8')) for key in sorted(puts)]
        operations += [('delete', key.encode('utf-8', 'surrogateescape'), None) for key in sorted(deletes)]
        start = prefix.encode('utf-8')
        applied = []
        last_revision = revision
        for index, chunk in enumerate(self._chunks(operations)):
            compares = []
            if index == 0:
                compares.append(etcdrpc.Compare(result=etcdrpc.Compare.LESS, target=etcdrpc.Compare.MOD, key=start,
                                                range_end=range_end(start), mod_revision=revision + 1))
            success = []
            for kind, key, value in chunk:
                compares.append(etcdrpc.Compare(result=etcdrpc.Compare.EQUAL, target=etcdrpc.Compare.MOD, key=key,
                                                mod_revision=observed.get(key.decode('utf-8', 'surrogateescape'), 0)))
                if kind == 'put':
                    success.append(etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=key, value=value)))
                else:
                    success.append(etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(key=key)))
            response = self._call('Txn', etcdrpc.TxnRequest(compare=compares, success=success), idempotent=False)
            if not response.succeeded:
                raise self._conflict(prefix, observed, revision, applied, len(operations))
            self.writes += len(chunk)
            applied.extend(key.decode('utf-8', 'surrogateescape') for _kind, key, _value in chunk)
            last_revision = response.header.revision
        return last_revision

    def _conflict(self, prefix, observed, revision, applied, planned):
        current, now = self.read_prefix(prefix)
        ours = set(applied)
        changed = sorted(key for key in set(current) | set(observed)
                         if key not in ours and current.get(key, (None, 0))[1] != observed.get(key, 0))
        shown = ', '.join(changed[:10]) + (' ...' if len(changed) > 10 else '')
        message = ('another writer changed keys under %s after this run read them at revision %d (now %d): %s. '
                   'The conflicting transaction was not applied (%d of %d planned writes were applied before it); '
                   'nothing was overwritten. Re-run to reconcile with the other change.'
                   % (prefix, revision, now, shown or 'unknown keys', len(applied), planned))
        return EtcdConflictError(message, changed, applied)
