# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one adapter between the collection and the Kubernetes API.

Every module that talks to Kubernetes builds a :class:`K8sClient` from the options of
the ``k8s_connection`` doc fragment (:data:`K8S_CONNECTION_SPEC`). The client

* connects through a kubeconfig/context, an explicit host and token, or in-cluster;
* retries what is safe to retry (429, 5xx, dropped connections) with exponential
  backoff, honouring ``Retry-After``, and never retries a 409 blindly: one
  :class:`RetryPolicy` for every request it makes, discovery, watches and the opening
  of pod exec streams (:mod:`podexec`) included;
* returns plain dicts, never client objects, and raises :class:`K8sError` carrying the
  HTTP status, the Status ``reason`` and message, so callers can report them;
* counts the requests it makes by verb, which modules return for benchmarks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import random
import time

from ansible.module_utils.six.moves.urllib.parse import parse_qsl, urlsplit

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError, ServiceUnavailableError
    from kubernetes.watch.watch import iter_resp_lines
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by the import sanity test
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

try:
    # websocket-client, a dependency of kubernetes: the transport of pod exec.
    from websocket import WebSocketBadStatusException, WebSocketException
except ImportError:  # pragma: no cover
    WebSocketBadStatusException = WebSocketException = None

K8S_CONNECTION_SPEC = dict(
    kubeconfig=dict(type='path'),
    context=dict(type='str'),
    host=dict(type='str'),
    api_key=dict(type='str', no_log=True),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert']),
    validate_certs=dict(type='bool', aliases=['verify_ssl']),
    api_timeout=dict(type='float', default=20),
    api_retries=dict(type='int', default=5),
)

_ENV_FALLBACKS = dict(
    kubeconfig='K8S_AUTH_KUBECONFIG',
    context='K8S_AUTH_CONTEXT',
    host='K8S_AUTH_HOST',
    api_key='K8S_AUTH_API_KEY',
    ca_cert='K8S_AUTH_SSL_CA_CERT',
    validate_certs='K8S_AUTH_VERIFY_SSL',
)

RETRYABLE_STATUSES = frozenset([429, 500, 502, 503, 504])
# Backoff without Retry-After: FIRST_BACKOFF * 2**(attempt-1), at most MAX_BACKOFF, times a
# jitter in [0.5, 1.5); a Retry-After the server sends is waited as given, up to MAX_RETRY_AFTER.
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 30.0
APPLY_CONTENT_TYPE = 'application/apply-patch+yaml'
MERGE_PATCH = 'application/merge-patch+json'
STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json'
JSON_PATCH = 'application/json-patch+json'


class K8sError(Exception):
    """An API call failed. ``status`` is the HTTP code (0 when the server was unreachable)."""

    def __init__(self, message, status=0, reason=None, body=None, attempts=1):
        super(K8sError, self).__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.body = body or {}
        self.attempts = attempts

    @property
    def causes(self):
        return (self.body.get('details') or {}).get('causes') or []


def _parse_status_body(raw):
    if not raw:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    try:
        body = json.loads(raw)
    except ValueError:
        return {'message': raw}
    return body if isinstance(body, dict) else {'message': raw}


def _retry_after(headers):
    if not headers:
        return None
    value = headers.get('Retry-After') or headers.get('retry-after')
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def _env_bool(value):
    if isinstance(value, bool) or value is None:
        return value
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


def _websocket_failure(exc):
    """The handshake error behind an ApiException(status=0) of ``kubernetes.stream``, or None.

    The exec transport wraps every failure of the websocket handshake in an ApiException
    with status 0 and the original error as its context: a refused upgrade carries the
    HTTP status and headers (Retry-After), a cut connection is an OSError or a
    WebSocketException.
    """
    context = exc.__cause__ or exc.__context__
    if context is None:
        return None
    if WebSocketBadStatusException is not None and isinstance(context, WebSocketBadStatusException):
        return int(getattr(context, 'status_code', 0) or 0), getattr(context, 'resp_headers', None), \
            getattr(context, 'resp_body', None)
    if isinstance(context, OSError) or (WebSocketException is not None and isinstance(context, WebSocketException)):
        return 0, None, None
    return None


