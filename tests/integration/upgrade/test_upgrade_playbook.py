"""playbooks/upgrade.yml against the Kubernetes sandbox, a real etcd and a real MariaDB (the backup).

One deployment per module (site.yml at 2025.2 with mariadb, rabbitmq, memcached, keystone,
glance, placement, nova), then, in file order (the tests share that cloud): refusals before
any write, the module's check mode, an upgrade to 2026.1 that stops at a failing migration
Job and resumes after the fault is cleared, and a re-run of the finished upgrade. Every
claim about writes and order is read from the sandbox's own request log.
"""
import json
import pathlib
import uuid

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[3]
SERVICES = ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance', 'placement', 'nova']
HOSTS = {'openstack_control_plane': {'ctl-1': {}}, 'openstack_compute': {'cmp-1': {}}, 'openstack_network': {'net-1': {}}}
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')
WORKLOAD_RESOURCES = ('deployments.apps', 'statefulsets.apps', 'daemonsets.apps')
OLD, NEW = '2025.2', '2026.1'
ENCRYPTION_KEY = 'test-only passphrase ' + uuid.uuid4().hex
RELEASES = yaml.safe_load((REPO / 'roles/catalog/files/releases.yml').read_text())
ORDER = [name for name in RELEASES['upgrade_order'] if name in SERVICES]


class Cloud(object):
    """The deployed cloud and the ways to run playbooks against it."""

    def __init__(self, sandbox, etcd, mariadb_server, workdir):
        self.sandbox = sandbox
        self.client = K8sClient({'kubeconfig': sandbox.kubeconfig})
        self.workdir = workdir
        database = 'upgrade_%s' % uuid.uuid4().hex[:8]
        mariadb_server.create_database(database, database, uuid.uuid4().hex)
        self.backups = workdir / 'backups'
        self.group_vars = {
            'openstack_namespace': 'openstack',
            'openstack_release': OLD,
            'openstack_enabled_services': SERVICES,
            'openstack_etcd_endpoints': etcd.endpoints,
            'openstack_etcd_prefix': '/upgrade-%s' % uuid.uuid4().hex[:8],
            'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
            'openstack_service_wait_timeout': 60,
            'galera_replicas': 1,
            # galera_info/galera_bootstrap need pod exec of galera-start.sh, which the sandbox
            # cannot run (the Galera role has its own tests against real mariadbd).
            'infrastructure_galera_hook': False,
            # The backup before the upgrade: a real MariaDB, the etcd tree, the credentials Secret.
            'openstack_backup_root': str(self.backups),
            'openstack_backup_encryption_key': ENCRYPTION_KEY,
            'backup_db_host': '127.0.0.1', 'backup_db_port': mariadb_server.port,
            'backup_db_user': mariadb_server.admin_user, 'backup_db_password': mariadb_server.admin_password,
            'backup_databases': [database], 'backup_require_galera': False,
            'backup_script_path': str(workdir / 'bin' / 'openstack-backup.sh'),
        }
        self.log = []

    def run(self, run_playbook, make_inventory, playbook, **extra_vars):
        inventory = make_inventory(hosts=HOSTS, group_vars=self.group_vars)
        self.sandbox.control.clear_request_log()
        result = run_playbook(playbook, inventory, extra_vars=extra_vars or None, skip_tags=['host_prep'])
        result.log = self.sandbox.control.request_log()
        result.writes = [(e['verb'] if not e['apply'] else 'apply', e['resource'], e['name']) for e in result.log
                         if (e['apply'] or e['verb'] in WRITE_VERBS) and not e['dry_run']]
        self.log.extend(result.log)
        return result

    def record(self):
        configmap = self.client.get('v1', 'ConfigMap', 'openstack-release', 'openstack')
        return None if configmap is None else configmap['data']

    def images(self):
        """{workload name: [images]} of every workload in the namespace."""
        out = {}
        for api_version, kind in (('apps/v1', 'Deployment'), ('apps/v1', 'StatefulSet'), ('apps/v1', 'DaemonSet')):
            items, _version = self.client.list(api_version, kind, namespace='openstack')
            for item in items:
                pod = item['spec']['template']['spec']
                out[item['metadata']['name']] = sorted(c['image'] for c in pod.get('initContainers', []) + pod['containers'])
        return out


