"""The scale record (module_utils.k8s.scale) against the Kubernetes sandbox through the shared client.

Every write claim is checked on the sandbox's own request log.
"""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import scale
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient, K8sError

NAMESPACE = 'openstack'
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete')


def params(**kw):
    base = dict(namespace=NAMESPACE, name='openstack-scale', service=None, component=None, replicas=None, state='present')
    base.update(kw)
    return base


def writes(sandbox):
    return [(e['verb'], e['resource']) for e in sandbox.control.request_log() if e['apply'] or e['verb'] in WRITE_VERBS]


@pytest.fixture(name='client')
def client_fixture(sandbox):
    client = K8sClient({'kubeconfig': sandbox.kubeconfig})
    client.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}})
    sandbox.control.clear_request_log()
    return client


# (case, record before, request, check mode, expected changed, expected data after, expected writes)
CASES = [
    ('read-missing', None, {}, False, False, None, []),
    ('create', None, dict(service='keystone', component='api', replicas=2), False, True, {'keystone.api': '2'},
     [('create', 'configmaps')]),
    ('create-check-mode', None, dict(service='keystone', component='api', replicas=2), True, True, None, []),
    ('add-entry', {'nova.api': '3'}, dict(service='keystone', component='api', replicas=2), False, True,
     {'nova.api': '3', 'keystone.api': '2'}, [('patch', 'configmaps')]),
    ('same-value-no-write', {'keystone.api': '2'}, dict(service='keystone', component='api', replicas=2), False, False,
     {'keystone.api': '2'}, []),
    ('change-check-mode', {'keystone.api': '2'}, dict(service='keystone', component='api', replicas=3), True, True,
     {'keystone.api': '2'}, []),
    ('forget', {'keystone.api': '2', 'nova.api': '3'}, dict(service='keystone', component='api', state='absent'), False, True,
     {'nova.api': '3'}, [('patch', 'configmaps')]),
    ('forget-absent-no-write', {'nova.api': '3'}, dict(service='keystone', component='api', state='absent'), False, False,
     {'nova.api': '3'}, []),
]


@pytest.mark.parametrize('case, before, request_, check, changed, after, expected_writes', CASES, ids=[c[0] for c in CASES])
def test_record(sandbox, client, case, before, request_, check, changed, after, expected_writes):
    del case
    if before is not None:
        client.create({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'openstack-scale', 'namespace': NAMESPACE},
                       'data': before})
        sandbox.control.clear_request_log()
    result = scale.ensure_record(client, params(**request_), check_mode=check)
    assert result['changed'] is changed
    assert writes(sandbox) == expected_writes
    live = client.get('v1', 'ConfigMap', 'openstack-scale', NAMESPACE)
    assert (live or {}).get('data') == after
    planned = after
    if check:
        planned = scale.plan_record(before or {}, request_['service'], request_['component'],
                                    request_.get('replicas'), request_.get('state', 'present'))
    assert result['records'] == scale.parse_records(planned or {})
    if changed:
        assert result['diff']['before'] != result['diff']['after']
    if case_created(before, after, check):
        labels = live['metadata']['labels']
        assert labels['app.kubernetes.io/managed-by'] == 'openstack_k8s.deploy'


def case_created(before, after, check):
    return before is None and after is not None and not check


def test_concurrent_change_is_a_conflict_not_a_lost_update(sandbox, client):
    client.create({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'openstack-scale', 'namespace': NAMESPACE},
                   'data': {'nova.api': '3'}})

    class Racing(object):
        """The shared client, but someone else changes the record between our read and our write."""

        def __init__(self, inner):
            self.inner = inner
            self.requests = inner.requests

        def get(self, *args):
            live = self.inner.get(*args)
            self.inner.patch('v1', 'ConfigMap', 'openstack-scale', {'data': {'glance.api': '2'}}, namespace=NAMESPACE)
            return live

        def __getattr__(self, name):
            return getattr(self.inner, name)

    with pytest.raises(K8sError) as err:
        scale.ensure_record(Racing(client), params(service='keystone', component='api', replicas=2))
    assert err.value.status == 409
    assert client.get('v1', 'ConfigMap', 'openstack-scale', NAMESPACE)['data'] == {'nova.api': '3', 'glance.api': '2'}


def test_malformed_record_is_refused_naming_the_entry(sandbox, client):
    client.create({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'openstack-scale', 'namespace': NAMESPACE},
                   'data': {'keystone.api': 'three'}})
    sandbox.control.clear_request_log()
    with pytest.raises(scale.ScaleRecordError) as err:
        scale.ensure_record(client, params(service='nova', component='api', replicas=2))
    assert 'keystone.api' in str(err.value) and 'kubectl edit configmap openstack-scale' in str(err.value)
    assert writes(sandbox) == []
