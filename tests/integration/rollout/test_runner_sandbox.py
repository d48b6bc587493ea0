"""The rollout engine against the Kubernetes sandbox and a real etcd.

Each test drives ``runner.run`` (what k8s_openstack_service runs) and checks the cluster
state and the sandbox's own request log, never the engine's word for it.
"""
import copy
import time

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient

pytestmark = pytest.mark.slow
SERVICES = ('memcached', 'keystone')
CHECKSUM = 'openstack-k8s.io/config-checksum'


def converge(deployment, *services, **overrides):
    result = runner.run(deployment.params(*(services or SERVICES), **overrides))
    assert not result.get('failed'), result.get('msg')
    return result


def template_checksum(deployment, kind, name):
    obj = deployment.live('apps/v1', kind, name)
    return obj['spec']['template']['metadata']['annotations'][CHECKSUM], obj['metadata']['resourceVersion']


def test_converge_then_second_run_sends_no_write(deployment):
    first = converge(deployment)
    assert first['changed'] and first['write_requests'] > 0
    assert deployment.live('apps/v1', 'Deployment', 'keystone-api')['status']['readyReplicas'] == 3
    assert deployment.live('apps/v1', 'StatefulSet', 'memcached-server')['status']['readyReplicas'] == 1
    jobs = [o['name'] for o in first['services']['keystone']['objects'] if o['kind'] == 'Job']
    assert len(jobs) == 3
    for job in jobs:
        assert deployment.live('batch/v1', 'Job', job)['status']['succeeded'] == 1
    deployment.sandbox.control.clear_request_log()
    second = converge(deployment)
    assert second['changed'] is False
    assert deployment.writes() == {}, deployment.sandbox.control.counts_by_verb()
    assert second['write_requests'] == 0
    assert all(o['action'] == 'noop' for s in second['services'].values() for o in s['objects'])
    assert second['services']['keystone']['checksum'] == first['services']['keystone']['checksum']


def test_config_change_rolls_only_that_service(deployment):
    first = converge(deployment)
    old_jobs = set(o['name'] for o in first['services']['keystone']['objects'] if o['kind'] == 'Job')
    memcached_before = deployment.live('apps/v1', 'StatefulSet', 'memcached-server')['metadata']['resourceVersion']
    keystone_sum, _rv = template_checksum(deployment, 'Deployment', 'keystone-api')
    deployment.set_option('controller', 'keystone', 'keystone.conf', 'DEFAULT', 'debug', 'true')
    deployment.sandbox.control.clear_request_log()
    result = converge(deployment)
    keystone = result['services']['keystone']
    changed = sorted((o['kind'], o['action']) for o in keystone['objects'] if o['action'] != 'noop')
    assert ('Deployment', 'update') in changed and ('Secret', 'update') in changed
    assert result['services']['memcached']['changed'] is False
    assert deployment.live('apps/v1', 'StatefulSet', 'memcached-server')['metadata']['resourceVersion'] == memcached_before
    new_sum, _rv = template_checksum(deployment, 'Deployment', 'keystone-api')
    assert new_sum != keystone_sum
    # Jobs that read keystone.conf (db-sync, bootstrap) are new Jobs; the old ones were pruned.
    # db-init reads only credentials and stays.
    new_jobs = set(o['name'] for o in keystone['objects'] if o['kind'] == 'Job')
    assert sorted(p['name'] for p in keystone['pruned']) == sorted(old_jobs - new_jobs)
    assert sorted(name.rsplit('-', 1)[0] for name in old_jobs - new_jobs) == ['keystone-bootstrap', 'keystone-db-sync']
    assert keystone['checksum'] != first['services']['keystone']['checksum']


def test_removed_component_is_pruned(deployment):
    keystone = copy.deepcopy(deployment.catalog['keystone'])
    extra = copy.deepcopy(keystone['components']['api'])
    extra['ports'] = [{'name': 'admin', 'port': 35357, 'service': 'keystone-admin', 'access': 'namespace'}]
    extra['replicas'] = 2
    keystone['components']['admin'] = extra
    converge(deployment, keystone, 'memcached')
    assert {'Deployment/keystone-admin', 'Service/keystone-admin', 'PodDisruptionBudget/keystone-admin',
            'ServiceAccount/keystone-admin', 'NetworkPolicy/keystone-admin'} <= set(deployment.owned('keystone'))
    result = converge(deployment, 'keystone', 'memcached')
    pruned = sorted('%s/%s' % (p['kind'], p['name']) for p in result['services']['keystone']['pruned'])
    assert pruned == ['Deployment/keystone-admin', 'NetworkPolicy/keystone-admin', 'PodDisruptionBudget/keystone-admin',
                      'Service/keystone-admin', 'ServiceAccount/keystone-admin']
    assert not [name for name in deployment.owned('keystone') if 'keystone-admin' in name]
    assert deployment.live('apps/v1', 'Deployment', 'keystone-api') is not None