def request_failure(exc):
    """What a request's exception means: ``(K8sError, retryable, retry_after seconds or None)``.

    Retryable: 429, 500, 502, 503, 504 and connections refused, reset or cut before an
    answer. Anything else (4xx, a 409 conflict included) is final. None when ``exc`` is
    not an error of the HTTP client (a bug, to be raised as it is).
    """
    if isinstance(exc, ApiException):
        status = int(getattr(exc, 'status', 0) or 0)
        headers, raw = getattr(exc, 'headers', None), getattr(exc, 'body', None)
        if status == 0:
            handshake = _websocket_failure(exc)
            if handshake is None:
                # A failure of the client itself, not an answer: reported, never retried.
                return K8sError(str(getattr(exc, 'reason', None) or exc), status=0), False, None
            status, headers, raw = handshake
            if status == 0:
                return (K8sError('Kubernetes API unreachable: %s' % (getattr(exc, 'reason', None) or exc),
                                 status=0, reason='Unreachable'), True, None)
        body = _parse_status_body(raw)
        reason = body.get('reason') or getattr(exc, 'reason', None)
        message = body.get('message') or str(getattr(exc, 'reason', '') or exc)
        return K8sError(message, status=status, reason=reason, body=body), status in RETRYABLE_STATUSES, \
            _retry_after(headers)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return K8sError('Kubernetes API unreachable: %s' % exc, status=0, reason='Unreachable'), True, None
    return None


class RetryPolicy(object):
    """The one retry policy of every request to the Kubernetes API.

    :meth:`run` calls a request function; a transient failure (:func:`request_failure`) is
    tried again up to ``retries`` more times, after the ``Retry-After`` the server asked for
    (capped at MAX_RETRY_AFTER) or an exponential backoff with jitter; a final failure, or
    the last transient one, raises :class:`K8sError` with the number of attempts.
    ``sleep`` and ``rng`` are injectable so tests can run it without waiting.
    """

    def __init__(self, retries=5, sleep=time.sleep, rng=None):
        self.retries = int(retries)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.retried = 0

    def delay(self, attempt, retry_after=None):
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        if retry_after is None:
            retry_after = min(MAX_BACKOFF, FIRST_BACKOFF * (2 ** (attempt - 1))) * (0.5 + self.rng.random())
        return min(retry_after, MAX_RETRY_AFTER)

    def run(self, func, args=(), kwargs=None, on_attempt=None):
        """``func(*args, **kwargs)`` with retries; ``on_attempt()`` is called before each attempt."""
        attempt = 0
        while True:
            attempt += 1
            if on_attempt is not None:
                on_attempt()
            try:
                return func(*args, **(kwargs or {}))
            except _REQUEST_ERRORS as exc:
                failure = request_failure(exc)
                if failure is None:
                    raise
                error, retryable, retry_after = failure
                if not retryable or attempt > self.retries:
                    error.attempts = attempt
                    raise error
            self.retried += 1
            self.sleep(self.delay(attempt, retry_after))


def connection_params(params):
    """The connection options of ``params`` with the K8S_AUTH_* environment applied."""
    resolved = {}
    for name in K8S_CONNECTION_SPEC:
        value = params.get(name)
        if value is None and name in _ENV_FALLBACKS:
            value = os.environ.get(_ENV_FALLBACKS[name])
        resolved[name] = value
    resolved['validate_certs'] = _env_bool(resolved['validate_certs'])
    if resolved['api_timeout'] is None:
        resolved['api_timeout'] = 20.0
    if resolved['api_retries'] is None:
        resolved['api_retries'] = 5
    return resolved


