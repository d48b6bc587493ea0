"""playbooks/site.yml against the Kubernetes sandbox and a real etcd, with real ansible-playbook runs.

The inventory lives in the test's temporary directory: the controller is localhost, the
"hosts" of the node roles are inventory names matching sandbox Nodes (host preparation,
which needs real hosts, is skipped with its tag). Every assertion about writes is made on
the sandbox's own request log.
"""
import pathlib

import pytest

pytestmark = pytest.mark.slow

CORE = ['mariadb', 'rabbitmq', 'memcached', 'keystone']
HOSTS = {'openstack_control_plane': {'ctl-1': {}, 'ctl-2': {}, 'ctl-3': {}},
         'openstack_compute': {'cmp-1': {}}, 'openstack_network': {'net-1': {}}}
WRITE_VERBS = ('create', 'update', 'patch', 'apply', 'delete', 'deletecollection')


class Site(object):
    def __init__(self, sandbox, etcd, run_playbook, make_inventory):
        self.sandbox = sandbox
        self.etcd = etcd
        self.run_playbook = run_playbook
        self.make_inventory = make_inventory
        for hosts in HOSTS.values():
            for name in hosts:
                sandbox.control.add_node(name)
        self.group_vars = {
            'openstack_namespace': 'openstack',
            'openstack_enabled_services': list(CORE),
            'openstack_etcd_endpoints': etcd.endpoints,
            'openstack_etcd_prefix': '/openstack',
            'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig},
            'openstack_service_wait_timeout': 120,
            'galera_replicas': 3,
            # galera_bootstrap reads each member with a pod exec of galera-start.sh, which the
            # sandbox cannot run; the Galera role has its own tests against real mariadbd.
            'infrastructure_galera_hook': False,
        }

    def run(self, extra_vars=None, tags=None, check=False, diff=False, skip=('host_prep',), **group_vars):
        inventory = self.make_inventory(hosts=HOSTS, group_vars=dict(self.group_vars, **group_vars))
        self.sandbox.control.clear_request_log()
        result = self.run_playbook('playbooks/site.yml', inventory, extra_vars=extra_vars, tags=tags, check=check,
                                   diff=diff, skip_tags=list(skip))
        result.server_counts = self.sandbox.control.counts_by_verb()
        result.writes = dict((v, n) for v, n in result.server_counts.items() if v in WRITE_VERBS)
        return result

    def written_objects(self):
        """(verb, resource, name) of every non-dry-run write in the request log since the last run started."""
        return sorted(set((e['verb'] if not e['apply'] else 'apply', e['resource'], e['name'])
                          for e in self.sandbox.control.request_log()
                          if (e['apply'] or e['verb'] in WRITE_VERBS) and not e['dry_run']))

    def credentials(self):
        import base64
        secret = self.live('v1', 'Secret', 'openstack-credentials')
        return dict((k, base64.b64decode(v).decode()) for k, v in secret['data'].items())

    def live(self, api_version, kind, name, namespace='openstack'):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
        return K8sClient({'kubeconfig': self.sandbox.kubeconfig}).get(api_version, kind, name, namespace)


@pytest.fixture(name='site')
def site_fixture(sandbox, etcd_clean_plain, run_playbook, make_inventory):
    return Site(sandbox, etcd_clean_plain, run_playbook, make_inventory)


@pytest.mark.parametrize('strategy', ['waves', 'serial'])
def test_converge_then_idempotent(site, strategy):
    first = site.run(openstack_rollout_strategy=strategy)
    assert first.rc == 0, first.explain()
    assert first.changed('localhost') > 0
    assert site.live('apps/v1', 'Deployment', 'keystone-api')['status']['readyReplicas'] == 3
    assert site.live('apps/v1', 'StatefulSet', 'mariadb-server')['status']['readyReplicas'] == 3
    # The seeds' order: Galera, then RabbitMQ and Memcached, then Keystone.
    started = {}
    for entry in site.sandbox.control.request_log():
        if entry['apply'] and entry['resource'] in ('statefulsets.apps', 'deployments.apps', 'jobs.batch'):
            started.setdefault(entry['name'].split('-')[0], entry['ts'])
    assert started['mariadb'] < min(started['rabbitmq'], started['memcached'])
    assert max(started['rabbitmq'], started['memcached']) < started['keystone']
    second = site.run(openstack_rollout_strategy=strategy)
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, second.explain()
    assert second.writes == {}, second.server_counts
    print('converge requests %s; no-op re-run requests %s' % (first.server_counts, second.server_counts))


