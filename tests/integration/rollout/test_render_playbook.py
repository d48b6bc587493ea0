"""playbooks/render.yml: the manifests on disk, one folder per service, no cluster and no etcd."""
import base64

import pytest
import yaml

pytestmark = pytest.mark.slow
SERVICES = ['mariadb', 'rabbitmq', 'memcached', 'keystone']


def test_render_writes_manifests_idempotently_without_secrets(run_playbook, make_inventory, tmp_path):
    out = tmp_path / 'manifests'
    inventory = make_inventory(group_vars={'openstack_enabled_services': SERVICES,
                                           'openstack_config_overrides': {'controller': {'keystone': {
                                               'keystone.conf': {'DEFAULT': {'debug': True}}}}}})
    first = run_playbook('playbooks/render.yml', inventory, extra_vars={'openstack_render_dir': str(out)})
    assert first.rc == 0, first.explain()
    assert first.changed() == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(SERVICES)
    files = sorted(p.name for p in (out / 'keystone').iterdir())
    assert files[0] == '01-config-secret-keystone-config-controller.yaml' and '-workloads-' in files[-1]
    objects = [yaml.safe_load((out / 'keystone' / name).read_text()) for name in files]
    assert all(o['metadata']['labels']['app.kubernetes.io/name'] == 'keystone' for o in objects)
    secret = objects[0]
    conf = base64.b64decode(secret['data']['keystone.conf']).decode()
    assert 'connection = mysql+pymysql://keystone:$KEYSTONE_DB_PASSWORD@' in conf
    assert 'debug = True' in conf
    assert 'placeholders' in ' '.join(secret['metadata']['annotations'])
    second = run_playbook('playbooks/render.yml', inventory, extra_vars={'openstack_render_dir': str(out)})
    assert second.rc == 0 and second.changed() == 0, second.explain()
    (out / 'keystone' / '99-stale-object.yaml').write_text('kind: ConfigMap\n')
    third = run_playbook('playbooks/render.yml', inventory, extra_vars={'openstack_render_dir': str(out)})
    assert third.changed() == 1 and not (out / 'keystone' / '99-stale-object.yaml').exists()


def test_node_cidrs_reach_the_network_policies(run_playbook, make_inventory, tmp_path):
    """openstack_node_cidrs from the inventory: host-network pods may reach RabbitMQ's namespace-only port."""
    out = tmp_path / 'manifests'
    inventory = make_inventory(group_vars={'openstack_enabled_services': ['rabbitmq'],
                                           'openstack_node_cidrs': ['10.20.0.0/22', 'fd00:20::/64']})
    result = run_playbook('playbooks/render.yml', inventory, extra_vars={'openstack_render_dir': str(out)})
    assert result.rc == 0, result.explain()
    objects = [yaml.safe_load(p.read_text()) for p in sorted((out / 'rabbitmq').iterdir())]
    policy = [o for o in objects if o['kind'] == 'NetworkPolicy' and o['metadata']['name'] == 'rabbitmq-server'][0]
    blocks = [s['ipBlock']['cidr'] for rule in policy['spec']['ingress'] for s in rule.get('from') or [] if 'ipBlock' in s]
    assert blocks == ['10.20.0.0/22', 'fd00:20::/64']
