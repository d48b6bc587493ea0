"""Every request path of the Kubernetes adapter goes through the one retry policy.

Each case injects a transient fault on one path of the real Kubernetes sandbox (a
separate process the official client talks to) and checks, from the sandbox's own request
log, that the request was sent again after a backoff (at least the first step, 0.1 s) or
the Retry-After the server asked for, and that the operation then succeeded. These are the
paths that did not retry before: discovery at construction and a group's resource list
(a 503 there was taken for "kind not served"), the opening of a watch (refused with 5xx or
429 it was read again at once, without backoff or Retry-After), a watch cut mid-stream or
expired (an error instead of the end of the stream), the wait for a deleted object to go
(failed on a cut watch), and the opening of a pod exec stream (no retry at all).
"""
import hashlib
import os
import tempfile
import threading
import time

import pytest
import urllib3
from kubernetes.client import CoreV1Api
from kubernetes.client.rest import ApiException
from websocket import WebSocketBadStatusException, WebSocketConnectionClosedException

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import podexec
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.apply import Applier
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient, K8sError, request_failure
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.waiter import Waiter

NAMESPACE = 'default'
FIRST_BACKOFF_MIN = 0.1   # FIRST_BACKOFF (0.2 s) times the smallest jitter (0.5)


def configmap(name, **meta):
    return {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': dict(name=name, namespace=NAMESPACE, **meta),
            'data': {'a': 'b'}}


def deployment(name, replicas=2):
    labels = {'app': name}
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': NAMESPACE},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': labels},
                     'template': {'metadata': {'labels': labels},
                                  'spec': {'containers': [{'name': 'app', 'image': 'registry.example/app:1.0'}]}}}}


def fresh_client(sandbox, retries=5):
    """A client whose discovery starts from the server, not from the library's cache file."""
    client = K8sClient({'kubeconfig': sandbox.kubeconfig, 'api_retries': retries, 'api_timeout': 10})
    host = client._api_client.configuration.host  # pylint: disable=protected-access
    cache = os.path.join(tempfile.gettempdir(), 'osrcp-%s.json' % hashlib.md5(host.encode('utf-8')).hexdigest())
    if os.path.exists(cache):
        os.remove(cache)
    return client


def faulted(log):
    return [e for e in log if e.get('fault') is not None]


def next_same(log, entry):
    """The next request with the same method and path as ``entry``, or None."""
    later = [e for e in log if e['ts'] > entry['ts'] and e['method'] == entry['method'] and e['path'] == entry['path']]
    return min(later, key=lambda e: e['ts']) if later else None


def check_retried(log, min_gap):
    """Every injected fault was followed by the same request, no sooner than ``min_gap`` s."""
    faults = faulted(log)
    assert faults, 'no fault was injected: the case tests nothing'
    for entry in faults:
        again = next_same(log, entry)
        assert again is not None, 'not retried: %s %s (%s)' % (entry['method'], entry['path'], entry['fault'])
        assert again['ts'] - entry['ts'] >= min_gap, (entry['path'], entry['fault'], again['ts'] - entry['ts'])
    return faults


# -- discovery ----------------------------------------------------------------------------------

def _get_deployment(sandbox, client):
    client.apply(deployment('probe'), 'test')
    return client.get('apps/v1', 'Deployment', 'probe', NAMESPACE)


DISCOVERY_CASES = [
    # (id, fault rule, operation, minimum gap before the same request again)
    ('version-500-at-construction', {'path': '^/version$', 'responses': [500], 'count': 1}, 'configmap', FIRST_BACKOFF_MIN),
    ('apis-503-at-construction', {'path': '^/apis$', 'responses': [503], 'count': 2}, 'configmap', FIRST_BACKOFF_MIN),
    ('apis-429-retry-after', {'path': '^/apis$', 'responses': [429], 'count': 1, 'retry_after': 1}, 'configmap', 0.95),
    ('apis-dropped', {'path': '^/apis$', 'responses': ['drop'], 'count': 1}, 'configmap', FIRST_BACKOFF_MIN),
    # The library read a 503 on a group's resource list as an empty list: "does not serve apps/v1 Deployment".
    ('group-list-503-three-times', {'path': '^/apis/apps/v1$', 'responses': [503], 'count': 3}, 'deployment',
     FIRST_BACKOFF_MIN),
    ('core-list-500', {'path': '^/api/v1$', 'responses': [500], 'count': 2}, 'configmap', FIRST_BACKOFF_MIN),
]


