# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service is catalog data: adding Barbican, Designate, Manila or Ironic changed no code.

Every service of the real catalog (and the worked example of docs/adding-a-service.md)
goes through the path ``k8s_openstack_service`` takes on a cluster: the config role's tree
(``build_config_tree``), flattened into etcd keys (``etcd.tree.flatten``, which refuses a
plaintext secret), read back per service (``runner.service_config``), rendered with the
credentials the credentials role generates (``runner.default_render``), plus the upgrade
Jobs (``render_upgrade_jobs``). Each table row checks that every component, port, Job and
NetworkPolicy the entry asks for is rendered, that every object is valid for the
Kubernetes API in strict mode, and that no credential value is anywhere but in the
service's config Secrets. And ``plugins/`` names none of the services added as data.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import pathlib
import re

import kubernetes_validate
import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import credentials as creds
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd import tree as etcd_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.build import build_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import is_secret_name
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m

ROOT = pathlib.Path(__file__).resolve().parents[3]
FILES = ROOT / 'roles' / 'catalog' / 'files'
NODE_ROLES = yaml.safe_load((FILES / 'node_roles.yml').read_text())
CATALOG = cat.load_directory(str(FILES / 'services'), NODE_ROLES)
DOC = ROOT / 'docs' / 'adding-a-service.md'
PREFIX = '/openstack'
NAMESPACE = 'openstack'
KUBERNETES_VERSIONS = ('1.33', '1.37')
POD_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet', 'Job')
# The services added as catalog data only; the plugins must not know them.
DATA_ONLY = ('barbican', 'designate', 'manila', 'ironic')


def doc_example():
    """The catalog entry of docs/adding-a-service.md: the one ```yaml block after the marker comment."""
    text = DOC.read_text(encoding='utf-8')
    blocks = re.findall(r'<!-- catalog-entry: (\S+) -->\s*```yaml\n(.*?)```', text, re.S)
    assert len(blocks) == 1, 'docs/adding-a-service.md must hold exactly one marked catalog entry example'
    filename, body = blocks[0]
    return filename, yaml.safe_load(body)


def with_example():
    """The real catalog plus the doc's example, validated together as the catalog role would."""
    filename, entry = doc_example()
    sources = dict(('%s.yml' % name, entry_) for name, entry_ in CATALOG.items())
    sources[filename] = entry
    return cat.validate_catalog(sources, NODE_ROLES), entry['name']


FULL, EXAMPLE = with_example()
NAMES = sorted(FULL)
_GENERATED = {}


def credentials():
    """One value per credential name, generated as the credentials role does (``credentials.generate``)."""
    if not _GENERATED:
        for name, kind in sorted(cat.secret_names(FULL).items()):
            _GENERATED[name] = creds.generate(kind)
    return _GENERATED


def etcd_keys():
    """The flat etcd content the config role writes for every service: ``{full key: value}``."""
    general = cat.general_defaults(namespace=NAMESPACE)
    tree = build_config_tree(FULL, NAMES, {}, general)
    return dict(('%s/%s' % (PREFIX, key), value) for key, value in etcd_tree.flatten(tree).items())


ETCD = etcd_keys()


def module_render(name):
    """``[phases]`` of one service as ``k8s_openstack_service`` renders it from etcd and the credentials."""
    general, files = runner.service_config(ETCD, PREFIX, name)
    options = {'namespace': NAMESPACE, 'variables': {'release': '2026.2', 'node_roles': NODE_ROLES,
                                                     'node_cidrs': ['10.0.0.0/24']}}
    phases = runner.default_render(FULL[name], general, files, credentials(), options)
    deployment, config_files = runner.render_inputs(FULL[name], general, files, credentials(), options)
    upgrades = []
    for step in ('expand', 'migrate', 'contract'):
        upgrades.extend(m.render_upgrade_jobs(FULL[name], deployment, config_files, step))
    return phases, upgrades


RENDERED = dict((name, module_render(name)) for name in NAMES)


def objects_of(name):
    phases, upgrades = RENDERED[name]
    return m.all_objects(phases) + upgrades


def expected_objects(entry):
    """``{(kind, name)}`` the entry asks for, read from the catalog data alone."""
    name = entry['name']
    wanted = set()
    for cname, comp in entry['components'].items():
        roles = cat.component_roles(comp)
        instances = [cname] if len(roles) == 1 else ['%s-%s' % (cname, role) for role in roles]
        for instance in instances:
            wanted.add((comp['workload'], '%s-%s' % (name, instance)))
            wanted.add(('NetworkPolicy', '%s-%s' % (name, instance)))
            wanted.add(('ServiceAccount', '%s-%s' % (name, instance)))
            for port in comp.get('ports') or []:
                if port.get('service'):
                    wanted.add(('Service', port['service']))
            if comp.get('headless_service'):
                wanted.add(('Service', comp['headless_service']))
    jobs = [job['name'] for job in entry.get('jobs') or []]
    jobs += ['db-init'] if entry.get('databases') else []
    jobs += ['mq-init'] if entry.get('messaging') else []
    jobs += ['register'] if entry.get('keystone') else []
    for job in jobs:
        wanted.add(('Job', '%s-%s' % (name, job)))
    if jobs:
        wanted.add(('NetworkPolicy', '%s-jobs' % name))
    for role in set(r for c in entry['components'].values() if c.get('config_files') for r in cat.component_roles(c)):
        wanted.add(('Secret', m.config_secret_name(name, role)))
    if entry.get('scripts'):
        wanted.add(('ConfigMap', m.scripts_configmap_name(name)))
    return wanted


