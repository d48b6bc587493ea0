"""playbooks/scale.yml against the Kubernetes sandbox and a real etcd, with real ansible-playbook runs.

One deployment (mariadb, rabbitmq, memcached, keystone, rolled out by site.yml) is shared by the
module: the refusals must leave it untouched (zero write requests in the sandbox's own request
log), and the scale flow runs in order on it: check mode, the scale, its re-run, then site.yml.
"""
import base64

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient

pytestmark = pytest.mark.slow

CORE = ['mariadb', 'rabbitmq', 'memcached', 'keystone']
HOSTS = {'openstack_control_plane': {'ctl-1': {}, 'ctl-2': {}, 'ctl-3': {}},
         'openstack_compute': {'cmp-1': {}}, 'openstack_network': {'net-1': {}}}
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')
NAMESPACE = 'openstack'


class Cloud(object):
    """The shared deployment and ansible-playbook runs against it."""

    def __init__(self, sandbox, etcd, tmp_path):
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.runs = 0
        self.client = K8sClient({'kubeconfig': sandbox.kubeconfig})
        self.group_vars = {
            'openstack_namespace': NAMESPACE,
            'openstack_enabled_services': list(CORE),
            'openstack_etcd_endpoints': etcd.endpoints,
            'openstack_etcd_prefix': '/openstack',
            'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
            'openstack_service_wait_timeout': 120,
            # galera_bootstrap execs galera-start.sh in the pods, which the sandbox cannot run;
            # the Galera role and galera_bootstrap's scale steps have their own tests on real mariadbd.
            'infrastructure_galera_hook': False,
        }

    def run(self, playbook, extra_vars=None, check=False, diff=False, **group_vars):
        from harness.ansible_fixtures import run_ansible_playbook, write_inventory
        self.runs += 1
        # One inventory directory, as an operator has: the report writes clouds.yaml next to it.
        inventory = write_inventory(self.tmp_path / 'inventory', hosts=HOSTS,
                                    group_vars=dict(self.group_vars, **group_vars))
        self.sandbox.control.clear_request_log()
        skip = ['host_prep'] if playbook.endswith('site.yml') else None
        result = run_ansible_playbook(playbook, inventory, extra_vars=extra_vars, check=check, diff=diff, skip_tags=skip)
        log = self.sandbox.control.request_log()
        result.writes = sorted(set((e['verb'] if not e['apply'] else 'apply', e['resource'], e['name'], e['dry_run'])
                                   for e in log if e['apply'] or e['verb'] in WRITE_VERBS))
        result.real_writes = [w for w in result.writes if not w[3]]
        return result

    def scale(self, service, component, replicas, **kwargs):
        return self.run('playbooks/scale.yml', extra_vars={'service': service, 'component': component,
                                                           'replicas': replicas}, **kwargs)

    def live(self, api_version, kind, name):
        return self.client.get(api_version, kind, name, NAMESPACE)

    def record(self):
        config_map = self.live('v1', 'ConfigMap', 'openstack-scale')
        return None if config_map is None else config_map.get('data') or {}


@pytest.fixture(scope='module', name='cloud')
def cloud_fixture(k8s_sandbox, etcd, tmp_path_factory):
    """site.yml rolled out once on a fresh sandbox and etcd, shared by every test of the module."""
    k8s_sandbox.reset()
    etcd.wipe()
    for hosts in HOSTS.values():
        for name in hosts:
            k8s_sandbox.control.add_node(name)
    cloud = Cloud(k8s_sandbox, etcd, tmp_path_factory.mktemp('scale'))
    result = cloud.run('playbooks/site.yml')
    assert result.rc == 0, result.explain()
    assert cloud.live('apps/v1', 'Deployment', 'keystone-api')['spec']['replicas'] == 3
    yield cloud
    k8s_sandbox.reset()
    etcd.wipe()