@pytest.mark.parametrize('rule,operation,min_gap', [c[1:] for c in DISCOVERY_CASES], ids=[c[0] for c in DISCOVERY_CASES])
def test_discovery_is_retried(sandbox, rule, operation, min_gap):
    sandbox.control.settings(faults=[dict(rule, rate=1.0)])
    client = fresh_client(sandbox)
    if operation == 'configmap':
        client.apply(configmap('probe'), 'test')
        got = client.get('v1', 'ConfigMap', 'probe', NAMESPACE)
    else:
        got = _get_deployment(sandbox, client)
    assert got['metadata']['name'] == 'probe'
    faults = check_retried(sandbox.control.request_log(), min_gap)
    assert len(faults) == rule['count']
    assert client.requests['discovery'] >= 1 + rule['count']


# -- watches ------------------------------------------------------------------------------------

WATCH_OPEN_CASES = [
    ('watch-refused-500', {'responses': [500], 'count': 1}, FIRST_BACKOFF_MIN),
    ('watch-refused-503-twice', {'responses': [503], 'count': 2}, FIRST_BACKOFF_MIN),
    ('watch-refused-429-retry-after', {'responses': [429], 'count': 1, 'retry_after': 1}, 0.95),
    ('watch-dropped-before-answer', {'responses': ['drop'], 'count': 1}, FIRST_BACKOFF_MIN),
]


@pytest.mark.parametrize('rule,min_gap', [c[1:] for c in WATCH_OPEN_CASES], ids=[c[0] for c in WATCH_OPEN_CASES])
def test_watch_opening_is_retried(sandbox, rule, min_gap):
    client = fresh_client(sandbox)
    live = client.apply(configmap('watched'), 'test')
    sandbox.control.clear_request_log()
    sandbox.control.settings(faults=[dict(rule, rate=1.0, verbs=['watch'])])
    # Changed before the watch opens: a watch from the older resourceVersion replays the change.
    K8sClient({'kubeconfig': sandbox.kubeconfig}).patch('v1', 'ConfigMap', 'watched', {'data': {'a': 'c'}}, NAMESPACE)
    events = []
    for event_type, obj in client.watch('v1', 'ConfigMap', namespace=NAMESPACE, name='watched',
                                        resource_version=live['metadata']['resourceVersion'], timeout=5):
        events.append((event_type, obj['data']['a']))
        if event_type == 'MODIFIED':
            break
    assert events == [('MODIFIED', 'c')]
    faults = check_retried(sandbox.control.request_log(), min_gap)
    assert len(faults) == rule['count']
    assert client.requests['watch'] == 1 + rule['count']


def test_watch_cut_mid_stream_ends_it_quietly(sandbox):
    """A watch stream cut without a clean end is the end of the stream, not an error."""
    client = fresh_client(sandbox)
    live = client.apply(configmap('watched'), 'test')
    sandbox.control.settings(watch_drop_after=0.3)
    started = time.monotonic()
    events = list(client.watch('v1', 'ConfigMap', namespace=NAMESPACE, name='watched',
                               resource_version=live['metadata']['resourceVersion'], timeout=10))
    assert events == []
    assert time.monotonic() - started < 5


def test_watch_expired_ends_it_quietly(sandbox):
    """410 Expired (history compacted) ends the stream: the caller reads afresh."""
    client = fresh_client(sandbox)
    first = client.apply(configmap('watched'), 'test')
    sandbox.control.settings(history_size=3)
    for index in range(6):
        client.apply(configmap('other-%d' % index), 'test')
    events = list(client.watch('v1', 'ConfigMap', namespace=NAMESPACE, name='watched',
                               resource_version=first['metadata']['resourceVersion'], timeout=5))
    assert events == []
    assert [e['code'] for e in sandbox.control.request_log() if e['verb'] == 'watch'] == [200]


WAIT_CASES = [
    # (id, settings, minimum gap between a faulted watch and the same watch again)
    ('waiter-watch-429-honours-retry-after',
     {'faults': [{'rate': 1.0, 'verbs': ['watch'], 'responses': [429], 'count': 1, 'retry_after': 1}]}, 0.95),
    ('waiter-watch-500-backs-off', {'faults': [{'rate': 1.0, 'verbs': ['watch'], 'responses': [500], 'count': 2}]},
     FIRST_BACKOFF_MIN),
    ('waiter-watch-cut-every-0.3s', {'watch_drop_after': 0.3}, None),
]