def _rendered_names(objs):
    out = set()
    for obj in objs:
        name = obj['metadata']['name']
        if obj['kind'] == 'Job':
            name = name.rsplit('-', 1)[0]  # the spec hash
        out.add((obj['kind'], name))
    return out


@pytest.mark.parametrize('name', NAMES)
def test_every_part_of_the_entry_is_rendered(name):
    rendered = _rendered_names(objects_of(name))
    missing = expected_objects(FULL[name]) - rendered
    assert not missing, '%s: the entry asks for %s, which the renderer did not produce' % (name, sorted(missing))
    # Every pod of a deployment run is selected by a NetworkPolicy of its own service. (The
    # upgrade Jobs are not: the jobs policy lists the deploy-phase Jobs only.)
    objs = m.all_objects(RENDERED[name][0])
    policies = [o['spec']['podSelector'] for o in objs if o['kind'] == 'NetworkPolicy']
    for obj in objs:
        if obj['kind'] not in POD_KINDS:
            continue
        labels = obj['spec']['template']['metadata']['labels']
        assert any(all(labels.get(k) == v for k, v in p.get('matchLabels', {}).items())
                   and all(labels.get(e['key']) in e['values'] for e in p.get('matchExpressions', []))
                   for p in policies), '%s %s is selected by no NetworkPolicy' % (name, obj['metadata']['name'])


@pytest.mark.parametrize('version', KUBERNETES_VERSIONS)
@pytest.mark.parametrize('name', NAMES)
def test_every_object_is_valid_for_the_api(name, version):
    for obj in objects_of(name):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail('%s %s/%s is invalid for Kubernetes %s: %s' % (name, obj['kind'], obj['metadata']['name'],
                                                                       version, exc))


@pytest.mark.parametrize('name', NAMES)
def test_credentials_only_in_config_secrets(name):
    """No generated value in etcd, in any object but the config Secrets, in any script or environment."""
    declared = [s['name'] for s in FULL[name].get('secrets') or []]
    values = dict((n, credentials()[n]) for n in declared)
    mine = '%s/' % name
    for key, value in ETCD.items():
        if ('/%s' % mine) in key or key.startswith(PREFIX + '/general/'):
            assert not [n for n, v in values.items() if v in value], '%s holds a credential in plaintext' % key
            if is_secret_name(key.rsplit('/', 1)[-1]) and not key.startswith(PREFIX + '/general/'):
                assert etcd_tree.is_reference(value) or cat.references(value), key
    seen_in_secrets = set()
    for obj in objects_of(name):
        if obj['kind'] == 'Secret' and obj['metadata']['name'].startswith('%s-config-' % name):
            text = ''.join(base64.b64decode(v).decode('utf-8') for v in obj['data'].values())
            seen_in_secrets.update(n for n, v in values.items() if v in text)
            continue
        dumped = json.dumps(obj)
        leaked = [n for n, v in values.items() if v in dumped]
        assert not leaked, '%s %s/%s holds %s in plaintext' % (name, obj['kind'], obj['metadata']['name'], leaked)
    # Every credential a config file refers to did reach that file (the $VAR was substituted, not dropped).
    referenced = set(ref for role in (FULL[name].get('config') or {}).values() for sections in role.values()
                     for options in sections.values() for value in options.values()
                     for ref in cat.references(value if isinstance(value, str) else str(value)))
    assert referenced & set(values) <= seen_in_secrets


def test_barbican_kek_reaches_only_barbican_conf():
    """The simple_crypto KEK: a $NAME in etcd, the generated Fernet key in the config Secret, masked as a secret."""
    kek = credentials()['BARBICAN_SIMPLE_CRYPTO_KEY']
    assert len(base64.urlsafe_b64decode(kek)) == 32
    key = '%s/controller/barbican/barbican.conf/simple_crypto_plugin/kek' % PREFIX
    assert ETCD[key] == '$BARBICAN_SIMPLE_CRYPTO_KEY'
    phases, _upgrades = RENDERED['barbican']
    secret = [o for o in m.all_objects(phases) if o['kind'] == 'Secret'][0]
    conf = base64.b64decode(secret['data']['barbican.conf']).decode('utf-8')
    assert '\nkek = %s\n' % kek.replace('$', '$$') in conf
    assert is_secret_name('BARBICAN_SIMPLE_CRYPTO_KEY') and is_secret_name('DESIGNATE_RNDC_KEY')