@pytest.fixture(scope='module')
def cloud(k8s_sandbox, etcd, mariadb_server, tmp_path_factory):
    from harness.ansible_fixtures import run_ansible_playbook, write_inventory
    k8s_sandbox.reset()
    for hosts in HOSTS.values():
        for name in hosts:
            k8s_sandbox.control.add_node(name)
    workdir = tmp_path_factory.mktemp('upgrade')
    deployed = Cloud(k8s_sandbox, etcd, mariadb_server, workdir)
    deployed.make_inventory = lambda hosts, group_vars: write_inventory(workdir / 'inventory', hosts, group_vars)
    deployed.run_playbook = run_ansible_playbook
    first = deployed.run(run_ansible_playbook, deployed.make_inventory, 'playbooks/site.yml')
    assert first.rc == 0, first.explain()
    assert deployed.record() == {'release': OLD}
    yield deployed
    k8s_sandbox.reset()


def run(cloud, playbook, **extra_vars):
    return cloud.run(cloud.run_playbook, cloud.make_inventory, playbook, **extra_vars)


@pytest.mark.parametrize('playbook, release, message', [
    ('playbooks/upgrade.yml', '2026.2', '2025.2 -> 2026.2 skips 2026.1, which is not a supported upgrade path'),
    ('playbooks/upgrade.yml', '2025.1', 'downgrades are not supported'),
    ('playbooks/site.yml', NEW, 'openstack_release is 2026.1 but the cloud runs 2025.2'),
], ids=['skip', 'downgrade', 'site-changed-release'])
def test_refused_before_any_write(cloud, playbook, release, message):
    images = cloud.images()
    result = run(cloud, playbook, openstack_release=release)
    assert result.rc != 0, result.explain()
    assert message in ' '.join(result.output.split()), result.explain()
    assert result.writes == [], result.writes
    assert cloud.record() == {'release': OLD}
    assert cloud.images() == images
    assert not cloud.backups.exists() or not any(cloud.backups.iterdir()), 'no backup before a refused upgrade'


