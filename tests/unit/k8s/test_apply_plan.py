"""The apply decision: when is an object sent, and as what."""
import base64
import copy

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import apply
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError

MANAGED = [{'manager': apply.FIELD_MANAGER, 'operation': 'Apply', 'apiVersion': 'apps/v1', 'fieldsType': 'FieldsV1', 'fieldsV1': {}}]


def deployment(**overrides):
    obj = {
        'apiVersion': 'apps/v1', 'kind': 'Deployment',
        'metadata': {'name': 'keystone-api', 'namespace': 'openstack',
                     'labels': {'app.kubernetes.io/name': 'keystone', 'app.kubernetes.io/managed-by': 'openstack_k8s.deploy'}},
        'spec': {'replicas': 2, 'selector': {'matchLabels': {'app.kubernetes.io/name': 'keystone'}},
                 'template': {'metadata': {'labels': {'app.kubernetes.io/name': 'keystone'},
                                           'annotations': {'openstack-k8s.io/config-checksum': 'abc'}},
                              'spec': {'containers': [{'name': 'api', 'image': 'keystone:2026.2',
                                                       'ports': [{'containerPort': 5000}],
                                                       'resources': {'requests': {'cpu': '1', 'memory': '256Mi'}},
                                                       'env': [{'name': 'A', 'value': '1'}]}],
                                       'volumes': [{'name': 'config', 'secret': {'secretName': 'keystone-config'}}]}}}}
    for path, value in overrides.items():
        node = obj
        keys = path.split('.')
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    return obj


def as_served(desired, mutate=None, managed=True):
    """What a real API server returns after applying ``desired``: defaults, server metadata."""
    live = copy.deepcopy(desired)
    meta = live['metadata']
    meta.update(uid='0b8c', resourceVersion='42', generation=1, creationTimestamp='2026-11-23T18:00:00Z')
    if managed:
        meta['managedFields'] = copy.deepcopy(MANAGED)
    if live['kind'] == 'Deployment':
        spec = live['spec']
        spec.update(revisionHistoryLimit=10, progressDeadlineSeconds=600,
                    strategy={'type': 'RollingUpdate', 'rollingUpdate': {'maxSurge': '25%', 'maxUnavailable': '25%'}})
        pod = spec['template']['spec']
        pod.update(restartPolicy='Always', dnsPolicy='ClusterFirst', schedulerName='default-scheduler',
                   terminationGracePeriodSeconds=30, securityContext={})
        for container in pod['containers']:
            container.update(imagePullPolicy='IfNotPresent', terminationMessagePath='/dev/termination-log',
                             terminationMessagePolicy='File')
            for port in container.get('ports', []):
                port.setdefault('protocol', 'TCP')
        for volume in pod.get('volumes', []):
            if 'secret' in volume:
                volume['secret'].setdefault('defaultMode', 420)
        live['status'] = {'replicas': 2}
    if mutate:
        mutate(live)
    return live


def desired_of(obj):
    return apply.normalize(obj)


def _set(path, value):
    def mutate(live):
        node = live
        keys = path.split('.')
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[keys[-1]] = value
    return mutate


def _other_manager_adds_env(live):
    live['spec']['template']['spec']['containers'][0]['env'].append({'name': 'INJECTED', 'value': 'sidecar'})


def _canonical_quantity(live):
    live['spec']['template']['spec']['containers'][0]['resources']['requests'].update(cpu='1000m', memory='268435456')


def _old_checksum(live):
    live['metadata']['annotations'][apply.APPLIED_CHECKSUM] = 'an-older-manifest'


def _deleting(live):
    live['metadata']['deletionTimestamp'] = '2026-11-23T18:01:00Z'


JOB = {'apiVersion': 'batch/v1', 'kind': 'Job',
       'metadata': {'name': 'keystone-db-sync', 'namespace': 'openstack'},
       'spec': {'backoffLimit': 4, 'template': {'spec': {'restartPolicy': 'OnFailure',
                                                         'containers': [{'name': 'db-sync', 'image': 'keystone:2026.2',
                                                                         'command': ['keystone-manage', 'db_sync']}]}}}}


def _job_served(desired):
    def mutate(live):
        template_meta = live['spec']['template'].setdefault('metadata', {})
        template_meta['labels'] = {'batch.kubernetes.io/job-name': 'keystone-db-sync', 'controller-uid': '0b8c'}
        live['spec']['selector'] = {'matchLabels': {'batch.kubernetes.io/controller-uid': '0b8c'}}
        live['spec'].update(completions=1, parallelism=1, completionMode='NonIndexed', suspend=False)
        live['status'] = {'succeeded': 1, 'conditions': [{'type': 'Complete', 'status': 'True'}]}
    return as_served(desired, mutate)


def _job_with(command):
    job = copy.deepcopy(JOB)
    job['spec']['template']['spec']['containers'][0]['command'] = command
    return job


def served(mutate=None, managed=True):
    return lambda desired: as_served(desired, mutate, managed)


def previous_rendering(manifest):
    """The live copy is what an earlier run applied from ``manifest``."""
    return lambda desired: as_served(desired_of(manifest))


def job_served(manifest=None):
    return lambda desired: _job_served(desired_of(manifest) if manifest else desired)


