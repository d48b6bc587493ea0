"""playbooks/status.yml against a deployment made by a real site.yml run in the Kubernetes sandbox.

One deployment per module (mariadb, rabbitmq, memcached, keystone); every case runs the real
``ansible-playbook playbooks/status.yml`` and checks the screen, the JSON file and the sandbox's
own request log (a status run never writes to the API). The Galera case reaches real MariaDB
Galera members through the sandbox's pod exec, as galera_info does on a cluster; RabbitMQ has
no ``rabbitmqctl`` here, so its state must come out ``unknown`` with the reason, never healthy.
"""
import json
import os
import textwrap
import time

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
from harness.ansible_fixtures import run_ansible_playbook, write_inventory
from harness.galera import START_SCRIPT

pytestmark = pytest.mark.slow

NAMESPACE = 'openstack'
SERVICES = ['mariadb', 'rabbitmq', 'memcached', 'keystone']
HOSTS = {'openstack_control_plane': {'ctl-1': {}, 'ctl-2': {}, 'ctl-3': {}}}
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')
SCRIPTS_MOUNT = '/var/lib/openstack-k8s/scripts'


class Deployed(object):
    """The module's deployment and a way to run the status playbook against it."""

    def __init__(self, sandbox, etcd, directory):
        self.sandbox = sandbox
        self.directory = directory
        self.client = K8sClient({'kubeconfig': sandbox.kubeconfig})
        self.group_vars = {
            'openstack_namespace': NAMESPACE,
            'openstack_enabled_services': list(SERVICES),
            'openstack_etcd_endpoints': etcd.endpoints,
            'openstack_etcd_prefix': '/openstack',
            'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
            'openstack_service_wait_timeout': 120,
            'infrastructure_galera_hook': False,
        }
        self.runs = 0

    def playbook(self, playbook, skip_tags=None, **group_vars):
        self.runs += 1
        inventory = write_inventory(self.directory / ('inventory-%d' % self.runs), hosts=HOSTS,
                                    group_vars=dict(self.group_vars, **group_vars))
        self.sandbox.control.clear_request_log()
        result = run_ansible_playbook(playbook, inventory, skip_tags=skip_tags)
        result.writes = dict((verb, n) for verb, n in self.sandbox.control.counts_by_verb().items()
                             if verb in WRITE_VERBS and n)
        return result

    def status(self, **group_vars):
        group_vars.setdefault('status_json_path', str(self.directory / 'status.json'))
        result = self.playbook('playbooks/status.yml', **group_vars)
        path = group_vars['status_json_path']
        result.json = json.loads(open(path).read()) if os.path.exists(path) else None
        result.screen = screen(result.stdout)
        print('\n'.join(result.screen))
        return result

    def live(self, kind, name):
        return self.client.get('apps/v1', kind, name, NAMESPACE)

    def pods(self, prefix):
        items, _version = self.client.list('v1', 'Pod', namespace=NAMESPACE)
        return [p for p in items if p['metadata']['name'].startswith(prefix) and not p['metadata'].get('deletionTimestamp')]

    def wait(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, 'timed out waiting for ' + what
            time.sleep(0.1)


def screen(stdout):
    """The lines of the 'Show the status' task's message (the YAML result format of ansible.cfg)."""
    start = stdout.find('TASK [openstack_k8s.deploy.status : Show the status]')
    assert start >= 0, stdout[-3000:]
    block = stdout[start:stdout.find('TASK [', start + 10)]
    body = block[block.index('=>') + 2:]
    return yaml.safe_load(textwrap.dedent(body))['msg']


@pytest.fixture(scope='module', name='deployed')
def deployed_fixture(k8s_sandbox, etcd, tmp_path_factory):
    k8s_sandbox.reset()
    etcd.wipe()
    for hosts in HOSTS.values():
        for name in hosts:
            k8s_sandbox.control.add_node(name)
    dep = Deployed(k8s_sandbox, etcd, tmp_path_factory.mktemp('status'))
    site = dep.playbook('playbooks/site.yml', skip_tags=['host_prep'])
    assert site.rc == 0, site.explain()
    try:
        yield dep
    finally:
        k8s_sandbox.reset()
        etcd.wipe()


def service_row(result, name):
    rows = [line for line in result.screen if line.split()[:1] == [name]]
    assert len(rows) == 1, result.screen
    return rows[0]


def test_healthy_deployment_screen_matches_json_and_nothing_is_written(deployed):
    first = deployed.status(status_galera=False, status_rabbitmq=False)
    assert first.rc == 0, first.explain()
    report = first.json
    assert report['overall'] == 'healthy' and report['problems'] == [] and report['problem_pods'] == [], report
    assert [s['name'] for s in report['services']] == SERVICES
    assert report['galera']['state'] == 'disabled' and report['rabbitmq']['state'] == 'disabled'
    assert first.screen[0].startswith('deployment openstack: HEALTHY')
    for service in report['services']:
        assert service['state'] == 'ready' and service['pods_ready'] == service['pods_desired'] > 0, service
        row = service_row(first, service['name'])
        # The screen shows what the JSON holds: state, ready/desired, checksum and image tags.
        assert row.split()[1:3] == ['ready', '%d/%d' % (service['pods_ready'], service['pods_desired'])], row
        assert service['config_checksum'].replace('sha256:', '')[:12] in row, (row, service)
        assert all(image.rsplit('/', 1)[-1] in row for image in service['images']), (row, service)
    # ... and the JSON what the cluster holds.
    keystone = next(s for s in report['services'] if s['name'] == 'keystone')
    live = deployed.live('Deployment', 'keystone-api')
    assert keystone['config_checksum'] == live['spec']['template']['metadata']['annotations']['openstack-k8s.io/config-checksum']
    assert keystone['images'] == sorted(set(c['image'] for c in live['spec']['template']['spec']['containers']
                                            + live['spec']['template']['spec'].get('initContainers', [])))
    assert first.writes == {}, first.writes
    assert first.changed() == 1, first.explain()  # the new JSON file
    inode = os.stat(deployed.directory / 'status.json').st_ino
    second = deployed.status(status_galera=False, status_rabbitmq=False)
    assert second.rc == 0 and second.writes == {}, (second.writes, second.explain())
    # Rewritten (atomically: a new inode) with a fresh generated_at, but nothing changed.
    assert second.changed() == 0, second.explain()
    assert os.stat(deployed.directory / 'status.json').st_ino != inode
    assert dict(second.json, generated_at=None) == dict(report, generated_at=None)


def test_probes_that_cannot_run_are_unknown_not_healthy(deployed):
    result = deployed.status(status_fail_unhealthy=True)
    # The run fails at the very end, after the screen and the JSON file.
    assert result.rc != 0 and 'deployment unknown' in result.stdout, result.explain()
    report = result.json
    assert report['overall'] == 'unknown' and report['problems'] == [], report
    assert report['galera']['state'] == 'unknown' and report['galera']['healthy'] is None
    assert 'mariadb-server-0' in report['galera']['reason'] and 'exec' in report['galera']['reason'], report['galera']
    assert report['rabbitmq']['state'] == 'unknown' and report['rabbitmq']['healthy'] is None
    assert 'rabbitmqctl could not run' in report['rabbitmq']['reason'], report['rabbitmq']
    assert all(s['state'] == 'ready' for s in report['services'])
    assert any(line.startswith('Galera:') and 'unknown' in line for line in result.screen), result.screen
    assert any(line.startswith('RabbitMQ:') and 'unknown' in line for line in result.screen), result.screen
    assert result.writes == {}, result.writes


def _galera_exec_rules(cluster, client_cnf):
    """Each mariadb-server pod's exec runs locally in one real Galera member's directory."""
    client_cnf.write_text('[client]\nuser=%s\npassword=%s\n' % (cluster.admin_user, cluster.admin_password))
    client_cnf.chmod(0o600)
    return [{'namespace': NAMESPACE, 'name': 'mariadb-server-%d' % i, 'mode': 'local', 'workdir': str(member.dir), 'timeout': 60,
             'env': dict(member.start_script_env(), GALERA_CLIENT_DEFAULTS=str(client_cnf)),
             'path_map': {SCRIPTS_MOUNT: str(START_SCRIPT.parent)}}
            for i, member in enumerate(cluster.members)]


GALERA_CASES = [
    # (id, cluster, state, overall, reason, (local_state, cluster_status, cluster_size) of every member)
    ('all-synced', 'shared', 'healthy', 'healthy', '3 of 3 members Synced in a Primary Component of 3', ('Synced', 'Primary', 3)),
    # A full outage: no mariadbd runs. Exactly when operators look; the rest must still be shown.
    ('all-stopped', 'stopped', 'down', 'degraded', 'no member runs in a Primary Component (0 of 3 mariadbd running)',
     (None, None, None)),
]


@pytest.mark.galera
@pytest.mark.parametrize('which, state, overall, reason, member_state', [c[1:] for c in GALERA_CASES],
                         ids=[c[0] for c in GALERA_CASES])
def test_galera_state_read_through_pod_exec(deployed, request, tmp_path, which, state, overall, reason, member_state):
    if which == 'shared':
        cluster = request.getfixturevalue('galera_cluster')
    else:
        cluster = request.getfixturevalue('galera_cluster_factory')(3, start=False)
    deployed.sandbox.control.settings(exec=_galera_exec_rules(cluster, tmp_path / 'client.cnf'))
    try:
        result = deployed.status(status_rabbitmq=False)
    finally:
        deployed.sandbox.control.settings(exec=[])
    assert result.rc == 0, result.explain()
    galera = result.json['galera']
    assert galera['state'] == state and galera['healthy'] is (state == 'healthy'), galera
    assert galera['reason'].startswith(reason), galera
    assert [(m['name'], m['local_state'], m['cluster_status'], m['cluster_size'], m['error']) for m in galera['members']] == [
        ('mariadb-server-%d' % i,) + member_state + (None,) for i in range(3)]
    assert result.json['overall'] == overall
    assert [s['state'] for s in result.json['services']] == ['ready'] * len(SERVICES)
    assert any(line.startswith('Galera:') and state in line and reason in line for line in result.screen), result.screen
    assert result.writes == {}, result.writes


def _not_ready(deployed, prefix, phase):
    return [p for p in deployed.pods(prefix) if p.get('status', {}).get('phase') == phase and
            not any(c['type'] == 'Ready' and c['status'] == 'True' for c in p['status'].get('conditions') or [])]


def _recovered(deployed, replicas):
    return all((deployed.live(kind, name)['status'].get('readyReplicas') or 0) == n == deployed.live(kind, name)['status'].get('replicas')
               for kind, name, n in (('Deployment', 'keystone-api', replicas['keystone']),
                                     ('StatefulSet', 'memcached-server', replicas['memcached'])))


@pytest.fixture(scope='module', name='broken')
def broken_fixture(deployed):
    """One status run while keystone-api crash-loops and memcached is scaled up by one pod that does not start."""
    replicas = {'keystone': deployed.live('Deployment', 'keystone-api')['spec']['replicas'],
                'memcached': deployed.live('StatefulSet', 'memcached-server')['spec']['replicas']}
    new_pod = 'memcached-server-%d' % replicas['memcached']
    deployed.sandbox.control.settings(
        broken=[{'kind': 'Deployment', 'name': 'keystone-api', 'reason': 'CrashLoopBackOff'}],
        delays=[{'kind': 'Pod', 'name': new_pod, 'seconds': 3600}])
    deployed.client.patch('apps/v1', 'StatefulSet', 'memcached-server', {'spec': {'replicas': replicas['memcached'] + 1}},
                          namespace=NAMESPACE)
    try:
        deployed.wait(lambda: len(_not_ready(deployed, 'keystone-api-', 'Running')) == replicas['keystone'] and
                      len(_not_ready(deployed, new_pod, 'Pending')) == 1, 'the broken pods')
        result = deployed.status(status_galera=False, status_rabbitmq=False)
    finally:
        deployed.sandbox.control.settings(broken=[], delays=[])
        deployed.client.patch('apps/v1', 'StatefulSet', 'memcached-server', {'spec': {'replicas': replicas['memcached']}},
                              namespace=NAMESPACE)
        deployed.wait(lambda: _recovered(deployed, replicas), 'keystone-api and memcached-server to recover')
    assert result.rc == 0, result.explain()
    result.expected_pods = {'keystone': (replicas['keystone'], 0, replicas['keystone']),
                            'memcached': (1, replicas['memcached'], replicas['memcached'] + 1)}
    return result


BROKEN_CASES = [
    # (id, service, phase, reason, restarts, last Warning event (reason, message fragment) or None)
    ('crash-loop', 'keystone', 'Running', 'CrashLoopBackOff', 5, ('BackOff', 'Back-off restarting failed container')),
    ('scaled-not-started', 'memcached', 'Pending', 'ContainerCreating', 0, None),
]


@pytest.mark.parametrize('service, phase, reason, restarts, warning', [c[1:] for c in BROKEN_CASES],
                         ids=[c[0] for c in BROKEN_CASES])
def test_failing_pods_reported_with_their_last_events(broken, service, phase, reason, restarts, warning):
    count, ready, desired = broken.expected_pods[service]
    pods = '%d/%d' % (ready, desired)
    report = broken.json
    assert report['overall'] == 'degraded', report
    row = next(s for s in report['services'] if s['name'] == service)
    assert row['state'] == 'not ready' and len(row['problem_pods']) == count, row
    failing = [p for p in report['problem_pods'] if p['service'] == service]
    assert sorted(p['name'] for p in failing) == sorted(row['problem_pods'])
    for pod in failing:
        assert (pod['phase'], pod['reason'], pod['restarts']) == (phase, reason, restarts), pod
        warnings = [e for e in pod['events'] if e['type'] == 'Warning']
        if warning:
            assert warnings and warnings[-1]['reason'] == warning[0] and warning[1] in warnings[-1]['message'], pod
        else:
            assert warnings == [], pod
        # Every failing pod is on the screen with its reason, and its last events under it.
        at = next(i for i, line in enumerate(broken.screen) if line.strip().startswith(pod['name'] + ' '))
        assert '%s %s' % (pod['phase'], pod['reason']) in broken.screen[at]
        for offset, ev in enumerate(pod['events'], 1):
            assert broken.screen[at + offset].strip().startswith('%s %s %s: ' % (ev['time'], ev['type'], ev['reason']))
    assert service_row(broken, service).split()[1:4] == ['not', 'ready', pods]
    assert any(problem.startswith('%s: not ready (%s pods ready)' % (service, pods)) for problem in report['problems'])
    # The other services stay ready; only what is broken is reported.
    assert all(s['state'] == 'ready' for s in report['services'] if s['name'] not in ('keystone', 'memcached'))
    assert broken.writes == {}, broken.writes
