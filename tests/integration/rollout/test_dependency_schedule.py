"""One ``runner.run`` call for several dependent services, against the sandbox and a real etcd.

Each service starts as soon as the services it depends on are ready (no wave barrier), and a
failure stops everything not started yet. Claims are read from the sandbox's request log.
The dependency graphs are the catalog's services with ``depends_on``/``after`` set by the
table, so that a slow or failing service sits where the case needs it.
"""
import copy

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner

pytestmark = pytest.mark.slow
WRITES = ('create', 'update', 'patch', 'apply', 'delete')
SERVICES = ('mariadb', 'memcached', 'rabbitmq', 'keystone', 'glance', 'horizon')


def with_edges(deployment, name, depends_on=(), after=()):
    entry = copy.deepcopy(deployment.catalog[name])
    entry['depends_on'], entry['after'] = list(depends_on), list(after)
    return entry


def first_writes(deployment):
    """{service: seconds of its first write} from the sandbox's request log (objects are named after their service)."""
    found = {}
    for entry in deployment.sandbox.control.request_log():
        if (entry['apply'] or entry['verb'] in WRITES) and not entry['dry_run'] and entry['name']:
            for service in SERVICES:
                if entry['name'].startswith(service + '-'):
                    found.setdefault(service, entry['ts'])
    return found


def test_a_service_starts_when_its_own_dependencies_are_ready_not_a_whole_wave(deployment):
    # Waves: [mariadb], [memcached, rabbitmq], [keystone]. rabbitmq takes 8 s; keystone needs only
    # mariadb and memcached, so it starts long before rabbitmq is ready.
    deployment.sandbox.control.settings(delays=[{'name': 'rabbitmq-server', 'seconds': 8}])
    services = [with_edges(deployment, 'mariadb'), with_edges(deployment, 'memcached', after=['mariadb']),
                with_edges(deployment, 'rabbitmq', after=['mariadb']),
                with_edges(deployment, 'keystone', depends_on=['mariadb', 'memcached'])]
    result = runner.run(deployment.params(*services))
    assert not result.get('failed'), result.get('msg')
    first = first_writes(deployment)
    assert first['mariadb'] < first['memcached'] and first['mariadb'] < first['rabbitmq']
    assert first['memcached'] < first['keystone'] < first['rabbitmq'] + 6, first
    schedule = dict((s['name'], s) for s in result['schedule'])
    assert schedule['keystone']['start'] < schedule['rabbitmq']['end']
    assert schedule['keystone']['waits_for'] == ['mariadb', 'memcached']
    assert result['not_started'] == [] and sorted(result['services']) == ['keystone', 'mariadb', 'memcached', 'rabbitmq']
    assert deployment.live('apps/v1', 'Deployment', 'keystone-api')['status']['readyReplicas'] == 3
    # A no-op re-run of the whole graph writes nothing.
    deployment.sandbox.control.clear_request_log()
    again = runner.run(deployment.params(*services))
    assert not again.get('failed') and again['changed'] is False and deployment.writes() == {}


# memcached -> keystone -> glance, and memcached -> mariadb (6 s) -> rabbitmq (6 s) -> horizon:
# keystone fails while mariadb runs (case 1) or while rabbitmq runs (case 2).
@pytest.mark.parametrize('failure, wait_timeout, object_name, status, finished, not_started, message', [
    # keystone's db-sync Job fails at once, while mariadb is still starting: mariadb finishes; rabbitmq
    # and horizon need nothing that failed but may start only later: held back. glance needs keystone.
    ({'job_failures': [{'kind': 'Job', 'name': 'keystone-db-sync-*'}]}, 60, 'keystone-db-sync-', 'Failed=True',
     ['mariadb', 'memcached'], ['glance', 'horizon', 'rabbitmq'],
     'not started: glance (needs keystone), horizon (held back after the failure), '
     'rabbitmq (held back after the failure)'),
    # keystone's pods never become ready: its wait times out after 9 s, while rabbitmq (started at
    # about 6 s, ready at about 12 s, 3 s before its own timeout) runs: rabbitmq finishes, horizon is held back.
    ({'broken': [{'kind': 'Deployment', 'name': 'keystone-api'}]}, 9, 'keystone-api', 'ImagePullBackOff',
     ['mariadb', 'memcached', 'rabbitmq'], ['glance', 'horizon'],
     'not started: glance (needs keystone), horizon (held back after the failure)'),
], ids=['job-fails', 'never-ready'])
def test_a_failure_stops_dependents_and_unstarted_services(deployment, failure, wait_timeout, object_name,
                                                           status, finished, not_started, message):
    deployment.sandbox.control.settings(delays=[{'name': 'mariadb-server', 'seconds': 6},
                                                {'name': 'rabbitmq-server', 'seconds': 6}], **failure)
    services = [with_edges(deployment, 'memcached'), with_edges(deployment, 'keystone', depends_on=['memcached']),
                with_edges(deployment, 'mariadb', after=['memcached']), with_edges(deployment, 'rabbitmq', after=['mariadb']),
                with_edges(deployment, 'glance', depends_on=['keystone']),
                with_edges(deployment, 'horizon', depends_on=['rabbitmq'])]
    result = runner.run(deployment.params(*services, wait_timeout=wait_timeout))
    assert result['failed'] and sorted(result['failed_services']) == ['keystone'], result.get('msg')
    # The failure is reported as for a single service: object, condition, last status.
    assert result['wait']['object']['name'].startswith(object_name), result['wait']
    assert result['wait']['condition'] and status in result['wait']['last_status'], result['wait']
    assert result['msg'].startswith('keystone: ') and 'last status' in result['msg'], result['msg']
    assert result['not_started'] == not_started
    assert message in result['msg'], result['msg']
    # Nothing of a service not started reached the API server; those already running finished.
    first = first_writes(deployment)
    assert not set(not_started) & set(first), first
    assert sorted(result['services']) == finished
    for name in finished:
        assert result['services'][name]['changed'] is True
    states = dict((s['name'], s['state']) for s in result['schedule'])
    assert states == dict([(n, 'ready') for n in finished] + [(n, 'waiting') for n in not_started] + [('keystone', 'failed')])