def build_api_client(params):
    """An authenticated ``kubernetes.client.ApiClient`` for the given connection options."""
    conn = connection_params(params)
    configuration = k8s_client.Configuration()
    kubeconfig = conn['kubeconfig']
    loaded = False
    if kubeconfig or not conn['host']:
        candidate = kubeconfig or os.environ.get('KUBECONFIG') or os.path.expanduser('~/.kube/config')
        if kubeconfig and not os.path.exists(os.path.expanduser(kubeconfig)):
            raise K8sError('kubeconfig %s does not exist; set kubeconfig to the file of your cluster '
                           '(or host and api_key for a direct connection)' % kubeconfig)
        if candidate and os.path.exists(os.path.expanduser(candidate.split(os.pathsep)[0])):
            try:
                k8s_config.load_kube_config(config_file=os.path.expanduser(candidate.split(os.pathsep)[0]),
                                            context=conn['context'], client_configuration=configuration,
                                            persist_config=False)
            except k8s_config.ConfigException as exc:
                raise K8sError('cannot use kubeconfig %s (context %s): %s' % (candidate, conn['context'] or 'current', exc))
            loaded = True
        elif not conn['host']:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
                loaded = True
            except k8s_config.ConfigException:
                raise K8sError('no Kubernetes connection configured: set kubeconfig (and context), '
                               'or host and api_key, or run inside a cluster')
    if conn['host']:
        configuration.host = conn['host'].rstrip('/')
    if conn['api_key']:
        configuration.api_key = {'authorization': 'Bearer ' + conn['api_key']}
    if conn['ca_cert']:
        configuration.ssl_ca_cert = conn['ca_cert']
    if conn['validate_certs'] is not None:
        configuration.verify_ssl = conn['validate_certs']
    if not loaded and not conn['host']:
        raise K8sError('no Kubernetes API host configured')
    # Retries are ours (with Retry-After); urllib3 must not retry behind our back.
    configuration.retries = False
    api_client = k8s_client.ApiClient(configuration)
    _bound_request_time(api_client.rest_client, float(conn['api_timeout']))
    return api_client


def _bound_request_time(rest_client, timeout):
    """Give every request without its own timeout one: ``kubernetes.dynamic`` discovery sets none,
    so a server that accepts the connection and never answers would hang the run for ever.
    A watch keeps reading for as long as the server was asked to hold it (timeoutSeconds), plus
    ``timeout``; without timeoutSeconds only its connection is bounded.
    """
    request = rest_client.request

    def bounded(method, url, *args, **kwargs):
        if not kwargs.get('_request_timeout') and len(args) < 4:
            query = dict(parse_qsl(urlsplit(url).query))
            if query.get('watch', '').lower() in ('true', '1'):
                held = query.get('timeoutSeconds')
                kwargs['_request_timeout'] = (timeout, float(held) + timeout if held else None)
            else:
                kwargs['_request_timeout'] = (timeout, timeout)
        return request(method, url, *args, **kwargs)

    rest_client.request = bounded


if HAS_KUBERNETES:
    _REQUEST_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)

    class StrictDynamicClient(DynamicClient):
        """``DynamicClient`` whose discovery does not swallow a 503.

        The library's discovery reads a group's resource list and, on 503 ServiceUnavailable,
        goes on with an empty list: the kind then looks unserved (``ResourceNotFoundError``,
        read as "the API server does not serve ...") instead of being retried. Here the 503
        comes out as an error of the same status that is no ``ServiceUnavailableError``, so
        the retry policy retries it like any other 503.
        """

        def request(self, method, path, body=None, **params):
            try:
                return super(StrictDynamicClient, self).request(method, path, body=body, **params)
            except ServiceUnavailableError as exc:
                raise _Unavailable(exc)

    class _Unavailable(ApiException):
        """A 503 that discovery must not take for an empty answer."""

        def __init__(self, exc):
            super(_Unavailable, self).__init__(status=exc.status, reason=exc.reason)
            self.body = exc.body
            self.headers = exc.headers
