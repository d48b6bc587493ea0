"""pytest plugin: real etcd servers for the whole session.

Fixtures
--------
``etcd``
    Session-scoped plain-HTTP etcd (no auth). An :class:`harness.etcd.EtcdServer` with
    ``endpoints``, ``endpoint``, ``connection()`` (module options), ``client()`` (a
    separate raw ``pyetcd`` client), ``dump(prefix)``, ``wipe()``, ``metrics()`` and
    ``write_requests()`` (server-side counts of Put/Txn/DeleteRange RPCs and MVCC writes).
``etcd_tls``
    Session-scoped etcd with TLS (CA, server and client certificates from ``openssl``),
    client certificates required, and user/password auth enabled: ``root`` (password
    ``root_password``) and a limited user ``username``/``password`` whose role grants
    read-write on ``granted_prefix`` (``/openstack``) only. ``ca_cert``, ``client_cert``,
    ``client_key`` are file paths. ``connection(root=False)`` gives the limited user.
``etcd_server``
    Parametrised over both of the above (ids ``plain`` and ``tls``): a test that takes it
    runs once against each.
``etcd_clean``
    Function-scoped: wipes every key of ``etcd_server`` before and after the test and
    yields that server.
``etcd_clean_plain`` / ``etcd_clean_tls``
    The same for one specific server.
"""

import pytest

from harness.etcd import EtcdServer


@pytest.fixture(scope='session')
def etcd(tmp_path_factory):
    server = EtcdServer(base_dir=str(tmp_path_factory.mktemp('etcd-plain')))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope='session')
def etcd_tls(tmp_path_factory):
    server = EtcdServer(tls=True, client_cert_auth=True, auth=True,
                        base_dir=str(tmp_path_factory.mktemp('etcd-tls')))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope='session', params=['plain', 'tls'])
def etcd_server(request):
    return request.getfixturevalue('etcd' if request.param == 'plain' else 'etcd_tls')


def _clean(server):
    server.wipe()
    yield server
    server.wipe()


@pytest.fixture
def etcd_clean(etcd_server):
    yield from _clean(etcd_server)


@pytest.fixture
def etcd_clean_plain(etcd):
    yield from _clean(etcd)


@pytest.fixture
def etcd_clean_tls(etcd_tls):
    yield from _clean(etcd_tls)
