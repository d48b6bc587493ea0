"""Retries of the Kubernetes adapter against a real HTTP server scripted per request.

The server speaks just enough of the API (discovery + one ConfigMap path) for the
official client; each test scripts the answers, and the injected ``sleep`` records the
delays instead of waiting.
"""
import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient, K8sError

DISCOVERY = {
    '/version': {'major': '1', 'minor': '37', 'gitVersion': 'v1.37.0'},
    '/api': {'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': []},
    '/apis': {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': []},
    '/api/v1': {'kind': 'APIResourceList', 'groupVersion': 'v1', 'resources': [
        {'name': 'configmaps', 'singularName': 'configmap', 'namespaced': True, 'kind': 'ConfigMap',
         'verbs': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']}]},
}
CONFIGMAP_PATH = '/api/v1/namespaces/openstack/configmaps/keystone'
CONFIGMAP = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'keystone', 'namespace': 'openstack'}, 'data': {'a': 'b'}}


def status(code, reason, message='scripted'):
    return {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'code': code, 'reason': reason, 'message': message}


class Scripted(BaseHTTPRequestHandler):
    script = []
    hits = []

    def log_message(self, *args):
        pass

    def _send(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server naming
        path = self.path.split('?')[0]
        if path in DISCOVERY:
            return self._send(200, DISCOVERY[path])
        type(self).hits.append((self.command, path))
        if type(self).script:
            code, body, headers = type(self).script.pop(0)
            return self._send(code, body, headers)
        return self._send(200, CONFIGMAP)

    do_PATCH = do_GET
    do_DELETE = do_GET


@pytest.fixture(name='api')
def api_fixture():
    Scripted.script, Scripted.hits = [], []
    server = ThreadingHTTPServer(('127.0.0.1', 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def make_client(host, retries=5):
    sleeps = []
    client = K8sClient(dict(host=host, api_retries=retries, api_timeout=5), sleep=sleeps.append, rng=random.Random(7))
    return client, sleeps


CASES = [
    # (id, scripted answers, expected outcome, expected sleeps (None: backoff range check), GET attempts)
    ('retry-after-honoured', [(429, status(429, 'TooManyRequests'), {'Retry-After': '3'})], 'ok', [3.0], 2),
    ('retry-after-zero', [(429, status(429, 'TooManyRequests'), {'Retry-After': '0'})], 'ok', [0.0], 2),
    ('retry-after-capped-at-30s', [(503, status(503, 'ServiceUnavailable'), {'Retry-After': '120'})], 'ok', [30.0], 2),
    ('backoff-grows-without-retry-after', [(503, status(503, 'ServiceUnavailable'), {})] * 3, 'ok', None, 4),
    ('500-retried', [(500, status(500, 'InternalError'), {})], 'ok', None, 2),
    ('409-not-retried', [(409, status(409, 'Conflict'), {})], 409, [], 1),
    ('422-not-retried', [(422, status(422, 'Invalid'), {})], 422, [], 1),
    ('404-is-none', [(404, status(404, 'NotFound'), {})], None, [], 1),
    ('gives-up-after-retries', [(503, status(503, 'ServiceUnavailable'), {'Retry-After': '1'})] * 10, 503, [1.0] * 5, 6),
]


@pytest.mark.parametrize('script,outcome,sleeps,attempts', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_get_retries(api, script, outcome, sleeps, attempts):
    Scripted.script = list(script)
    client, slept = make_client(api)
    if isinstance(outcome, int):
        with pytest.raises(K8sError) as info:
            client.get('v1', 'ConfigMap', 'keystone', 'openstack')
        assert info.value.status == outcome
        assert info.value.attempts == attempts
        assert info.value.reason == script[0][1]['reason']
    else:
        got = client.get('v1', 'ConfigMap', 'keystone', 'openstack')
        assert got == (CONFIGMAP if outcome == 'ok' else None)
    assert len(Scripted.hits) == attempts
    assert client.requests['get'] == attempts
    assert client.retried == attempts - 1 if outcome != 503 else client.retried == 5
    if sleeps is None:
        # exponential: 0.2 * 2**n scaled by a jitter in [0.5, 1.5)
        assert len(slept) == attempts - 1
        for n, delay in enumerate(slept):
            assert 0.1 * 2 ** n <= delay < 0.3 * 2 ** n
    else:
        assert slept == sleeps


def test_unreachable_is_retried_then_reported():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    client, slept = make_client('http://127.0.0.1:%d' % port, retries=2)
    with pytest.raises(K8sError) as info:
        client.get('v1', 'ConfigMap', 'keystone', 'openstack')
    assert info.value.status == 0 and info.value.reason == 'Unreachable'
    assert len(slept) == 2


def test_write_count_counts_only_writes(api):
    client, _slept = make_client(api)
    client.get('v1', 'ConfigMap', 'keystone', 'openstack')
    client.apply(dict(CONFIGMAP), 'openstack-k8s-deploy')
    client.delete('v1', 'ConfigMap', 'keystone', 'openstack')
    assert client.write_count == 2
    assert [hit[0] for hit in Scripted.hits] == ['GET', 'PATCH', 'DELETE']
