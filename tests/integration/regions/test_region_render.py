"""Two regions from one deployment description: inventories/region-one (its own Keystone) and
inventories/region-two (openstack_keystone_mode shared, served by region one's Keystone).

playbooks/render.yml renders both, and every difference between the two sets of manifests
must be explained by a value the region inventories set: the region name, the public domain,
Keystone's URLs, the replica counts. Keystone itself is the one service that differs by mode:
region two deploys none of it and only registers its identity endpoints in region one's Keystone.
"""
import base64
import configparser
import difflib
import pathlib
import re

import pytest
import yaml

from harness.ansible_fixtures import run_ansible_playbook

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parents[3]
REGIONS = ('region-one', 'region-two')
HASHED_NAME = re.compile(r'-[0-9a-f]{10}(\.yaml)?$')
# Hashes of the content: they differ exactly when the content does (compared itself).
CHECKSUMS = ('openstack-k8s.io/config-checksum', 'openstack-k8s.io/applied-checksum', 'openstack-k8s.io/spec-hash')


def _inventory_vars(region):
    return yaml.safe_load((REPO / 'inventories' / region / 'group_vars' / 'all' / 'main.yml').read_text())


def _region_values(region):
    """``{token: value}``: what the region inventory sets that may appear in manifests, longest first."""
    data = _inventory_vars(region)
    if data.get('openstack_keystone_mode', 'local') == 'shared':
        public = data['openstack_shared_keystone_public_url']
        internal = data.get('openstack_shared_keystone_internal_url') or public
    else:
        public = 'http://keystone-api.%s:5000' % data['openstack_public_domain']
        internal = 'http://keystone-api.openstack.svc.cluster.local:5000'
    # One token for both URLs: a shared Keystone's internal URL may be its public one.
    return [('<KEYSTONE_URL>', public), ('<KEYSTONE_URL>', internal),
            ('<PUBLIC_DOMAIN>', data['openstack_public_domain']), ('<REGION_NAME>', data['openstack_region_name'])]


def _load(directory):
    """``{service: {file name without hash: object}}``, config Secrets decoded to text."""
    out = {}
    for service_dir in sorted(directory.iterdir()):
        objects = {}
        for path in sorted(service_dir.iterdir()):
            obj = yaml.safe_load(path.read_text())
            if obj['kind'] == 'Secret':
                obj['data'] = dict((k, base64.b64decode(v).decode()) for k, v in obj.get('data', {}).items())
            objects[HASHED_NAME.sub('-<hash>', path.name)] = obj
        out[service_dir.name] = objects
    return out


def _normalize(value, tokens):
    """``value`` with the region's values replaced by tokens, checksums and Job name hashes masked."""
    if isinstance(value, dict):
        return dict((k, '<checksum>' if k in CHECKSUMS else _normalize(v, tokens)) for k, v in value.items())
    if isinstance(value, list):
        return [_normalize(v, tokens) for v in value]
    if isinstance(value, str):
        for token, text in tokens:
            value = value.replace(text, token)
        return HASHED_NAME.sub('-<hash>', value)
    return value


def _replicas(objects):
    return dict((o['metadata']['name'], o['spec']['replicas']) for o in objects.values()
                if o['kind'] in ('Deployment', 'StatefulSet'))


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    out = {}
    for region in REGIONS:
        target = tmp_path_factory.mktemp(region)
        result = run_ansible_playbook('playbooks/render.yml', REPO / 'inventories' / region,
                                      extra_vars={'openstack_render_dir': str(target)})
        assert result.rc == 0, result.explain()
        out[region] = _load(target)
    return out