else:  # pragma: no cover
    _REQUEST_ERRORS = (OSError,)
    StrictDynamicClient = None


class K8sClient(object):
    """Plain-dict access to any kind through discovery, with bounded retries.

    ``sleep`` and ``rng`` are injectable so tests can run the retry logic without waiting.
    """

    def __init__(self, params, sleep=time.sleep, rng=None):
        conn = connection_params(params)
        self.timeout = float(conn['api_timeout'])
        self.retries = int(conn['api_retries'])
        self.policy = RetryPolicy(self.retries, sleep, rng)
        self.requests = {}
        self._api_client = build_api_client(params)
        self._dynamic = None
        self._resources = {}

    @property
    def retried(self):
        """How many attempts were made again after a transient failure."""
        return self.policy.retried

    def fork(self):
        """A client for another thread: same connection, discovery and resource cache, own counters.

        Resolve the kinds the thread uses (:meth:`resource`) before forking so the threads
        only read the shared cache.
        """
        twin = K8sClient.__new__(K8sClient)
        twin.timeout = self.timeout
        twin.retries = self.retries
        twin.policy = RetryPolicy(self.retries, self.policy.sleep, random.Random(self.policy.rng.random()))
        twin.requests = {}
        twin._api_client = self._api_client
        twin._dynamic = self.dynamic
        twin._resources = self._resources
        return twin

    # -- plumbing ---------------------------------------------------------------------
    def _count(self, verb):
        self.requests[verb] = self.requests.get(verb, 0) + 1

    def _call(self, verb, func, *args, **kwargs):
        """Run one API call through the retry policy; returns its result or raises K8sError."""
        return self.policy.run(func, args, kwargs, on_attempt=lambda: self._count(verb))

    @property
    def dynamic(self):
        if self._dynamic is None:
            # Building it reads /version and /apis (or the discovery cache file).
            self._dynamic = self._call('discovery', StrictDynamicClient, self._api_client)
        return self._dynamic

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self._resources:
            try:
                self._resources[key] = self._call('discovery', self.dynamic.resources.get, api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                # Discovery may be stale (a CRD created a moment ago): refresh once.
                self._call('discovery', self.dynamic.resources.invalidate_cache)
                try:
                    self._resources[key] = self._call('discovery', self.dynamic.resources.get, api_version=api_version, kind=kind)
                except ResourceNotFoundError:
                    raise K8sError('the API server does not serve %s %s' % (api_version, kind), status=404, reason='NotFound')
        return self._resources[key]

    @staticmethod
    def _to_dict(obj):
        if obj is None:
            return None
        if hasattr(obj, 'to_dict'):
            return obj.to_dict()
        return obj

    def _kw(self, dry_run=False, **extra):
        kwargs = dict(_request_timeout=self.timeout)
        if dry_run:
            kwargs['dry_run'] = 'All'
        kwargs.update(dict((k, v) for k, v in extra.items() if v is not None))
        return kwargs

    def _ns(self, resource, namespace):
        return namespace if resource.namespaced else None

    # -- reads ------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        """The object as a dict, or None when it does not exist."""
        res = self.resource(api_version, kind)
        try:
            return self._to_dict(self._call('get', res.get, name=name, namespace=self._ns(res, namespace), **self._kw()))
        except K8sError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        """(items, resourceVersion) of a list call."""
        res = self.resource(api_version, kind)
        result = self._to_dict(self._call('list', res.get, namespace=self._ns(res, namespace),
                                          **self._kw(label_selector=label_selector, field_selector=field_selector)))
        items = result.get('items') or []
        for item in items:
            item.setdefault('apiVersion', api_version)
            item.setdefault('kind', kind)
        return items, (result.get('metadata') or {}).get('resourceVersion')

    def watch(self, api_version, kind, namespace=None, name=None, label_selector=None,
              resource_version=None, timeout=None):
        """Yield (event_type, object_dict) until the stream ends.

        Opening the stream goes through the retry policy like any request (5xx, 429 after
        its Retry-After, a connection refused or cut before the answer). Once open, the
        stream ends without an error when the server closes it (``timeout`` seconds), when
        the connection is cut, or when the server sends an ERROR event that is transient
        (410 Expired: the resourceVersion is too old; 429, 5xx): the caller then reads the
        object afresh (a retried request) and watches again from there. Any other ERROR
        event, and an opening that failed for good, raise :class:`K8sError`.
        """
        res = self.resource(api_version, kind)
        field_selector = 'metadata.name=%s' % name if name else None
        response = self._call('watch', res.get, namespace=self._ns(res, namespace), watch=True, serialize=False,
                              label_selector=label_selector, field_selector=field_selector,
                              resource_version=resource_version, timeout_seconds=int(timeout) if timeout else None)
        try:
            for line in iter_resp_lines(response):
                try:
                    event = json.loads(line) if line.strip() else None
                except ValueError:
                    return
                if not isinstance(event, dict):
                    continue
                obj = event.get('object') if isinstance(event.get('object'), dict) else {}
                if event.get('type') == 'ERROR':
                    code = int(obj.get('code') or 0)
                    if code == 410 or code in RETRYABLE_STATUSES:
                        return
                    raise K8sError(obj.get('message') or 'watch on %s %s failed' % (api_version, kind),
                                   status=code, reason=obj.get('reason'), body=obj)
                yield event.get('type'), obj
        except (urllib3.exceptions.HTTPError, OSError):
            # The connection was cut mid-stream: as if the stream ended.
            return
        finally:
            response.close()
            response.release_conn()

    # -- writes -----------------------------------------------------------------------
    def apply(self, manifest, field_manager, force=False, dry_run=False):
        """Server-side apply ``manifest``; returns the object as the server has it now."""
        res = self.resource(manifest['apiVersion'], manifest['kind'])
        meta = manifest.get('metadata') or {}
        return self._to_dict(self._call('apply', self.dynamic.server_side_apply, res, body=manifest, name=meta.get('name'),
                                        namespace=self._ns(res, meta.get('namespace')),
                                        **self._kw(dry_run, field_manager=field_manager, force_conflicts=force or None)))

    def create(self, manifest, dry_run=False, field_manager=None):
        res = self.resource(manifest['apiVersion'], manifest['kind'])
        meta = manifest.get('metadata') or {}
        return self._to_dict(self._call('create', res.create, body=manifest, namespace=self._ns(res, meta.get('namespace')),
                                        **self._kw(dry_run, field_manager=field_manager)))

    def replace(self, manifest, dry_run=False, field_manager=None):
        res = self.resource(manifest['apiVersion'], manifest['kind'])
        meta = manifest.get('metadata') or {}
        return self._to_dict(self._call('update', res.replace, body=manifest, name=meta.get('name'),
                                        namespace=self._ns(res, meta.get('namespace')),
                                        **self._kw(dry_run, field_manager=field_manager)))

    def patch(self, api_version, kind, name, patch, namespace=None, patch_type=MERGE_PATCH, dry_run=False, field_manager=None):
        res = self.resource(api_version, kind)
        return self._to_dict(self._call('patch', res.patch, body=patch, name=name, namespace=self._ns(res, namespace),
                                        content_type=patch_type, **self._kw(dry_run, field_manager=field_manager)))

    def delete(self, api_version, kind, name, namespace=None, propagation_policy='Background', dry_run=False):
        """Delete one object; returns False when it was already gone."""
        res = self.resource(api_version, kind)
        try:
            self._call('delete', res.delete, name=name, namespace=self._ns(res, namespace),
                       body={'kind': 'DeleteOptions', 'apiVersion': 'v1', 'propagationPolicy': propagation_policy},
                       **self._kw(dry_run))
        except K8sError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    @property
    def write_count(self):
        return sum(self.requests.get(verb, 0) for verb in ('apply', 'create', 'update', 'patch', 'delete'))
