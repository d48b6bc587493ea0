"""playbooks/reconfigure.yml against the Kubernetes sandbox and a real etcd, with real ansible-playbook runs.

One deployment per module (site.yml of mariadb, rabbitmq, memcached, keystone, glance and
placement); each test starts from it and leaves it as it found it, except that the apply
test leaves its glance override in place (the tests after it include it). Writes are
asserted from the sandbox's own request log and etcd's own write counters.
"""
import base64

import pytest

from harness.ansible_fixtures import run_ansible_playbook, write_inventory

pytestmark = pytest.mark.slow

SERVICES = ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance', 'placement']
HOSTS = {'openstack_control_plane': {'ctl-1': {}, 'ctl-2': {}, 'ctl-3': {}}}
PREFIX = '/openstack'
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')
GLANCE_CONF = 'controller/glance/glance-api.conf'
# The keys the apply test changes; every later run keeps them so the deployment stays converged.
GLANCE_DEBUG = {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'debug': True}}}}}
WORKLOADS = [('Deployment', 'keystone-api'), ('Deployment', 'placement-api'), ('StatefulSet', 'glance-api'),
             ('StatefulSet', 'mariadb-server'), ('StatefulSet', 'rabbitmq-server'), ('StatefulSet', 'memcached-server')]


def merged(*trees):
    out = {}
    for tree in trees:
        for role, services in tree.items():
            for service, files in services.items():
                for fname, sections in files.items():
                    for section, keys in sections.items():
                        out.setdefault(role, {}).setdefault(service, {}).setdefault(fname, {}) \
                            .setdefault(section, {}).update(keys)
    return out


class Deployed(object):
    def __init__(self, sandbox, etcd, directory):
        self.sandbox = sandbox
        self.etcd = etcd
        self.directory = directory
        self.group_vars = {
            'openstack_namespace': 'openstack',
            'openstack_enabled_services': list(SERVICES),
            'openstack_etcd_endpoints': etcd.endpoints,
            'openstack_etcd_prefix': PREFIX,
            'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
            'openstack_service_wait_timeout': 120,
            'galera_replicas': 3,
            # galera_bootstrap needs a pod exec of galera-start.sh, which the sandbox cannot run.
            'infrastructure_galera_hook': False,
        }
        self.runs = 0

    def run(self, playbook='playbooks/reconfigure.yml', check=False, diff=False, **group_vars):
        self.runs += 1
        inventory = write_inventory(self.directory / ('inventory-%d' % self.runs), hosts=HOSTS,
                                    group_vars=dict(self.group_vars, **group_vars))
        self.sandbox.control.clear_request_log()
        etcd_before = self.etcd.write_requests()
        result = run_ansible_playbook(playbook, inventory, check=check, diff=diff, skip_tags=['host_prep'])
        etcd_after = self.etcd.write_requests()
        result.etcd_writes = dict((k, etcd_after[k] - etcd_before[k]) for k in etcd_after if etcd_after[k] != etcd_before[k])
        counts = self.sandbox.control.counts_by_verb()
        result.writes = dict((v, n) for v, n in counts.items() if v in WRITE_VERBS)
        result.written = sorted(set((e['verb'] if not e['apply'] else 'apply', e['resource'], e['name'])
                                    for e in self.sandbox.control.request_log()
                                    if (e['apply'] or e['verb'] in WRITE_VERBS) and not e['dry_run']))
        return result

    def live(self, api_version, kind, name):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
        return K8sClient({'kubeconfig': self.sandbox.kubeconfig}).get(api_version, kind, name, 'openstack')

    def template(self, kind, name):
        obj = self.live('apps/v1', kind, name)
        return obj['metadata']['resourceVersion'], obj['spec']['template']['metadata']['annotations']

    def credentials(self):
        secret = self.live('v1', 'Secret', 'openstack-credentials')
        return [base64.b64decode(v).decode() for v in secret['data'].values()]

    def key(self, relative):
        return self.etcd.dump(PREFIX + '/' + relative).get(PREFIX + '/' + relative)

    def put(self, relative, value):
        with self.etcd.client() as cli:
            cli.put(PREFIX + '/' + relative, value)


@pytest.fixture(name='deployed', scope='module')
def deployed_fixture(k8s_sandbox, etcd, tmp_path_factory):
    k8s_sandbox.reset()
    etcd.wipe()
    for name in HOSTS['openstack_control_plane']:
        k8s_sandbox.control.add_node(name)
    dep = Deployed(k8s_sandbox, etcd, tmp_path_factory.mktemp('reconfigure'))
    site = dep.run('playbooks/site.yml')
    assert site.rc == 0, site.explain()
    yield dep
    etcd.wipe()
    k8s_sandbox.reset()


