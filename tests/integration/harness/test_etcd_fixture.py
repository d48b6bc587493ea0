"""The etcd fixtures serve real etcd over the network, plain and TLS + auth."""

import os
import ssl
import json
import base64
import urllib.request

import grpc
import pytest

from harness.etcd import EtcdServer

pytestmark = pytest.mark.slow


def test_put_get_with_a_separate_client(etcd_clean):
    with etcd_clean.client() as writer:
        writer.put('/openstack/general/REGION_NAME', 'RegionOne')
    with etcd_clean.client() as reader:
        value, meta = reader.get('/openstack/general/REGION_NAME')
    assert value == b'RegionOne'
    assert meta.key == b'/openstack/general/REGION_NAME'
    assert etcd_clean.dump() == {'/openstack/general/REGION_NAME': 'RegionOne'}


def test_http_gateway_answers(etcd_clean):
    """The JSON gateway (/v3/kv/put) is reachable with the fixture's TLS material."""
    context = None
    headers = {'Content-Type': 'application/json'}
    if etcd_clean.tls:
        context = ssl.create_default_context(cafile=etcd_clean.ca_cert)
        context.load_cert_chain(etcd_clean.client_cert, etcd_clean.client_key)
    if etcd_clean.auth:
        body = json.dumps({'name': etcd_clean.username, 'password': etcd_clean.password}).encode()
        request = urllib.request.Request(etcd_clean.endpoint + '/v3/auth/authenticate', data=body, headers=headers)
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            headers['Authorization'] = json.loads(response.read())['token']
    payload = {'key': base64.b64encode(b'/openstack/general/NAMESPACE').decode(),
               'value': base64.b64encode(b'openstack').decode()}
    request = urllib.request.Request(etcd_clean.endpoint + '/v3/kv/put', data=json.dumps(payload).encode(), headers=headers)
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        assert 'header' in json.loads(response.read())
    assert etcd_clean.dump('/openstack/') == {'/openstack/general/NAMESPACE': 'openstack'}


def test_write_requests_are_counted_by_the_server(etcd_clean):
    before = etcd_clean.write_requests()
    with etcd_clean.client() as cli:
        cli.put('/openstack/a', '1')
        cli.put('/openstack/b', '2')
        cli.transaction(compare=[], success=[cli.transactions.put('/openstack/c', '3'),
                                             cli.transactions.delete('/openstack/a')], failure=[])
        cli.get('/openstack/b')
    after = etcd_clean.write_requests()
    delta = dict((k, after[k] - before[k]) for k in after)
    assert delta == {'Put': 2, 'Txn': 1, 'DeleteRange': 0, 'mvcc_put': 3, 'mvcc_delete': 1}


def test_limited_user_is_confined_to_its_prefix(etcd_clean_tls):
    server = etcd_clean_tls
    with server.client(root=False) as limited:
        limited.put(server.granted_prefix + '/general/DB_HOST', 'mariadb')
        with pytest.raises(grpc.RpcError) as denied:
            limited.put('/elsewhere/key', 'value')
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert server.dump() == {server.granted_prefix + '/general/DB_HOST': 'mariadb'}


def test_wrong_password_is_refused(etcd_tls):
    import pyetcd
    with pytest.raises(grpc.RpcError) as refused:
        pyetcd.client(host='127.0.0.1', port=etcd_tls.client_port, ca_cert=etcd_tls.ca_cert,
                      cert_cert=etcd_tls.client_cert, cert_key=etcd_tls.client_key,
                      user=etcd_tls.username, password='not-the-password', timeout=5)
    assert 'authentication failed' in refused.value.details()


def test_client_certificate_is_required(etcd_tls):
    context = ssl.create_default_context(cafile=etcd_tls.ca_cert)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with urllib.request.urlopen(etcd_tls.endpoint + '/v3/kv/range', data=b'{}', context=context, timeout=5) as resp:
            resp.read()


def test_stop_leaves_no_process_and_no_files(tmp_path):
    server = EtcdServer(tls=True, auth=True, base_dir=str(tmp_path))
    with server:
        pid = server.process.pid
        workdir = server.workdir
        assert server.running
        with server.client(root=False) as cli:
            cli.put('/openstack/x', 'y')
    assert not os.path.exists(workdir)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert os.listdir(str(tmp_path)) == []