CASES = [
    # (id, desired manifest, live object built from the normalized desired one, action, reason fragment)
    ('absent-is-created', deployment(), lambda desired: None, apply.CREATE, 'does not exist'),
    ('served-with-defaults-is-noop', deployment(), served(), apply.NOOP, 'up to date'),
    ('quantities-canonicalised-by-server-is-noop', deployment(), served(_canonical_quantity), apply.NOOP, 'up to date'),
    ('other-manager-added-list-element-is-noop', deployment(), served(_other_manager_adds_env), apply.NOOP, 'up to date'),
    ('someone-scaled-it-is-update', deployment(), served(_set('spec.replicas', 5)), apply.UPDATE, 'spec.replicas'),
    ('someone-changed-image-is-update', deployment(), served(_set('spec.template.spec.containers.0.image', 'keystone:evil')),
     apply.UPDATE, 'containers[name=api].image'),
    ('config-checksum-changed-is-update',
     deployment(**{'spec.template.metadata.annotations': {'openstack-k8s.io/config-checksum': 'new'}}),
     previous_rendering(deployment()), apply.UPDATE, 'config-checksum'),
    ('field-dropped-by-us-is-update', deployment(), served(_old_checksum), apply.UPDATE, 'fields we send changed'),
    ('created-by-someone-else-is-update', deployment(), served(managed=False), apply.UPDATE, 'not yet managed'),
    ('being-deleted-is-recreated', deployment(), served(_deleting), apply.RECREATE, 'being deleted'),
    ('job-same-spec-is-noop', JOB, job_served(), apply.NOOP, 'up to date'),
    ('job-changed-spec-is-recreated', _job_with(['keystone-manage', 'db_sync', '--expand']), job_served(JOB), apply.RECREATE,
     'immutable spec changed: spec.template.spec.containers[name=db-sync].command'),
    ('secret-stringdata-is-compared-as-data', {'apiVersion': 'v1', 'kind': 'Secret',
                                               'metadata': {'name': 'keystone-config', 'namespace': 'openstack'},
                                               'stringData': {'keystone.conf': '[DEFAULT]\n'}}, served(), apply.NOOP, 'up to date'),
    ('secret-content-changed-is-update', {'apiVersion': 'v1', 'kind': 'Secret',
                                          'metadata': {'name': 'keystone-config', 'namespace': 'openstack'},
                                          'stringData': {'keystone.conf': '[DEFAULT]\ndebug = true\n'}},
     served(lambda live: live['data'].update({'keystone.conf': base64.b64encode(b'[DEFAULT]\n').decode()})),
     apply.UPDATE, 'data.keystone.conf'),
]


@pytest.mark.parametrize('manifest,make_live,action,reason', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_object(manifest, make_live, action, reason):
    desired = desired_of(manifest)
    got_action, got_reason = apply.plan_object(desired, make_live(desired))
    assert got_action == action, got_reason
    assert reason in got_reason


def test_normalize_is_stable_and_checksum_covers_content():
    first = apply.normalize(deployment())
    again = apply.normalize(first)
    assert first == again
    other = apply.normalize(deployment(**{'spec.replicas': 3}))
    assert first['metadata']['annotations'][apply.APPLIED_CHECKSUM] != other['metadata']['annotations'][apply.APPLIED_CHECKSUM]


def test_normalize_folds_string_data():
    secret = apply.normalize({'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 's'},
                              'stringData': {'a.conf': 'x=1'}, 'data': {'b': base64.b64encode(b'y').decode()}})
    assert 'stringData' not in secret
    assert secret['data'] == {'a.conf': base64.b64encode(b'x=1').decode(), 'b': base64.b64encode(b'y').decode()}


CONFLICT_BODY = {
    'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'reason': 'Conflict', 'code': 409,
    'message': 'Apply failed with 2 conflicts: conflict with "kubectl-edit" using apps/v1: .spec.replicas\n'
               'conflict with "helm" using apps/v1: .spec.template.spec.containers[name="api"].image',
    'details': {'name': 'keystone-api', 'group': 'apps', 'kind': 'deployments', 'causes': [
        {'reason': 'FieldManagerConflict', 'message': 'conflict with "kubectl-edit" using apps/v1', 'field': '.spec.replicas'},
        {'reason': 'FieldManagerConflict', 'message': 'conflict with "helm" using apps/v1',
         'field': '.spec.template.spec.containers[name="api"].image'}]}}


def test_parse_conflicts_names_fields_and_managers():
    err = K8sError(CONFLICT_BODY['message'], status=409, reason='Conflict', body=CONFLICT_BODY)
    assert apply.parse_conflicts(err) == [
        {'manager': 'kubectl-edit', 'field': '.spec.replicas', 'message': 'conflict with "kubectl-edit" using apps/v1'},
        {'manager': 'helm', 'field': '.spec.template.spec.containers[name="api"].image',
         'message': 'conflict with "helm" using apps/v1'}]


def test_parse_conflicts_without_causes_reads_the_message():
    err = K8sError('Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.x', status=409, body={})
    assert [c['manager'] for c in apply.parse_conflicts(err)] == ['kubectl']


def test_project_keeps_only_what_we_send():
    desired = desired_of(deployment())
    live = as_served(desired)
    shown = apply.project(live, desired)
    assert 'status' not in shown and 'uid' not in shown['metadata']
    assert shown['spec']['template']['spec']['containers'][0]['image'] == 'keystone:2026.2'
    assert 'imagePullPolicy' not in shown['spec']['template']['spec']['containers'][0]
