"""Prune planning: which live objects of a service go, and in which order."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import prune

OURS = {'app.kubernetes.io/managed-by': 'openstack_k8s.deploy', 'app.kubernetes.io/name': 'glance'}


def obj(kind, name, labels=None, api='v1', deleting=False):
    meta = {'name': name, 'namespace': 'openstack', 'labels': dict(OURS if labels is None else labels)}
    if deleting:
        meta['deletionTimestamp'] = '2026-11-23T18:00:00Z'
    return {'apiVersion': api, 'kind': kind, 'metadata': meta}


RENDERED = [obj('Secret', 'glance-config'), obj('Deployment', 'glance-api', api='apps/v1'), obj('Service', 'glance-api'),
            obj('Job', 'glance-db-sync-1a2b3c4d', api='batch/v1')]

CASES = [
    ('nothing-extra', RENDERED, []),
    ('old-job-version', RENDERED + [obj('Job', 'glance-db-sync-00000000', api='batch/v1')], ['Job/glance-db-sync-00000000']),
    ('removed-component-in-delete-order', RENDERED + [
        obj('Service', 'glance-registry'), obj('ConfigMap', 'glance-registry-extra'),
        obj('Deployment', 'glance-registry', api='apps/v1'), obj('PodDisruptionBudget', 'glance-registry', api='policy/v1'),
        obj('ServiceAccount', 'glance-registry')],
     ['Deployment/glance-registry', 'PodDisruptionBudget/glance-registry', 'Service/glance-registry',
      'ServiceAccount/glance-registry', 'ConfigMap/glance-registry-extra']),
    ('other-service-never', RENDERED + [obj('Deployment', 'nova-api', dict(OURS, **{'app.kubernetes.io/name': 'nova'}), 'apps/v1')], []),
    ('unmanaged-never', RENDERED + [obj('Deployment', 'glance-hack', {'app.kubernetes.io/name': 'glance'}, 'apps/v1')], []),
    ('pvc-kept', RENDERED + [obj('PersistentVolumeClaim', 'glance-images')], []),
    ('already-deleting-skipped', RENDERED + [obj('Deployment', 'glance-old', api='apps/v1', deleting=True)], []),
    ('same-name-other-kind-goes', RENDERED + [obj('ConfigMap', 'glance-config')], ['ConfigMap/glance-config']),
    ('disabled-service-everything', RENDERED, None),
]


@pytest.mark.parametrize('live,expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_prune(live, expected):
    rendered = RENDERED if expected is not None else []
    planned = prune.plan_prune(live, rendered, 'glance')
    names = ['%s/%s' % (ref['kind'], ref['name']) for ref in planned]
    if expected is None:
        # state=absent renders nothing: every object goes, workloads before config
        assert names == ['Deployment/glance-api', 'Job/glance-db-sync-1a2b3c4d', 'Service/glance-api', 'Secret/glance-config']
    else:
        assert names == expected
    for ref in planned:
        assert set(ref) == {'apiVersion', 'kind', 'name', 'namespace'}


def test_selector_names_manager_and_service():
    assert prune.service_selector('nova') == 'app.kubernetes.io/managed-by=openstack_k8s.deploy,app.kubernetes.io/name=nova'


def test_one_selector_for_a_wave():
    assert prune.services_selector(['nova', 'glance']) == (
        'app.kubernetes.io/managed-by=openstack_k8s.deploy,app.kubernetes.io/name in (glance,nova)')