def test_check_and_diff_mode_predict_an_override_without_writing(site):
    assert site.run().rc == 0
    secret = site.live('v1', 'Secret', 'keystone-config-controller')
    unchanged = site.run(check=True)
    assert unchanged.rc == 0 and unchanged.changed() == 0, unchanged.explain()
    assert unchanged.writes == {}, unchanged.server_counts
    result = site.run(check=True, diff=True, openstack_config_overrides=keystone_override(True))
    assert result.rc == 0, result.explain()
    assert result.changed() > 0
    # Only dry runs reached the API server, and nothing changed.
    assert site.written_objects() == [], site.written_objects()
    assert site.live('v1', 'Secret', 'keystone-config-controller')['data'] == secret['data']
    # The diff shows the config Secret changing, with its data masked.
    assert 'keystone-config-controller' in result.stdout and '********' in result.stdout
    for value in site.credentials().values():
        assert value not in result.output


def keystone_override(debug):
    return {'controller': {'keystone': {'keystone.conf': {'DEFAULT': {'debug': debug}}}}}


def test_override_change_rolls_only_that_service(site):
    assert site.run().rc == 0
    before = dict((name, site.live('apps/v1', kind, name)['metadata']['resourceVersion']) for kind, name in
                  (('StatefulSet', 'mariadb-server'), ('StatefulSet', 'rabbitmq-server'), ('StatefulSet', 'memcached-server')))
    checksum = site.live('apps/v1', 'Deployment', 'keystone-api')['spec']['template']['metadata']['annotations']
    result = site.run(openstack_config_overrides=keystone_override(True))
    assert result.rc == 0, result.explain()
    written = site.written_objects()
    assert written and all(name.startswith('keystone') for _verb, _resource, name in written), written
    for name, version in before.items():
        assert site.live('apps/v1', 'StatefulSet', name)['metadata']['resourceVersion'] == version, name
    assert site.live('apps/v1', 'Deployment', 'keystone-api')['spec']['template']['metadata']['annotations'] != checksum
    again = site.run(openstack_config_overrides=keystone_override(True))
    assert again.changed() == 0 and again.writes == {}, again.explain()


def test_tags_roll_out_one_service(site):
    assert site.run().rc == 0
    memcached = site.live('apps/v1', 'StatefulSet', 'memcached-server')['metadata']['resourceVersion']
    result = site.run(tags=['keystone'], openstack_config_overrides=keystone_override(True))
    assert result.rc == 0, result.explain()
    assert 'Apply the services mariadb' not in result.stdout and 'Apply the services keystone' in result.stdout
    assert all(name.startswith('keystone') for _verb, _resource, name in site.written_objects()), site.written_objects()
    assert site.live('apps/v1', 'StatefulSet', 'memcached-server')['metadata']['resourceVersion'] == memcached


def test_disabling_a_service_removes_it(site):
    assert site.run().rc == 0
    assert site.live('apps/v1', 'Deployment', 'keystone-api') is not None
    result = site.run(openstack_enabled_services=['mariadb', 'rabbitmq', 'memcached'])
    assert result.rc == 0, result.explain()
    assert site.live('apps/v1', 'Deployment', 'keystone-api') is None
    assert site.live('v1', 'Secret', 'keystone-config-controller') is None
    assert site.live('apps/v1', 'StatefulSet', 'mariadb-server') is not None
    again = site.run(openstack_enabled_services=['mariadb', 'rabbitmq', 'memcached'])
    assert again.changed() == 0 and again.writes == {}, again.explain()


def test_never_ready_service_times_out_naming_object_condition_status(site):
    site.sandbox.control.settings(broken=[{'kind': 'Deployment', 'name': 'keystone-api'}])
    result = site.run(openstack_service_wait_timeout=5)
    assert result.rc != 0
    output = ' '.join(result.output.split())
    assert 'timed out after' in output and 'Deployment openstack/keystone-api' in output, result.explain()
    assert 'Deployment rolled out' in output and 'last status' in output and 'available=0' in output