def test_check_mode_plans_every_step_without_writing(cloud):
    """The module in check mode (called in-process, no playbook): the plan, no write, the record unchanged."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
    node_roles = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
    catalog = cat.load_directory(str(REPO / 'roles/catalog/files/services'), node_roles)
    params = dict(kubeconfig=cloud.sandbox.kubeconfig, release=NEW, releases=RELEASES['releases'],
                  services=[catalog[name] for name in ORDER], namespace='openstack',
                  etcd=dict(endpoints=cloud.group_vars['openstack_etcd_endpoints'],
                            prefix=cloud.group_vars['openstack_etcd_prefix']),
                  credentials_secret='openstack-credentials', variables={'node_roles': node_roles},
                  replicas={'mariadb': {'server': 1}}, wait_timeout=60, force_conflicts=False)
    cloud.sandbox.control.clear_request_log()
    result = runner.run_upgrade(params, check_mode=True)
    assert result['changed'] and result['action'] == 'upgrade' and result['write_requests'] == 0, result
    assert result['plan'][:2] == ['mariadb/server', 'mariadb/converge'] and result['plan'][-1] == 'nova/converge'
    assert 'keystone/db-expand' in result['plan'] and result['diff']['after'] == {'release': NEW}
    log = cloud.sandbox.control.request_log()
    assert not [e for e in log if e['apply'] or e['verb'] in WRITE_VERBS], log
    assert cloud.record() == {'release': OLD}


def _first_writes(log, resources):
    """{object name: ts} of the first real (not dry-run) apply of each object of ``resources``."""
    first = {}
    for entry in log:
        if entry['apply'] and not entry['dry_run'] and entry['resource'] in resources:
            first.setdefault(entry['name'], entry['ts'])
    return first


def _service_of(name):
    return max((s for s in SERVICES if name.startswith(s + '-')), key=len, default=None)


def test_failed_migration_stops_and_rerun_resumes_in_upstream_order(cloud):
    before = cloud.images()
    assert before and all(':%s-' % OLD in image for images in before.values() for image in images), before
    cloud.log = []
    cloud.sandbox.control.settings(job_failures=[{'kind': 'Job', 'name': 'glance-db-expand-*'}])
    failed = run(cloud, 'playbooks/upgrade.yml', openstack_release=NEW)
    assert failed.rc != 0, failed.explain()
    output = ' '.join(failed.output.split())
    assert 'glance/db-expand failed' in output, failed.explain()
    assert 're-run playbooks/upgrade.yml -e openstack_release=2026.1: it resumes at glance/db-expand' in output
    record = cloud.record()
    assert record['release'] == OLD and record['target'] == NEW and record['from'] == OLD
    completed = json.loads(record['completed'])
    assert completed[:2] == ['mariadb/server', 'mariadb/converge'] and 'keystone/converge' in completed
    assert not [step for step in completed if step.startswith(('glance/', 'placement/', 'nova/'))], completed
    assert json.loads(record['failed'])['step'] == 'glance/db-expand'
    # The migration failed, so Glance's workloads were not rolled; Keystone's were.
    halfway = cloud.images()
    assert all(':%s-' % OLD in image for image in halfway['glance-api']), halfway['glance-api']
    assert all(':%s-' % NEW in image for image in halfway['keystone-api']), halfway['keystone-api']
    # The backup was taken before the first write of the upgrade, of the old release.
    manifest = json.loads((cloud.backups / ('before-upgrade-%s-to-%s' % (OLD, NEW)) / 'manifest.json').read_text())
    assert manifest['release'] == OLD

    # site.yml cannot run in the middle of an upgrade, whatever the release.
    guarded = run(cloud, 'playbooks/site.yml', openstack_release=NEW)
    assert guarded.rc != 0 and 'an upgrade from 2025.2 to 2026.1 is in progress' in ' '.join(guarded.output.split())
    assert guarded.writes == [], guarded.writes

    cloud.sandbox.control.settings(job_failures=[])
    resumed = run(cloud, 'playbooks/upgrade.yml', openstack_release=NEW)
    assert resumed.rc == 0, resumed.explain()
    assert cloud.record() == {'release': NEW}
    assert 'steps finished before (skipped): %d' % len(completed) in resumed.stdout, resumed.stdout
    # Nothing of the services finished before the failure was written again.
    rewritten = [name for _verb, resource, name in resumed.writes if resource != 'configmaps'
                 and _service_of(name) in ('mariadb', 'rabbitmq', 'memcached', 'keystone')]
    assert rewritten == [], rewritten
    after = cloud.images()
    assert sorted(after) == sorted(before)
    assert all(':%s-' % NEW in image for images in after.values() for image in images), after

    # The order, from the request log of both runs: services in the upstream order, and each
    # service's migration Jobs before its workloads roll.
    workloads = _first_writes(cloud.log, WORKLOAD_RESOURCES)
    jobs = _first_writes(cloud.log, ('jobs.batch',))
    rolled = dict((service, min(ts for name, ts in workloads.items() if _service_of(name) == service)) for service in ORDER)
    assert sorted(ORDER, key=rolled.get) == ORDER, rolled
    for service in ORDER:
        mine = [name for name in workloads if _service_of(name) == service]
        assert mine and len(mine) == len([n for n in before if _service_of(n) == service]), (service, mine)
        migrations = [(name, ts) for name, ts in jobs.items()
                      if _service_of(name) == service and name.split(service + '-', 1)[1].startswith('db-expand')]
        if service in ('keystone', 'glance', 'placement', 'nova'):
            assert migrations, (service, sorted(jobs))
            assert max(ts for _name, ts in migrations) < rolled[service], (service, migrations, rolled[service])
    # Glance's failed expand Job was run again from scratch by the resumed run.
    glance_expand = [e for e in resumed.log if e['resource'] == 'jobs.batch' and (e['name'] or '').startswith('glance-db-expand-')]
    assert [e['verb'] for e in glance_expand if e['verb'] == 'delete'] and \
        [e for e in glance_expand if e['apply'] and not e['dry_run']], glance_expand


def test_rerun_of_finished_upgrade_changes_nothing(cloud):
    assert cloud.record() == {'release': NEW}
    again = run(cloud, 'playbooks/upgrade.yml', openstack_release=NEW)
    assert again.rc == 0, again.explain()
    assert again.changed() == 0, again.explain()
    assert again.writes == [], again.writes
    assert 'the cloud already runs 2026.1' in again.stdout
    # converge left exactly what site.yml renders at the new release: every Job of the new
    # images Complete, the migration Jobs and their NetworkPolicies pruned.
    jobs, _version = cloud.client.list('batch/v1', 'Job', namespace='openstack')
    assert jobs and all(':%s-' % NEW in c['image'] for job in jobs for c in job['spec']['template']['spec']['containers'])
    assert not [j['metadata']['name'] for j in jobs if '-db-expand-' in j['metadata']['name']
                or '-db-migrate-' in j['metadata']['name'] or '-db-contract-' in j['metadata']['name']]
    policies, _version = cloud.client.list('networking.k8s.io/v1', 'NetworkPolicy', namespace='openstack')
    assert not [p['metadata']['name'] for p in policies if p['metadata']['name'].endswith('-upgrade-jobs')]
