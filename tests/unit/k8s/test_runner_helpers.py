"""The pure steps of a rollout: config selection, preparation, masking, checksums, waits."""
import base64
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import apply, runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK

FLAT = {
    '/openstack/general/DB_HOST': 'mariadb.openstack.svc',
    '/openstack/general/REGION_NAME': 'RegionOne',
    '/openstack/controller/glance/glance-api.conf/database/connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance',
    '/openstack/controller/glance/glance-api.conf/DEFAULT/debug': 'False',
    '/openstack/storage/glance/glance-api.conf/DEFAULT/workers': '2',
    '/openstack/controller/glance-extra/x.conf/DEFAULT/a': 'not glance',
    '/openstack/controller/nova/nova.conf/DEFAULT/debug': 'True',
    '/openstackother/general/DB_HOST': 'another prefix',
    '/openstack/general/nested/TOO_DEEP': 'ignored',
}


def test_service_config_takes_general_and_only_the_service_subtree():
    general, files = runner.service_config(FLAT, '/openstack', 'glance')
    assert general == {'DB_HOST': 'mariadb.openstack.svc', 'REGION_NAME': 'RegionOne'}
    assert files == {
        'controller': {'glance-api.conf': {'database': {'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'},
                                           'DEFAULT': {'debug': 'False'}}},
        'storage': {'glance-api.conf': {'DEFAULT': {'workers': '2'}}},
    }


def test_service_config_prefix_with_trailing_slash():
    assert runner.service_config(FLAT, '/openstack/', 'nova')[1] == {'controller': {'nova.conf': {'DEFAULT': {'debug': 'True'}}}}


JOB = {'apiVersion': 'batch/v1', 'kind': 'Job', 'metadata': {'name': 'glance-db-sync'},
       'spec': {'template': {'spec': {'containers': [{'name': 'x', 'image': 'glance'}]}}}}

PREPARE_CASES = [
    ('namespaced-kind-gets-namespace', {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'glance-api'}},
     lambda o: o['metadata']['namespace'] == 'openstack'),
    ('namespace-kept', {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'a', 'namespace': 'other'}},
     lambda o: o['metadata']['namespace'] == 'other'),
    ('cluster-scoped-has-none', {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRole', 'metadata': {'name': 'r'}},
     lambda o: 'namespace' not in o['metadata']),
    ('ownership-labels-added', {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'c'}},
     lambda o: o['metadata']['labels'] == {'app.kubernetes.io/managed-by': 'openstack_k8s.deploy',
                                           'app.kubernetes.io/part-of': 'openstack', 'app.kubernetes.io/name': 'glance'}),
    ('renderer-labels-win', {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'c', 'labels': {'app.kubernetes.io/name': 'x'}}},
     lambda o: o['metadata']['labels']['app.kubernetes.io/name'] == 'x'),
    ('unversioned-job-named-by-spec', JOB,
     lambda o: o['metadata']['name'].startswith('glance-db-sync-') and len(o['metadata']['name']) == len('glance-db-sync-') + 10),
    ('versioned-job-kept', dict(JOB, metadata={'name': 'glance-db-sync-abc', 'annotations': {runner.SPEC_HASH: 'abc'}}),
     lambda o: o['metadata']['name'] == 'glance-db-sync-abc'),
    ('checksum-annotated', {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'c'}},
     lambda o: len(o['metadata']['annotations'][apply.APPLIED_CHECKSUM]) == 64),
]


@pytest.mark.parametrize('manifest,check', [c[1:] for c in PREPARE_CASES], ids=[c[0] for c in PREPARE_CASES])
def test_prepare(manifest, check):
    prepared = runner.prepare(manifest, 'glance', 'openstack')
    assert check(prepared), prepared
    assert runner.prepare(manifest, 'glance', 'openstack') == prepared


def test_job_name_follows_its_spec():
    other = json.loads(json.dumps(JOB))
    other['spec']['template']['spec']['containers'][0]['image'] = 'glance:new'
    assert runner.prepare(JOB, 'glance', 'openstack')['metadata']['name'] != runner.prepare(other, 'glance', 'openstack')['metadata']['name']


SECRET_VALUE = 'Zx9-very-secret-db-password'


def _b64(text):
    return base64.b64encode(text.encode()).decode()


MASK_CASES = [
    ('secret-data-masked', {'kind': 'Secret', 'data': {'glance-api.conf': _b64('password = %s' % SECRET_VALUE)}},
     {'kind': 'Secret', 'data': {'glance-api.conf': MASK}}),
    ('secret-stringdata-masked', {'kind': 'Secret', 'stringData': {'a': 'b'}}, {'kind': 'Secret', 'stringData': {'a': MASK}}),
    ('credential-in-env-scrubbed', {'kind': 'Job', 'spec': {'env': [{'name': 'X', 'value': 'pre-%s-post' % SECRET_VALUE}]}},
     {'kind': 'Job', 'spec': {'env': [{'name': 'X', 'value': 'pre-%s-post' % MASK}]}}),
    ('configmap-untouched', {'kind': 'ConfigMap', 'data': {'a': 'plain'}}, {'kind': 'ConfigMap', 'data': {'a': 'plain'}}),
    ('none', None, None),
]


@pytest.mark.parametrize('obj,shown', [c[1:] for c in MASK_CASES], ids=[c[0] for c in MASK_CASES])
def test_mask_object(obj, shown):
    assert runner.mask_object(obj, [SECRET_VALUE, '', 'ab']) == shown


def _config(text):
    return [{'kind': 'Secret', 'metadata': {'name': 'glance-config-controller'}, 'data': {'glance-api.conf': _b64(text)}},
            {'kind': 'Deployment', 'metadata': {'name': 'glance-api'}, 'spec': {'replicas': 1}}]


def test_config_checksum_follows_config_only():
    base = runner.config_checksum(_config('debug = false'))
    assert base == runner.config_checksum(_config('debug = false'))
    assert base != runner.config_checksum(_config('debug = true'))
    scaled = _config('debug = false')
    scaled[1]['spec']['replicas'] = 3
    assert base == runner.config_checksum(scaled)


WAIT_CASES = [
    ('config-phase-waits-nothing', {'name': 'config', 'wait': None}, ['Secret', 'ServiceAccount'], []),
    ('jobs', {'name': 'db-sync', 'wait': 'complete'}, ['Job'], ['Job']),
    ('workloads-without-services-and-pdbs', {'name': 'workloads', 'wait': 'ready'},
     ['Service', 'Deployment', 'PodDisruptionBudget', 'StatefulSet', 'DaemonSet'], ['Deployment', 'StatefulSet', 'DaemonSet']),
    ('wait-none', {'name': 'x', 'wait': 'none'}, ['Job'], []),
]


@pytest.mark.parametrize('phase,kinds,waited', [c[1:] for c in WAIT_CASES], ids=[c[0] for c in WAIT_CASES])
def test_wanted_waits(phase, kinds, waited):
    assert [o['kind'] for o in runner.wanted_waits(phase, [{'kind': k} for k in kinds])] == waited


def test_decode_secret_data():
    secret = {'data': {'A_PASSWORD': _b64('x y'), 'EMPTY': ''}, 'stringData': {'B_KEY': 'z'}}
    assert runner.decode_secret_data(secret) == {'A_PASSWORD': 'x y', 'EMPTY': '', 'B_KEY': 'z'}