def test_check_diff_previews_each_key_masks_secrets_and_writes_nothing(deployed):
    password_key = GLANCE_CONF + '/keystone_authtoken/password'
    # A plaintext password written into etcd by hand: the run replaces it with the reference,
    # and neither the diff nor any other output may show it.
    hand_written = 'Hand-Written-Plaintext-7f3a'
    deployed.put(password_key, hand_written)
    secret = deployed.live('v1', 'Secret', 'glance-config-controller')
    overrides = merged({'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'show_image_direct_url': True}}}}})
    try:
        result = deployed.run(check=True, diff=True, openstack_config_overrides=overrides)
    finally:
        deployed.put(password_key, '$GLANCE_KEYSTONE_PASSWORD')
    assert result.rc == 0, result.explain()
    out = ' '.join(result.output.split())
    assert 'updated %s/DEFAULT/show_image_direct_url: False -> True' % GLANCE_CONF in out, result.explain()
    assert 'updated %s: ******** -> $GLANCE_KEYSTONE_PASSWORD' % password_key in out, result.explain()
    assert 'would roll: glance' in out, result.explain()
    assert hand_written not in result.output
    for value in deployed.credentials():
        assert value not in result.output
    # Nothing written: only dry runs reached the API server, no etcd write RPC.
    assert result.written == [], result.written
    assert result.etcd_writes == {}, result.etcd_writes
    assert deployed.key(GLANCE_CONF + '/DEFAULT/show_image_direct_url') == 'False'
    assert deployed.live('v1', 'Secret', 'glance-config-controller')['data'] == secret['data']


def test_override_rolls_only_glance_then_rerun_writes_nothing(deployed):
    before = dict(((kind, name), deployed.template(kind, name)) for kind, name in WORKLOADS)
    result = deployed.run(openstack_config_overrides=GLANCE_DEBUG)
    assert result.rc == 0, result.explain()
    assert deployed.key(GLANCE_CONF + '/DEFAULT/debug') == 'True'
    # Only glance's objects were written: its config Secret, its StatefulSet, its re-versioned db-sync Job.
    assert result.written and all(name.startswith('glance') for _verb, _resource, name in result.written), result.written
    assert ('apply', 'statefulsets.apps', 'glance-api') in result.written, result.written
    assert ('apply', 'secrets', 'glance-config-controller') in result.written, result.written
    version, annotations = deployed.template('StatefulSet', 'glance-api')
    old_version, old_annotations = before[('StatefulSet', 'glance-api')]
    key = 'openstack-k8s.io/config-checksum'
    assert annotations[key] != old_annotations[key] and version != old_version
    for (kind, name), state in before.items():
        if name != 'glance-api':
            assert deployed.template(kind, name) == state, name
    flat = ' '.join(result.stdout.split())
    assert 'rolled: glance' in flat and '%s/DEFAULT/debug' % GLANCE_CONF in flat, result.explain()
    assert 'glance: config checksum %s -> %s' % (old_annotations[key][:12], annotations[key][:12]) in flat
    assert 'Apply the services keystone' not in flat and 'Apply the services mariadb' not in flat

    again = deployed.run(openstack_config_overrides=GLANCE_DEBUG)
    assert again.rc == 0, again.explain()
    assert again.changed() == 0, again.explain()
    assert again.writes == {} and again.etcd_writes == {}, (again.writes, again.etcd_writes)
    assert 'rolled: none' in ' '.join(again.stdout.split()), again.explain()


BAD_OVERRIDES = merged(GLANCE_DEBUG, {'controller': {
    'glancee': {'glance-api.conf': {'DEFAULT': {'debug': True}}},
    'glance': {'glance.conf': {'DEFAULT': {'debug': True}},
               'glance-api.conf': {'keystone_authtoken': {'password': 'Literal-Keystone-Pw-91c2'},
                                   'database': {'connection': 'mysql+pymysql://glance:Literal-Db-Pw-55e1@db.example/glance'}}}}})

REFUSED = [
    # (id, group vars, fragments the failure must contain, plaintext that must appear nowhere)
    # The config_tree filter reports every problem of the overrides at once, before etcd is written.
    ('bad overrides', {'openstack_config_overrides': BAD_OVERRIDES},
     ["openstack_config_overrides: controller/glancee: unknown service 'glancee'",
      'openstack_config_overrides: controller/glance/glance.conf: glance writes no file glance.conf',
      '%s/keystone_authtoken/password: refusing to store a plaintext secret' % GLANCE_CONF,
      '%s/database/connection: refusing to store a URL with a plaintext password' % GLANCE_CONF, '$GLANCE_DB_PASSWORD'],
     ['Literal-Keystone-Pw-91c2', 'Literal-Db-Pw-55e1']),
    # reconfigure.yml neither deploys nor removes a service: refused before the config role runs.
    ('services differ from the deployed ones',
     {'openstack_enabled_services': ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance', 'horizon']},
     ['openstack_enabled_services lists horizon, which has no configuration under /openstack',
      'run playbooks/site.yml to add it',
      'openstack_enabled_services does not list placement, which is deployed',
      'reconfigure.yml does not remove services'], []),
]


@pytest.mark.parametrize('group_vars,fragments,plaintext', [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_override_is_refused_before_any_write(deployed, group_vars, fragments, plaintext):
    group_vars = dict({'openstack_config_overrides': GLANCE_DEBUG}, **group_vars)
    result = deployed.run(**group_vars)
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    for fragment in fragments:
        assert fragment in output, result.explain()
    for value in plaintext:
        assert value not in result.output
    assert result.writes == {} and result.etcd_writes == {}, (result.writes, result.etcd_writes)