def _catalog_copy(directory, service, change):
    """A copy of the real catalog (scripts included) with ``change(entry)`` applied to one service."""
    import shutil
    import yaml
    roles = pathlib.Path(__file__).resolve().parents[3] / 'roles'
    # Same layout as the collection: the catalog names scripts relative to it (../../../galera/files).
    shutil.copytree(roles / 'catalog/files', directory / 'roles/catalog/files')
    shutil.copytree(roles / 'galera/files', directory / 'roles/galera/files')
    services = directory / 'roles/catalog/files/services'
    path = services / ('%s.yml' % service)
    entry = yaml.safe_load(path.read_text())
    change(entry)
    path.write_text(yaml.safe_dump(entry))
    return services


def _add_admin_component(entry):
    extra = dict(entry['components']['api'])
    extra['ports'] = [{'name': 'api', 'port': 5000, 'service': 'keystone-admin', 'access': 'namespace'}]
    entry['components']['admin'] = extra


def test_removed_component_is_pruned(site, tmp_path):
    catalog_dir = _catalog_copy(tmp_path / 'copy', 'keystone', _add_admin_component)
    first = site.run(extra_vars={'catalog_dir': str(catalog_dir)})
    assert first.rc == 0, first.explain()
    assert site.live('apps/v1', 'Deployment', 'keystone-admin') is not None
    assert site.live('v1', 'Service', 'keystone-admin') is not None
    result = site.run()
    assert result.rc == 0, result.explain()
    for api_version, kind in (('apps/v1', 'Deployment'), ('v1', 'Service'), ('v1', 'ServiceAccount'),
                              ('networking.k8s.io/v1', 'NetworkPolicy'), ('policy/v1', 'PodDisruptionBudget')):
        assert site.live(api_version, kind, 'keystone-admin') is None, kind
    assert site.live('apps/v1', 'Deployment', 'keystone-api') is not None
    deleted = [name for verb, _resource, name in site.written_objects() if verb == 'delete']
    assert deleted and all(name == 'keystone-admin' for name in deleted), site.written_objects()


def _memcached_after_keystone(entry):
    """A cycle: memcached ordered after keystone, which depends on memcached."""
    entry['after'] = ['keystone']


BAD_INPUTS = [
    # (id, group vars overriding the good ones, extra vars, fragments the failure message must contain)
    ('even-galera-replicas', {'galera_replicas': 4}, None, ['galera replicas must be odd (2n+1)', 'got 4', 'set 3 or 5']),
    ('even-replica-override', {'openstack_replicas': {'rabbitmq': {'server': 4}}}, None,
     ['rabbitmq replicas must be odd (2n+1), got 4']),
    ('unknown-service', {'openstack_enabled_services': CORE + ['keystone2']}, None,
     ["unknown service 'keystone2'", 'known services:']),
    ('missing-dependency', {'openstack_enabled_services': ['rabbitmq', 'memcached', 'keystone']}, None,
     ['keystone depends on mariadb', "add 'mariadb' to openstack_enabled_services"]),
    ('bad-strategy', {'openstack_rollout_strategy': 'parallel'}, None, ['openstack_rollout_strategy must be waves']),
    ('replicas-for-unknown-component', {'openstack_replicas': {'keystone': {'apii': 2}}}, None,
     ['openstack_replicas.keystone names unknown components apii; keystone has api']),
    ('dependency-cycle', {}, 'cycle', ['dependency cycle', 'remove one of these depends_on/after links']),
]


