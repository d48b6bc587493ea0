"""A service whose pods never become ready: site.yml stops at that service, says which object,
which condition and its last status, and never touches what comes after it.

tests/integration/rollout/test_site_playbook.py breaks the last wave (keystone) and checks
the message; here an infrastructure wave breaks (RabbitMQ, in a crash loop) and the request
log proves that nothing of the next wave (Keystone) nor the release record was written. Then
an OpenStack service breaks inside the dependency rollout (one module call for all of them):
the services already running finish, the one that needs it is never started nor written.
"""
import pytest

pytestmark = pytest.mark.slow


def test_never_ready_service_stops_the_run_before_later_waves(site):
    site.sandbox.control.settings(broken=[{'kind': 'StatefulSet', 'name': 'rabbitmq-server', 'reason': 'CrashLoopBackOff'}])
    result = site.run(openstack_service_wait_timeout=4)
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    for fragment in ('StatefulSet openstack/rabbitmq-server', 'timed out after', 'last status', 'CrashLoopBackOff'):
        assert fragment in output, (fragment, result.explain())
    written = sorted(set((e['resource'], e['name'] or '') for e in result.writes))
    names = [name for _resource, name in written]
    # The broken wave itself was written (it is what timed out) ...
    assert any(n.startswith('rabbitmq') for n in names), written
    assert any(n.startswith('mariadb') for n in names), written
    # Creates name no object in their path: only the namespace and the credentials Secret are created so.
    assert set(resource for resource, name in written if not name) <= {'namespaces', 'secrets'}, written
    # ... and nothing after it: no object of the keystone wave, no release record.
    assert not [n for n in names if n.startswith('keystone')], written
    assert ('configmaps', 'openstack-release') not in written, written
    assert site.live('apps/v1', 'Deployment', 'keystone-api') is None


def test_never_ready_openstack_service_stops_what_needs_it(site):
    # keystone -> glance, placement, horizon (together) -> nova (needs glance and placement).
    site.sandbox.control.settings(broken=[{'kind': 'Deployment', 'name': 'placement-api', 'reason': 'CrashLoopBackOff'}])
    result = site.run(openstack_service_wait_timeout=4,
                      openstack_enabled_services=['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance', 'placement',
                                                  'horizon', 'nova'])
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    for fragment in ('Deployment openstack/placement-api', 'timed out after', 'last status', 'CrashLoopBackOff',
                     'not started: nova (needs placement)'):
        assert fragment in output, (fragment, result.explain())
    names = sorted(set(e['name'] or '' for e in result.writes))
    # keystone and the services running next to placement were rolled out ...
    assert any(n.startswith('placement') for n in names), names
    for kind, name in (('Deployment', 'keystone-api'), ('StatefulSet', 'glance-api'), ('Deployment', 'horizon-server')):
        assert site.live('apps/v1', kind, name)['status'].get('readyReplicas'), name
    # ... nova, which needs placement, was never touched, nor the release record.
    assert not [n for n in names if n.startswith('nova')], names
    assert 'openstack-release' not in names, names
