"""site.yml when etcd or the Kubernetes API cannot be reached: a clear message, soon, nothing half-applied.

The unreachable end is a loopback port nobody listens on (refused at once) or a listener
that accepts and never answers (the connection timeout must bound the wait). The other
end is real: the sandbox's request log and etcd's keys show that nothing was written.
"""
import socket
import time

import pytest

from test_site_playbook import Site  # same directory: pytest puts it on sys.path

pytestmark = pytest.mark.slow


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(name='silent_listener')
def silent_listener_fixture():
    """A port that accepts connections (the kernel's backlog does) and never answers."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(name='site')
def site_fixture(sandbox, etcd_clean_plain, run_playbook, make_inventory):
    return Site(sandbox, etcd_clean_plain, run_playbook, make_inventory)


def _kubeconfig_to(tmp_path, port):
    path = tmp_path / 'kubeconfig-unreachable'
    path.write_text(
        'apiVersion: v1\nkind: Config\ncurrent-context: c\n'
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:%d"}}]\n'
        'contexts: [{name: c, context: {cluster: c, user: u}}]\n'
        'users: [{name: u, user: {token: t}}]\n' % port)
    return str(path)


CASES = [
    # (id, which end, how, fragments of the message)
    ('etcd-refused', 'etcd', 'closed', ['etcd', '{port}']),
    ('etcd-silent', 'etcd', 'silent', ['etcd', '{port}']),
    ('api-refused', 'api', 'closed', ['Kubernetes API', '{port}']),
    ('api-silent', 'api', 'silent', ['Kubernetes API', '{port}']),
]


@pytest.mark.parametrize('end, how, fragments', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unreachable_end_fails_clearly_and_writes_nothing(site, tmp_path, silent_listener, end, how, fragments):
    port = _closed_port() if how == 'closed' else silent_listener
    overrides = {'openstack_service_wait_timeout': 30}
    if end == 'etcd':
        overrides['openstack_etcd_endpoints'] = ['http://127.0.0.1:%d' % port]
        overrides['openstack_etcd_connection'] = {'timeout': 3}
    else:
        overrides['openstack_k8s_connection'] = {'kubeconfig': _kubeconfig_to(tmp_path, port),
                                                 'api_timeout': 3, 'api_retries': 1}
    began = time.monotonic()
    result = site.run(**overrides)
    took = time.monotonic() - began
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    for fragment in fragments:
        assert fragment.format(port=port) in output, result.explain()
    # Bounded by the connection timeout (3 s, a retry or two), not by the 30 s rollout wait.
    if took >= 60:
        pytest.fail('took %.0f s\n%s' % (took, result.explain()))
    assert result.writes == {}, result.server_counts
    assert site.etcd.dump('/openstack') == {}