def test_absent_removes_the_service_and_nothing_else(deployment):
    converge(deployment)
    result = runner.run(deployment.params('keystone', state='absent', etcd=None))
    assert result['changed'] and not result.get('failed')
    assert deployment.owned('keystone') == []
    assert deployment.owned('memcached') != []
    assert deployment.live('v1', 'Secret', 'openstack-credentials') is not None
    deployment.sandbox.control.clear_request_log()
    again = runner.run(deployment.params('keystone', state='absent', etcd=None))
    assert again['changed'] is False and deployment.writes() == {}


def test_never_ready_workload_times_out_naming_object_condition_status(deployment):
    deployment.sandbox.control.settings(broken=[{'kind': 'Deployment', 'name': 'keystone-api'}])
    started = time.monotonic()
    result = runner.run(deployment.params('keystone', wait_timeout=4))
    assert time.monotonic() - started < 30
    assert result['failed']
    assert result['wait']['object'] == {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': 'keystone-api', 'namespace': 'openstack'}
    assert 'Deployment rolled out' in result['wait']['condition']
    assert 'available=0' in result['wait']['last_status']
    assert 'pods: 3 Pending' in result['wait']['last_status'] and 'ImagePullBackOff' in result['wait']['last_status']
    assert 'Deployment openstack/keystone-api' in result['msg'] and 'last status' in result['msg']
    assert any('waiting for Deployment openstack/keystone-api' in line for line in result['failed_services']['keystone']['progress'])


def test_unschedulable_pods_are_named_on_timeout(deployment):
    """Pods that no node takes (no node has the compute label) are reported as such."""
    memcached = copy.deepcopy(deployment.catalog['memcached'])
    memcached['components']['server']['node_role'] = 'storage'
    result = runner.run(deployment.params(memcached, wait_timeout=3))
    assert result['failed'] and result['wait']['object']['name'] == 'memcached-server'
    assert 'Unschedulable' in result['wait']['last_status'], result['wait']


def test_failed_job_is_reported_at_once(deployment):
    deployment.sandbox.control.settings(job_failures=[{'kind': 'Job', 'name': 'keystone-db-sync-*'}])
    started = time.monotonic()
    result = runner.run(deployment.params('keystone', wait_timeout=60))
    assert time.monotonic() - started < 30
    assert result['failed'] and result['wait']['object']['name'].startswith('keystone-db-sync-')
    assert 'Failed=True' in result['wait']['last_status']
    # The workloads phase never started.
    assert deployment.live('apps/v1', 'Deployment', 'keystone-api') is None


def test_field_manager_conflict_names_field_and_manager(deployment):
    converge(deployment, 'keystone')
    other = K8sClient({'kubeconfig': deployment.sandbox.kubeconfig})
    other.apply({'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'keystone-api', 'namespace': 'openstack'},
                 'spec': {'replicas': 5}}, 'ops-team-hpa', force=True)
    result = runner.run(deployment.params('keystone'))
    assert result['failed']
    assert {'manager': 'ops-team-hpa', 'field': '.spec.replicas'} in [
        dict(manager=c['manager'], field=c['field']) for c in result['conflicts']]
    assert 'force_conflicts' in result['msg']
    forced = runner.run(deployment.params('keystone', force_conflicts=True))
    assert not forced.get('failed') and deployment.live('apps/v1', 'Deployment', 'keystone-api')['spec']['replicas'] == 3


def test_check_mode_persists_nothing(deployment):
    result = runner.run(deployment.params(*SERVICES), check_mode=True)
    assert not result.get('failed'), result.get('msg')
    assert result['changed']
    assert deployment.owned('keystone') == [] and deployment.owned('memcached') == []
    assert all(o['action'] == 'create' for s in result['services'].values() for o in s['objects'])


def test_check_mode_after_converge_predicts_no_change(deployment):
    converge(deployment)
    deployment.sandbox.control.clear_request_log()
    result = runner.run(deployment.params(*SERVICES), check_mode=True)
    assert result['changed'] is False and deployment.writes() == {}


def test_diff_masks_secret_data_and_credentials(deployment):
    result = converge(deployment, 'keystone')
    text = repr(result)
    for value in deployment.credentials.values():
        assert value not in text
    secrets_after = [o for o in result['services']['keystone']['diff']['after'] if o.get('kind') == 'Secret']
    assert secrets_after and all(v == '********' for o in secrets_after for v in o['data'].values())


def test_rollout_survives_injected_api_faults(deployment):
    deployment.sandbox.control.settings(faults=[{'rate': 0.25, 'responses': [503, 429, 500], 'retry_after': 0}], fault_seed=3)
    result = converge(deployment, 'keystone', api_retries=8)
    assert result['services']['keystone']['changed']
    deployment.sandbox.control.settings(faults=[])
    assert deployment.live('apps/v1', 'Deployment', 'keystone-api')['status']['readyReplicas'] == 3


def test_wave_services_roll_out_concurrently(deployment):
    """Two independent services (glance and placement both need only keystone, not given here)
    whose workloads take 3 s each: together ~3 s, not ~6 s."""
    deployment.sandbox.control.settings(ready_delay=3.0, job_delay=0.1)
    glance_alone = converge(deployment, 'glance')['elapsed']
    placement_alone = converge(deployment, 'placement')['elapsed']
    runner.run(deployment.params('glance', 'placement', state='absent', etcd=None))
    together = converge(deployment, 'glance', 'placement')
    serial = glance_alone + placement_alone
    assert together['elapsed'] < 0.75 * serial, (together['elapsed'], glance_alone, placement_alone)
    assert max(s['start'] for s in together['schedule']) < 1.0, together['schedule']


def test_service_info_reports_readiness_images_endpoints_checksum(deployment):
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import info
    result = converge(deployment)
    report = info.summarize(info.collect(deployment.client, 'openstack'), 'openstack', only=['keystone', 'memcached', 'glance'])
    keystone = report['keystone']
    assert keystone['ready'] and (keystone['replicas_ready'], keystone['replicas_desired']) == (3, 3)
    assert keystone['images'] == ['quay.io/openstack.kolla/keystone:2026.2-ubuntu-noble']
    assert {'service': 'keystone-api', 'port_name': 'api', 'port': 5000, 'host': 'keystone-api.openstack.svc.cluster.local',
            'url': 'keystone-api.openstack.svc.cluster.local:5000'} in keystone['endpoints']
    assert [j['complete'] for j in keystone['jobs']] == [True, True, True]
    deployment_obj = deployment.live('apps/v1', 'Deployment', 'keystone-api')
    assert keystone['config_checksum'] == deployment_obj['spec']['template']['metadata']['annotations'][CHECKSUM]
    assert report['memcached']['ready']
    assert report['glance']['missing'] and not report['glance']['ready']
    assert result['services']['keystone']['objects']
    deployment.sandbox.control.settings(broken=[{'kind': 'Deployment', 'name': 'keystone-api'}])
    deployment.client.patch('apps/v1', 'Deployment', 'keystone-api', {'spec': {'replicas': 4}}, namespace='openstack')
    later = info.summarize(info.collect(deployment.client, 'openstack'), 'openstack', only=['keystone'])['keystone']
    assert not later['ready'] and later['replicas_desired'] == 4


@pytest.mark.parametrize('settings', [
    {'watch_drop_after': 0.3},     # streams cut without a clean end: re-read, re-watch
    {'history_size': 1},           # resourceVersions expire at once: 410 Expired, re-read
], ids=['watch-dropped', 'watch-expired'])
def test_wait_survives_broken_watches(deployment, settings):
    deployment.sandbox.control.settings(ready_delay=1.5, job_delay=0.5, **settings)
    result = converge(deployment, 'keystone', wait_timeout=60)
    assert deployment.live('apps/v1', 'Deployment', 'keystone-api')['status']['readyReplicas'] == 3
    waited = result['services']['keystone']['waited']
    assert [w['object']['kind'] for w in waited] == ['Job', 'Job', 'Job', 'Deployment']