@pytest.mark.parametrize('group_vars,extra,fragments', [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_fails_before_any_write(site, tmp_path, group_vars, extra, fragments):
    extra_vars = None
    if extra == 'cycle':
        extra_vars = {'catalog_dir': str(_catalog_copy(tmp_path / 'copy', 'memcached', _memcached_after_keystone))}
    result = site.run(extra_vars=extra_vars, **group_vars)
    assert result.rc != 0, result.explain()
    output = ' '.join(result.output.split())
    for fragment in fragments:
        assert fragment in output, result.explain()
    assert result.writes == {}, result.server_counts
    assert site.etcd.dump('/openstack') == {}


def test_destroy_removes_services_and_keeps_data_and_credentials(site):
    assert site.run().rc == 0
    inventory = site.make_inventory(hosts=HOSTS, group_vars=site.group_vars, name='destroy')
    refused = site.run_playbook('playbooks/destroy.yml', inventory)
    assert refused.rc != 0 and 'openstack_destroy_confirm=yes' in refused.output
    result = site.run_playbook('playbooks/destroy.yml', inventory, extra_vars={'openstack_destroy_confirm': True})
    assert result.rc == 0, result.explain()
    for kind, name in (('Deployment', 'keystone-api'), ('StatefulSet', 'mariadb-server'), ('StatefulSet', 'memcached-server')):
        assert site.live('apps/v1', kind, name) is None, name
    assert site.live('v1', 'Secret', 'openstack-credentials') is not None
    assert site.live('v1', 'PersistentVolumeClaim', 'data-mariadb-server-0') is not None


@pytest.mark.parametrize('extra, refusal', [
    ({'openstack_destroy_data': True}, 'openstack_destroy_data_confirm=openstack'),
    ({'openstack_destroy_data': True, 'openstack_destroy_data_confirm': 'default'}, 'openstack_destroy_data_confirm=openstack'),
])
def test_destroy_data_needs_the_namespace_typed_out(site, extra, refusal):
    """Deleting the data is refused before any write unless the namespace is typed out."""
    assert site.run(openstack_enabled_services=['mariadb']).rc == 0
    inventory = site.make_inventory(hosts=HOSTS, group_vars=dict(site.group_vars, openstack_enabled_services=['mariadb']),
                                    name='destroy-refused')
    site.sandbox.control.clear_request_log()
    result = site.run_playbook('playbooks/destroy.yml', inventory, extra_vars=dict(extra, openstack_destroy_confirm=True))
    assert result.rc != 0 and refusal in result.output, result.explain()
    writes = [e for e in site.sandbox.control.request_log() if e['apply'] or e['verb'] in WRITE_VERBS]
    assert writes == []
    assert site.live('apps/v1', 'StatefulSet', 'mariadb-server') is not None


def test_destroy_with_data_deletes_claims_credentials_and_tree_only(site):
    """With the typed confirmation the claims, the credentials and the etcd tree go; foreign objects stay."""
    assert site.run(openstack_enabled_services=['mariadb', 'rabbitmq']).rc == 0
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
    client = K8sClient({'kubeconfig': site.sandbox.kubeconfig})
    foreign = {'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim',
               'metadata': {'name': 'someone-elses', 'namespace': 'openstack', 'labels': {'app': 'other'}},
               'spec': {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': '1Gi'}}}}
    client.create(foreign)
    assert site.etcd.dump('/openstack')
    inventory = site.make_inventory(hosts=HOSTS, group_vars=dict(site.group_vars, openstack_enabled_services=['mariadb', 'rabbitmq']),
                                    name='destroy-data')
    confirm = {'openstack_destroy_confirm': True, 'openstack_destroy_data': True, 'openstack_destroy_data_confirm': 'openstack'}
    preview = site.run_playbook('playbooks/destroy.yml', inventory, extra_vars=confirm, check=True)
    assert preview.rc == 0, preview.explain()
    assert site.live('v1', 'PersistentVolumeClaim', 'data-mariadb-server-0') is not None
    assert site.live('v1', 'Secret', 'openstack-credentials') is not None
    result = site.run_playbook('playbooks/destroy.yml', inventory, extra_vars=confirm)
    assert result.rc == 0, result.explain()
    claims, _version = client.list('v1', 'PersistentVolumeClaim', namespace='openstack')
    assert [c['metadata']['name'] for c in claims] == ['someone-elses']
    assert site.live('v1', 'Secret', 'openstack-credentials') is None
    assert site.etcd.dump('/openstack') == {}
    assert site.live('v1', 'Namespace', 'openstack', namespace=None) is not None
    again = site.run_playbook('playbooks/destroy.yml', inventory, extra_vars=confirm)
    assert again.rc == 0 and again.changed('localhost') == 0, again.explain()