REFUSALS = [
    # (case, service, component, replicas, inventory group vars, what the message must say)
    ('galera-even', 'mariadb', 'server', 4, {},
     ['galera replicas must be odd (2n+1) to keep a quorum, got 4: set 3 or 5']),
    ('unknown-service', 'nvoa', 'api', 3, {}, ['service nvoa is not in the catalog; known: barbican, cinder, designate', ' nova, nova-compute, ']),
    ('unknown-component', 'keystone', 'admin', 3, {}, ['keystone has no component admin; its components: api']),
    ('compute-daemonset', 'nova-compute', 'compute', 3, {},
     ['nova-compute compute is a DaemonSet', 'openstack-k8s.io/compute=enabled',
      'add hosts to the inventory group openstack_compute', 'site.yml --tags cluster_nodes']),
    ('inventory-pin', 'keystone', 'api', 2, {'openstack_replicas': {'keystone': {'api': 3}}},
     ['the inventory pins keystone api to 3 (openstack_replicas.keystone.api)',
      'set openstack_replicas.keystone.api to 2 in the inventory and run site.yml instead']),
]


@pytest.mark.parametrize('case, service, component, replicas, group_vars, expected', REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_bad_request_is_refused_before_any_write(cloud, case, service, component, replicas, group_vars, expected):
    del case
    result = cloud.scale(service, component, replicas, **group_vars)
    output = ' '.join(result.output.split())
    assert result.rc != 0, result.explain()
    for fragment in expected:
        assert fragment in output, result.explain()
    assert result.writes == [], result.writes
    assert cloud.live('apps/v1', 'Deployment', 'keystone-api')['spec']['replicas'] == 3


def test_scale_is_recorded_idempotent_and_kept_by_site(cloud):
    # Check mode shows the change (the record's diff) and writes nothing, not even a dry run of the record.
    check = cloud.scale('keystone', 'api', 2, check=True, diff=True)
    assert check.rc == 0, check.explain()
    assert check.changed('localhost') > 0
    assert '+keystone.api: "2"' in check.stdout, check.explain()
    assert check.real_writes == [], check.writes
    assert cloud.record() is None
    assert cloud.live('apps/v1', 'Deployment', 'keystone-api')['spec']['replicas'] == 3

    scaled = cloud.scale('keystone', 'api', 2)
    assert scaled.rc == 0, scaled.explain()
    assert cloud.record() == {'keystone.api': '2'}
    keystone = cloud.live('apps/v1', 'Deployment', 'keystone-api')
    assert (keystone['spec']['replicas'], keystone['status']['readyReplicas']) == (2, 2), keystone['status']
    assert 'keystone api: 3 -> 2 replicas' in ' '.join(scaled.stdout.split())
    # Two writes: the record (created) and keystone's Deployment; nothing else was touched.
    expected = [('apply', 'deployments.apps', 'keystone-api'), ('create', 'configmaps', None)]
    assert sorted(w[:3] for w in scaled.real_writes) == expected, scaled.real_writes

    again = cloud.scale('keystone', 'api', 2)
    assert again.rc == 0, again.explain()
    assert again.changed() == 0, again.explain()
    assert again.writes == [], again.writes

    # The next converge keeps the scale: nothing to change, nothing written.
    site = cloud.run('playbooks/site.yml')
    assert site.rc == 0, site.explain()
    assert cloud.live('apps/v1', 'Deployment', 'keystone-api')['spec']['replicas'] == 2
    assert site.changed() == 0 and site.writes == [], site.explain()

    # A quorum service goes through the infrastructure role; the record keeps both entries.
    galera = cloud.scale('mariadb', 'server', 5)
    assert galera.rc == 0, galera.explain()
    mariadb = cloud.live('apps/v1', 'StatefulSet', 'mariadb-server')
    assert (mariadb['spec']['replicas'], mariadb['status']['readyReplicas']) == (5, 5), mariadb['status']
    assert cloud.record() == {'keystone.api': '2', 'mariadb.server': '5'}
    assert sorted(w[2] for w in galera.real_writes) == ['mariadb-server', 'openstack-scale'], galera.real_writes

    # The inventory is stronger than the record: a pin wins at the next converge.
    pinned = cloud.run('playbooks/site.yml', openstack_replicas={'keystone': {'api': 3}})
    assert pinned.rc == 0, pinned.explain()
    assert cloud.live('apps/v1', 'Deployment', 'keystone-api')['spec']['replicas'] == 3
    assert cloud.record() == {'keystone.api': '2', 'mariadb.server': '5'}
    assert cloud.live('apps/v1', 'StatefulSet', 'mariadb-server')['spec']['replicas'] == 5


def test_in_cluster_etcd_grows(cloud):
    # New members join by themselves, one learner at a time (its start script, run for real in
    # tests/integration/etcd/test_incluster_etcd.py); the template's REPLICAS follows the count.
    with_etcd = dict(openstack_enabled_services=CORE + ['etcd'])
    deployed = cloud.run('playbooks/site.yml', **with_etcd)
    assert deployed.rc == 0, deployed.explain()
    grown = cloud.scale('etcd', 'server', 5, **with_etcd)
    assert grown.rc == 0, grown.explain()
    etcd = cloud.live('apps/v1', 'StatefulSet', 'etcd-server')
    assert (etcd['spec']['replicas'], etcd['status']['readyReplicas']) == (5, 5), etcd['status']
    env = dict((e['name'], e.get('value')) for e in etcd['spec']['template']['spec']['containers'][0]['env'])
    assert env['REPLICAS'] == '5', env
    assert 'etcd server: 3 -> 5 replicas' in ' '.join(grown.stdout.split())


def test_memcached_scale_reaches_its_clients(cloud):
    # Every service lists the Memcached members by name (MEMCACHED_SERVERS): scale.yml writes the
    # new list and rolls the services that read it, as reconfigure.yml would.
    def keystone_conf():
        secrets, _version = cloud.client.list('v1', 'Secret', NAMESPACE)
        texts = [base64.b64decode(v).decode() for s in secrets if s['metadata']['name'].startswith('keystone')
                 for k, v in (s.get('data') or {}).items() if k == 'keystone.conf']
        assert len(texts) == 1, [s['metadata']['name'] for s in secrets]
        return texts[0]

    def servers():
        line = next(row for row in keystone_conf().splitlines() if row.startswith('memcache_servers = '))
        return sorted(name.split('.')[0] for name in line.split(' = ', 1)[1].split(','))

    def template():
        return cloud.live('apps/v1', 'Deployment', 'keystone-api')['spec']['template']['metadata']['annotations']

    assert servers() == ['memcached-server-0']  # the catalog's one member
    before = template()
    grown = cloud.scale('memcached', 'server', 3)
    assert grown.rc == 0, grown.explain()
    assert cloud.live('apps/v1', 'StatefulSet', 'memcached-server')['spec']['replicas'] == 3
    assert servers() == ['memcached-server-0', 'memcached-server-1', 'memcached-server-2']
    assert template() != before  # the config checksum moved: keystone's pods roll
    again = cloud.scale('memcached', 'server', 3)
    assert again.rc == 0 and again.changed() == 0 and again.writes == [], again.explain()
    back = cloud.scale('memcached', 'server', 1)
    assert back.rc == 0, back.explain()
    assert servers() == ['memcached-server-0'] and template() == before


def claims(cloud, prefix):
    items, _version = cloud.client.list('v1', 'PersistentVolumeClaim', NAMESPACE)
    return sorted(c['metadata']['name'] for c in items if c['metadata']['name'].startswith(prefix))


@pytest.fixture(name='exec_rules')
def exec_rules_fixture(cloud):
    """Pod exec rules for one test; the sandbox's own rules come back after it."""
    before = cloud.sandbox.control.settings().get('exec', [])

    def use(*rules):
        cloud.sandbox.control.settings(exec=before + list(rules))
    yield use
    cloud.sandbox.control.settings(exec=before)


def test_rabbitmq_members_leave_one_at_a_time(cloud, exec_rules, tmp_path):
    # Three real RabbitMQ 3.10 nodes behind the three rabbitmq-server pods: every rabbitmqctl and
    # rabbitmq-queues the scale runs in a pod reaches that pod's node.
    from harness.rabbitmq import RabbitCluster
    names = ['rabbitmq-server-%d' % n for n in range(3)]
    with RabbitCluster(names, base_dir=str(tmp_path)) as mq:
        exec_rules(mq.exec_rule(NAMESPACE))
        nodes = dict((name, mq.members[name].node) for name in names)
        mq.declare_quorum_queue('scale-test')
        assert sorted(mq.quorum_members('scale-test')) == sorted(nodes.values())
        assert claims(cloud, 'data-rabbitmq-server-') == ['data-rabbitmq-server-%d' % n for n in range(3)]

        # Check mode names the members that would leave, in order, and changes nothing anywhere.
        check = cloud.scale('rabbitmq', 'server', 1, check=True, diff=True)
        assert check.rc == 0, check.explain()
        assert check.real_writes == [], check.writes
        output = ' '.join(check.stdout.split())
        assert output.index(nodes['rabbitmq-server-2']) < output.index(nodes['rabbitmq-server-1']), check.explain()
        assert sorted(mq.cluster_status()['running_nodes']) == sorted(nodes.values())
        del mq.argv()[:]

        scaled = cloud.scale('rabbitmq', 'server', 1)
        assert scaled.rc == 0, scaled.explain()
        status = mq.cluster_status('rabbitmq-server-0')
        assert status['disk_nodes'] == [nodes['rabbitmq-server-0']], status
        assert mq.quorum_members('scale-test') == [nodes['rabbitmq-server-0']]
        # Highest ordinal first, one member at a time: its queue replicas off, its app stopped, forgotten.
        changes = [line for line in mq.argv() if any(w in line for w in ('shrink', 'stop_app', 'forget_cluster_node'))]
        assert changes == [
            'rabbitmq-server-0 rabbitmq-queues --quiet shrink %s' % nodes['rabbitmq-server-2'],
            'rabbitmq-server-2 rabbitmqctl --quiet stop_app',
            'rabbitmq-server-0 rabbitmqctl --quiet forget_cluster_node %s' % nodes['rabbitmq-server-2'],
            'rabbitmq-server-0 rabbitmq-queues --quiet shrink %s' % nodes['rabbitmq-server-1'],
            'rabbitmq-server-1 rabbitmqctl --quiet stop_app',
            'rabbitmq-server-0 rabbitmqctl --quiet forget_cluster_node %s' % nodes['rabbitmq-server-1'],
        ], changes
        sts = cloud.live('apps/v1', 'StatefulSet', 'rabbitmq-server')
        assert (sts['spec']['replicas'], sts['status']['readyReplicas']) == (1, 1), sts['status']
        # The departed members' volumes are gone: a later scale-up starts those ordinals empty.
        assert claims(cloud, 'data-rabbitmq-server-') == ['data-rabbitmq-server-0']
        assert cloud.record()['rabbitmq.server'] == '1'

        again = cloud.scale('rabbitmq', 'server', 1)
        assert again.rc == 0 and again.changed() == 0 and again.writes == [], again.explain()


def test_in_cluster_etcd_members_leave_one_at_a_time(cloud, exec_rules, tmp_path):
    # After test_in_cluster_etcd_grows: five real etcd members behind the five etcd-server pods.
    from harness.etcd import EtcdCluster
    with_etcd = dict(openstack_enabled_services=CORE + ['etcd'])
    names = ['etcd-server-%d' % n for n in range(5)]
    assert cloud.live('apps/v1', 'StatefulSet', 'etcd-server')['spec']['replicas'] == 5
    with EtcdCluster(names, base_dir=str(tmp_path)) as etcd:
        exec_rules(etcd.exec_rule(NAMESPACE))
        etcd.put('/kept', 'yes')
        ids = etcd.member_ids()

        check = cloud.scale('etcd', 'server', 3, check=True, **with_etcd)
        assert check.rc == 0 and check.real_writes == [], check.explain()
        assert sorted(m['name'] for m in etcd.members_list()) == names

        scaled = cloud.scale('etcd', 'server', 3, **with_etcd)
        assert scaled.rc == 0, scaled.explain()
        assert sorted(m['name'] for m in etcd.members_list()) == names[:3]
        # The highest ordinal first, through a member that stays (a refusal while the cluster settles is asked again).
        removes = sorted(set(' '.join(line.split()[:4]) for line in etcd.argv() if ' remove ' in line),
                         key=lambda line: min(i for i, seen in enumerate(etcd.argv()) if seen.startswith(line)))
        assert removes == ['etcd-server-0 member remove %s' % ids['etcd-server-%d' % n] for n in (4, 3)], etcd.argv()
        assert not etcd.running('etcd-server-4') and not etcd.running('etcd-server-3')
        assert etcd.get('/kept') == 'yes'
        sts = cloud.live('apps/v1', 'StatefulSet', 'etcd-server')
        assert (sts['spec']['replicas'], sts['status']['readyReplicas']) == (3, 3), sts['status']
        assert claims(cloud, 'data-etcd-server-') == ['data-etcd-server-%d' % n for n in range(3)]

        again = cloud.scale('etcd', 'server', 3, **with_etcd)
        assert again.rc == 0 and again.changed() == 0 and again.writes == [], again.explain()