@pytest.mark.parametrize('settings,min_gap', [c[1:] for c in WAIT_CASES], ids=[c[0] for c in WAIT_CASES])
def test_waiter_under_watch_faults(sandbox, settings, min_gap):
    sandbox.control.settings(ready_delay=2.0)
    client = fresh_client(sandbox)
    client.apply(deployment('api'), 'test')
    sandbox.control.clear_request_log()
    sandbox.control.settings(**settings)
    ref = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': 'api', 'namespace': NAMESPACE}
    done = Waiter(client).wait_for([ref], timeout=30)
    assert done[0]['object'] == ref
    log = sandbox.control.request_log()
    if min_gap is not None:
        check_retried(log, min_gap)
    else:
        assert len([e for e in log if e['verb'] == 'watch']) >= 2, 'the watch was never cut'


def test_wait_gone_survives_cut_watches(sandbox):
    """A deleted object held by a finalizer is followed across cut watches until it is gone."""
    client = fresh_client(sandbox)
    client.apply(configmap('held', finalizers=['example.com/hold']), 'test')
    client.delete('v1', 'ConfigMap', 'held', NAMESPACE)
    sandbox.control.settings(watch_drop_after=0.3)

    def release():
        time.sleep(1.0)
        K8sClient({'kubeconfig': sandbox.kubeconfig}).patch('v1', 'ConfigMap', 'held',
                                                            {'metadata': {'finalizers': None}}, NAMESPACE)

    releaser = threading.Thread(target=release)
    releaser.start()
    ref = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'held', 'namespace': NAMESPACE}
    Applier(client)._wait_gone(ref, timeout=20)  # pylint: disable=protected-access
    releaser.join()
    assert client.get('v1', 'ConfigMap', 'held', NAMESPACE) is None
    assert client.requests['watch'] >= 2


def test_wait_gone_gives_up_naming_the_finalizers(sandbox):
    client = fresh_client(sandbox)
    client.apply(configmap('held', finalizers=['example.com/hold']), 'test')
    client.delete('v1', 'ConfigMap', 'held', NAMESPACE)
    ref = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'held', 'namespace': NAMESPACE}
    with pytest.raises(K8sError) as info:
        Applier(client)._wait_gone(ref, timeout=1)  # pylint: disable=protected-access
    assert 'still exists after 1s' in info.value.message and 'example.com/hold' in info.value.message


# -- pod exec -----------------------------------------------------------------------------------

@pytest.fixture(name='shell_pod')
def shell_pod_fixture(sandbox, tmp_path):
    """A Running pod ``shell`` whose execs run locally."""
    (tmp_path / 'shell').mkdir()
    sandbox.control.settings(exec=[{'name': 'shell', 'mode': 'local', 'workdir': str(tmp_path / '{pod}')}])
    core = CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(NAMESPACE, {'apiVersion': 'v1', 'kind': 'Pod',
                                           'metadata': {'name': 'shell', 'namespace': NAMESPACE},
                                           'spec': {'containers': [{'name': 'app', 'image': 'registry.example/app:1.0'}]}})
    deadline = time.monotonic() + 10
    while core.read_namespaced_pod('shell', NAMESPACE).status.phase != 'Running':
        assert time.monotonic() < deadline, 'pod shell not Running'
        time.sleep(0.05)
    sandbox.control.clear_request_log()
    return core


EXEC_CASES = [
    # (id, fault rule on the exec path, outcome, attempts, minimum gap)
    ('exec-handshake-503-twice', {'responses': [503], 'count': 2}, 'ok', 3, FIRST_BACKOFF_MIN),
    ('exec-handshake-429-retry-after', {'responses': [429], 'count': 1, 'retry_after': 1}, 'ok', 2, 0.95),
    ('exec-dropped-before-upgrade', {'responses': ['drop'], 'count': 1}, 'ok', 2, FIRST_BACKOFF_MIN),
    ('exec-refused-beyond-the-retries', {'responses': [500]}, 'HTTP 500 after 3 attempts', 3, FIRST_BACKOFF_MIN),
]