def test_designate_and_bind_share_the_rndc_key_as_files():
    """BIND and the worker read the same credential from a projected file; pools.yaml points rndc at it."""
    readers = {}
    for name in ('designate', 'designate-bind'):
        for obj in objects_of(name):
            if obj['kind'] in POD_KINDS:
                script = ' '.join(obj['spec']['template']['spec']['containers'][0].get('command') or [])
                if '/run/secrets/openstack-k8s/DESIGNATE_RNDC_KEY' in script:
                    readers[obj['metadata']['name']] = script
    assert sorted(readers) == ['designate-bind-server', 'designate-worker']
    assert '/run/designate/rndc.key' in readers['designate-worker']
    assert '/run/designate/rndc.key' in FULL['designate']['scripts']['pools.yaml']['content']
    assert 'include "/run/named/rndc.key";' in FULL['designate-bind']['scripts']['named.conf']['content']


def test_designate_waits_for_its_dns_server_and_loads_the_pool_after_the_services():
    waves = cat.waves(FULL, ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'designate-bind', 'designate'])
    assert waves.index([w for w in waves if 'designate-bind' in w][0]) < waves.index(
        [w for w in waves if 'designate' in w][0])
    phases, _upgrades = RENDERED['designate']
    names = [(p['name'], [o['metadata']['name'].rsplit('-', 1)[0] for o in p['objects'] if o['kind'] == 'Job'])
             for p in phases]
    assert ('post', ['designate-pool-update']) in names
    assert [p['name'] for p in phases].index('post') > [p['name'] for p in phases].index('workloads')


def test_udp_ports_reach_services_and_policies():
    svc = [o for o in objects_of('designate') if o['kind'] == 'Service' and o['metadata']['name'] == 'designate-mdns'][0]
    assert sorted((p['port'], p['protocol']) for p in svc['spec']['ports']) == [(5354, 'TCP'), (5354, 'UDP')]
    bind = [o for o in objects_of('designate-bind') if o['kind'] == 'Service'
            and o['metadata']['name'] == 'designate-bind'][0]
    assert sorted((p['port'], p['protocol'], p['targetPort']) for p in bind['spec']['ports']) == [
        (53, 'TCP', 'dns-tcp'), (53, 'UDP', 'dns-udp'), (953, 'TCP', 'rndc')]
    policy = [o for o in objects_of('designate-bind') if o['kind'] == 'NetworkPolicy'
              and o['metadata']['name'] == 'designate-bind-server'][0]
    assert policy['spec']['ingress'][0] == {'ports': [{'port': 1053, 'protocol': 'UDP'}, {'port': 1053, 'protocol': 'TCP'}]}
    assert policy['spec']['ingress'][1]['ports'] == [{'port': 1953, 'protocol': 'TCP'}]


def test_every_catalog_service_has_its_place_in_the_upgrade_order():
    releases = yaml.safe_load((FILES / 'releases.yml').read_text())
    order = upgrade.check_releases(releases, CATALOG)['upgrade_order']
    assert sorted(order) == sorted(CATALOG)
    for name in DATA_ONLY:
        assert name not in CATALOG or name in order


def _plugin_sources():
    return sorted(p for p in (ROOT / 'plugins').rglob('*') if p.is_file() and p.suffix in ('.py', '.yml', '.yaml'))


@pytest.mark.parametrize('service', DATA_ONLY)
def test_plugins_name_no_data_only_service(service):
    """Adding the service was a data change: no module, filter or renderer mentions it."""
    sources = _plugin_sources()
    assert len(sources) > 20, 'the plugins directory was not found'
    mentions = ['%s:%d' % (path.relative_to(ROOT), number)
                for path in sources
                for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1)
                if re.search(r'\b%s\b' % service, line, re.I)]
    assert not mentions, '%s is named in plugins/: %s' % (service, ', '.join(mentions))


def test_the_doc_example_is_a_complete_service():
    """docs/adding-a-service.md's entry validates with the real catalog and renders every kind of object."""
    entry = FULL[EXAMPLE]
    assert EXAMPLE not in CATALOG
    kinds = set(o['kind'] for o in objects_of(EXAMPLE))
    assert {'Secret', 'ServiceAccount', 'NetworkPolicy', 'Job', 'Deployment', 'Service'} <= kinds
    assert entry['keystone'] and entry['databases'] and entry['jobs']
    text = DOC.read_text(encoding='utf-8')
    # The doc names every step an operator needs, with the files they touch.
    for needle in ('roles/catalog/files/services/', 'tests/openstack/namespaces-2026.2.yml',
                   'roles/catalog/files/releases.yml', 'node_roles.yml', 'openstack_enabled_services'):
        assert needle in text, needle
