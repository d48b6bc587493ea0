"""The scale record's pure parts: parsing the ConfigMap, checking options, planning one entry."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import scale


@pytest.mark.parametrize('data, expected', [
    ({}, {}),
    (None, {}),
    ({'keystone.api': '2'}, {'keystone': {'api': 2}}),
    ({'keystone.api': '2', 'nova.api': ' 5 ', 'neutron.rpc-server': '3'},
     {'keystone': {'api': 2}, 'nova': {'api': 5}, 'neutron': {'rpc-server': 3}}),
])
def test_parse_records(data, expected):
    assert scale.parse_records(data) == expected


@pytest.mark.parametrize('data, fragment', [
    ({'keystone.api': 'two'}, "keystone.api: 'two'"),
    ({'keystone.api': '0'}, 'at least 1'),
    ({'keystone.api': '-1'}, 'keystone.api'),
    ({'keystone': '3'}, '<service>.<component>'),
    ({'Keystone.api': '3'}, 'kubectl edit configmap openstack-scale'),
])
def test_parse_records_refuses_bad_entries(data, fragment):
    with pytest.raises(scale.ScaleRecordError) as err:
        scale.parse_records(data)
    assert fragment in str(err.value)


@pytest.mark.parametrize('data, service, component, replicas, state, expected', [
    ({}, 'keystone', 'api', 2, 'present', {'keystone.api': '2'}),
    ({'keystone.api': '2'}, 'keystone', 'api', 2, 'present', {'keystone.api': '2'}),
    ({'keystone.api': '2', 'nova.api': '3'}, 'keystone', 'api', 4, 'present', {'keystone.api': '4', 'nova.api': '3'}),
    ({'keystone.api': '2', 'nova.api': '3'}, 'keystone', 'api', None, 'absent', {'nova.api': '3'}),
    ({'nova.api': '3'}, 'keystone', 'api', None, 'absent', {'nova.api': '3'}),
])
def test_plan_record(data, service, component, replicas, state, expected):
    before = dict(data)
    assert scale.plan_record(data, service, component, replicas, state) == expected
    assert data == before


@pytest.mark.parametrize('params, fragment', [
    ({'name': 'Bad_Name'}, 'name must be a ConfigMap name'),
    ({'component': 'api'}, 'component and replicas need service'),
    ({'service': 'keystone', 'component': None, 'replicas': 2}, 'component must be a catalog name'),
    ({'service': 'keystone', 'component': 'api', 'replicas': None}, 'replicas must be a whole number'),
    ({'service': 'keystone', 'component': 'api', 'replicas': 0}, 'replicas must be a whole number'),
    ({'service': 'keystone', 'component': 'api', 'replicas': 2, 'state': 'absent'}, 'do not give replicas'),
])
def test_validate_refuses(params, fragment):
    full = dict(name='openstack-scale', service=None, component=None, replicas=None, state='present')
    full.update(params)
    with pytest.raises(scale.ScaleRecordError) as err:
        scale.validate(full)
    assert fragment in str(err.value)


@pytest.mark.parametrize('params', [
    {},
    {'service': 'keystone', 'component': 'api', 'replicas': 1},
    {'service': 'neutron', 'component': 'rpc-server', 'state': 'absent'},
])
def test_validate_accepts(params):
    full = dict(name='openstack-scale', service=None, component=None, replicas=None, state='present')
    full.update(params)
    scale.validate(full)