@pytest.mark.parametrize('rule,outcome,attempts,min_gap', [c[1:] for c in EXEC_CASES], ids=[c[0] for c in EXEC_CASES])
def test_exec_opening_is_retried(sandbox, shell_pod, rule, outcome, attempts, min_gap):
    sandbox.control.settings(faults=[dict(rule, rate=1.0, path='/exec$')])
    client = fresh_client(sandbox, retries=2)
    if outcome == 'ok':
        raw, out, _err = podexec.run(shell_pod, NAMESPACE, 'shell', ['echo', 'hello'], timeout=20, retry=client.policy)
        assert podexec.exit_code(raw) == 0 and out == 'hello\n'
    else:
        with pytest.raises(podexec.ExecError) as info:
            podexec.run(shell_pod, NAMESPACE, 'shell', ['echo', 'hello'], timeout=20, retry=client.policy)
        assert outcome in str(info.value)
    log = [e for e in sandbox.control.request_log() if e['subresource'] == 'exec']
    assert len(log) == attempts
    for before, after in zip(log, log[1:]):
        assert before['fault'] is not None and after['ts'] - before['ts'] >= min_gap


def test_exec_not_found_is_not_retried(sandbox, shell_pod):
    client = fresh_client(sandbox, retries=2)
    with pytest.raises(podexec.ExecError) as info:
        podexec.run(shell_pod, NAMESPACE, 'no-such-pod', ['true'], timeout=5, retry=client.policy)
    assert 'HTTP 404 after 1 attempts' in str(info.value)
    assert client.retried == 0


# -- what a failure means -----------------------------------------------------------------------

def _raised_by_exec_transport(inner):
    """An exception as ``kubernetes.stream`` raises it: ApiException(status=0) with ``inner`` as its context."""
    try:
        raise inner
    except Exception as exc:  # pylint: disable=broad-except
        try:
            raise ApiException(status=0, reason=str(exc))
        except ApiException as outer:
            return outer


def _api_exception(status, headers=None, body=None):
    exc = ApiException(status=status, reason='scripted')
    exc.headers, exc.body = headers, body
    return exc


FAILURE_CASES = [
    # (id, exception, (status, retryable, retry_after) or None when it is no request failure)
    ('503-with-retry-after', _api_exception(503, {'Retry-After': '2'}), (503, True, 2.0)),
    ('429-lowercase-header', _api_exception(429, {'retry-after': '1'}), (429, True, 1.0)),
    ('504', _api_exception(504), (504, True, None)),
    ('409-is-final', _api_exception(409, body='{"reason": "Conflict", "message": "conflict"}'), (409, False, None)),
    ('422-is-final', _api_exception(422), (422, False, None)),
    ('connection-cut', urllib3.exceptions.ProtocolError('Connection aborted.'), (0, True, None)),
    ('read-timeout', urllib3.exceptions.ReadTimeoutError(None, '/api', 'read timed out'), (0, True, None)),
    ('connection-refused', ConnectionRefusedError(111, 'refused'), (0, True, None)),
    ('exec-handshake-503', _raised_by_exec_transport(WebSocketBadStatusException('Handshake status 503', 503)),
     (503, True, None)),
    ('exec-handshake-429-retry-after', _raised_by_exec_transport(
        WebSocketBadStatusException('Handshake status 429', 429, resp_headers={'retry-after': '3'})), (429, True, 3.0)),
    ('exec-handshake-403-is-final', _raised_by_exec_transport(WebSocketBadStatusException('Handshake status 403', 403)),
     (403, False, None)),
    ('exec-connection-reset', _raised_by_exec_transport(ConnectionResetError(104, 'reset')), (0, True, None)),
    ('exec-closed-before-upgrade', _raised_by_exec_transport(WebSocketConnectionClosedException('closed')),
     (0, True, None)),
    ('exec-client-bug-is-final', _raised_by_exec_transport(ValueError('bad url')), (0, False, None)),
    ('not-a-request-failure', ValueError('bug'), None),
]


@pytest.mark.parametrize('exc,expected', [c[1:] for c in FAILURE_CASES], ids=[c[0] for c in FAILURE_CASES])
def test_request_failure(exc, expected):
    found = request_failure(exc)
    if expected is None:
        assert found is None
    else:
        error, retryable, retry_after = found
        assert (error.status, retryable, retry_after) == expected
        assert isinstance(error, K8sError)