def test_regions_differ_only_by_their_values(rendered):
    one, two = rendered['region-one'], rendered['region-two']
    assert sorted(one) == sorted(two)
    tokens = dict((region, _region_values(region)) for region in REGIONS)
    # The replica counts: the only numbers the inventories change.
    wanted = {}
    for region in REGIONS:
        for service, components in (_inventory_vars(region).get('openstack_replicas') or {}).items():
            for component, count in components.items():
                wanted.setdefault('%s-%s' % (service, component), {})[region] = count
    compared = 0
    for service in sorted(one):
        if service == 'keystone':
            continue
        assert sorted(one[service]) == sorted(two[service]), '%s renders different objects per region' % service
        for region, objects in (('region-one', one[service]), ('region-two', two[service])):
            for name, count in _replicas(objects).items():
                if name in wanted:
                    assert count == wanted[name][region], (region, name, count)
        for fname in sorted(one[service]):
            left = _normalize(one[service][fname], tokens['region-one'])
            right = _normalize(two[service][fname], tokens['region-two'])
            if left.get('kind') in ('Deployment', 'StatefulSet') and left['metadata']['name'] in wanted:
                left['spec']['replicas'] = right['spec']['replicas'] = '<replicas>'
            assert left == right, '%s/%s differs beyond the region values:\n%s' % (service, fname, '\n'.join(
                difflib.unified_diff(yaml.safe_dump(left).splitlines(), yaml.safe_dump(right).splitlines(),
                                     'region-one', 'region-two', lineterm='')))
            compared += 1
    assert compared > 100


def _ini_region_options(objects):
    """``[(file, section, option, value)]`` of every region option of the rendered oslo.config files."""
    found = []
    for obj in objects.values():
        if obj['kind'] != 'Secret':
            continue
        for fname, text in obj['data'].items():
            if not fname.endswith(('.conf', '.ini')) or not text.lstrip().startswith('['):  # rabbitmq.conf is not INI
                continue
            parser = configparser.RawConfigParser(strict=False, interpolation=None)
            parser.read_string(text)
            for section in ['DEFAULT'] + parser.sections():
                for option, value in parser.items(section) if section != 'DEFAULT' else parser.defaults().items():
                    if 'region' in option:
                        found.append((fname, section, option, value))
    return found


@pytest.mark.parametrize('region', REGIONS)
def test_every_region_option_is_the_region_name(rendered, region):
    name = _inventory_vars(region)['openstack_region_name']
    seen = []
    for service, objects in sorted(rendered[region].items()):
        for fname, section, option, value in _ini_region_options(objects):
            assert value == name, '%s %s [%s] %s = %s, expected %s' % (service, fname, section, option, value, name)
            seen.append((service, section, option))
    # keystone_authtoken everywhere, and the clients of other services (nova's cinder, glance, neutron, placement...).
    assert ('nova', 'cinder', 'os_region_name') in seen and ('cinder', 'glance', 'region_name') in seen
    assert ('heat', 'DEFAULT', 'region_name_for_services') in seen
    for service, objects in rendered[region].items():
        for obj in objects.values():
            for container in (obj.get('spec', {}).get('template', {}).get('spec', {}).get('containers') or []):
                for env in container.get('env') or []:
                    if env['name'] in ('OS_REGION_NAME', 'OS_BOOTSTRAP_REGION_ID'):
                        assert env['value'] == name, (service, obj['metadata']['name'], env)


def test_region_two_deploys_no_keystone_and_registers_its_identity_endpoints(rendered):
    one, two = rendered['region-one']['keystone'], rendered['region-two']['keystone']
    assert any(o['kind'] == 'Deployment' for o in one.values())
    # No database, no API, no config Secret, no bootstrap: the register Job and what it runs as.
    assert sorted((o['kind'], HASHED_NAME.sub('-<hash>', o['metadata']['name'])) for o in two.values()) == [
        ('Job', 'keystone-register-<hash>'), ('NetworkPolicy', 'keystone-jobs'), ('ServiceAccount', 'keystone-jobs')]
    job = [o for o in two.values() if o['kind'] == 'Job'][0]
    assert job['metadata']['labels']['app.kubernetes.io/component'] == 'register'
    container = job['spec']['template']['spec']['containers'][0]
    env = dict((e['name'], e.get('value')) for e in container['env'])
    shared = _inventory_vars('region-two')['openstack_shared_keystone_public_url']
    assert env['OS_AUTH_URL'] == shared + '/v3' and env['OS_REGION_NAME'] == 'RegionTwo'
    script = container['command'][-1]
    assert 'openstack region create "$OS_REGION_NAME"' in script
    assert script.count("'%s'" % shared) >= 3  # public, internal and admin identity endpoints
    # Region one bootstraps its Keystone in its own region.
    bootstrap = [o for o in one.values() if o['kind'] == 'Job' and 'bootstrap' in o['metadata']['name']][0]
    env_one = dict((e['name'], e.get('value')) for e in bootstrap['spec']['template']['spec']['containers'][0]['env'])
    assert env_one['OS_BOOTSTRAP_REGION_ID'] == 'RegionOne'
