"""The RabbitMQ and Keystone user names rendered next to the passwords (plugins/module_utils/service_users.py)."""
import base64
import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m

ROOT = pathlib.Path(__file__).resolve().parents[3]
NODE_ROLES = yaml.safe_load((ROOT / 'roles' / 'catalog' / 'files' / 'node_roles.yml').read_text())
CATALOG = cat.load_directory(str(ROOT / 'roles' / 'catalog' / 'files' / 'services'), NODE_ROLES)
DECLARED = dict((e['messaging']['password'], e['messaging']['user']) for e in CATALOG.values() if e.get('messaging'))
DECLARED.update((e['keystone']['user']['password'], e['keystone']['user']['name'])
                for e in CATALOG.values() if (e.get('keystone') or {}).get('user'))

KEYS = [
    ('NOVA_RABBITMQ_PASSWORD', 'NOVA_RABBITMQ_USER'),
    ('NOVA_CELL1_RABBITMQ_PASSWORD', 'NOVA_CELL1_RABBITMQ_USER'),
    ('NOVA_KEYSTONE_PASSWORD', 'NOVA_KEYSTONE_USER'),
    ('HEAT_KEYSTONE_PASSWORD', 'HEAT_KEYSTONE_USER'),
    ('KEYSTONE_ADMIN_PASSWORD', None),
    ('HEAT_DOMAIN_ADMIN_PASSWORD', None),
    ('KEYSTONE_KEYSTONE_PASSWORD', None),
    ('RABBITMQ_ADMIN_PASSWORD', None),
    ('NOVA_DB_PASSWORD', None),
    ('RABBITMQ_RABBITMQ_PASSWORD', None),
    (None, None),
]


@pytest.mark.parametrize('name, key', KEYS, ids=[str(k[0]) for k in KEYS])
def test_user_key(name, key):
    assert service_users.user_key(name) == key


ALTERNATES = [('nova', 'nova', 'nova-b'), ('nova', 'nova-b', 'nova'), ('neutron', 'neutron', 'neutron-b')]


@pytest.mark.parametrize('base, current, other', ALTERNATES)
def test_alternate(base, current, other):
    assert service_users.alternate(base, current) == other
    assert service_users.alternate(base, other) == current


@pytest.mark.parametrize('service', sorted(s for s in CATALOG if any(
    service_users.user_key(x['name']) for x in CATALOG[s].get('secrets') or [])))
def test_every_user_default_is_the_catalog_user(service):
    """A deployment that never rotated renders the users the mq-init and registration Jobs create (nova-compute too)."""
    values = service_users.user_values(CATALOG[service], {})
    assert values and all(user == DECLARED[key.replace('_USER', '_PASSWORD')] for key, user in values.items())
    assert service_users.user_values(CATALOG[service], dict((k, 'x-b') for k in values)) == dict((k, 'x-b') for k in values)


def offline(entry, credentials):
    return m.render_service_offline(entry, m.make_deployment(namespace='openstack', node_roles=NODE_ROLES,
                                                             node_cidrs=['10.0.0.0/24']),
                                    credentials=credentials, scripts={})


@pytest.mark.parametrize('service', ['cinder', 'heat'])
def test_the_catalog_renders_what_the_literal_user_rendered(service):
    """The catalog's $<SERVICE>_RABBITMQ_USER, absent from the Secret, renders byte for byte what 'heat:' did."""
    entry = CATALOG[service]
    password = entry['messaging']['password']
    credentials = dict((s['name'], 'v-' + s['name'].lower()) for s in entry['secrets'])
    literal = yaml.safe_load(yaml.safe_dump(entry))
    for files in literal['config'].values():
        for sections in files.values():
            for options in sections.values():
                for key, value in options.items():
                    if isinstance(value, str) and '$' + service_users.user_key(password) in value:
                        options[key] = value.replace('$' + service_users.user_key(password), entry['messaging']['user'])
    assert literal != entry
    assert offline(entry, credentials) == offline(literal, credentials)
    switched = offline(entry, dict(credentials, **{service_users.user_key(password): entry['messaging']['user'] + '-b'}))
    objects = [o for phase in switched for o in phase['objects']]
    jobs = [o for o in objects if o['kind'] == 'Job' and '-mq-init-' in o['metadata']['name']]
    assert len(jobs) == 1 and entry['messaging']['user'] + '-b' in jobs[0]['spec']['template']['spec']['containers'][0]['command'][2]
    assert offline(entry, credentials) != switched


def secret_texts(phases):
    return [base64.b64decode(v).decode() for phase in phases for o in phase['objects'] if o['kind'] == 'Secret'
            for v in (o.get('data') or {}).values()]


@pytest.mark.parametrize('service', ['cinder', 'nova', 'placement'])
def test_keystone_user_switch_reaches_every_auth_section_and_the_registration_job(service):
    """$<SERVICE>_KEYSTONE_USER renders the catalog's name until a rotation names the other user; then every
    section that holds the password names the new user, and so does the registration Job."""
    entry = CATALOG[service]
    password = entry['keystone']['user']['password']
    key, base = service_users.user_key(password), entry['keystone']['user']['name']
    credentials = dict((s['name'], 'v-' + s['name'].lower()) for s in entry['secrets'])
    files = secret_texts(offline(entry, credentials))
    assert files and not any('$' + key in v for v in files)
    switched = offline(entry, dict(credentials, **{key: base + '-b'}))
    objects = [o for phase in switched for o in phase['objects']]
    texts = secret_texts(switched)
    holding = [t for t in texts if credentials[password] in t]
    assert holding and all('username = %s-b' % base in t and 'username = %s\n' % base not in t for t in holding)
    jobs = [o for o in objects if o['kind'] == 'Job' and 'register' in o['metadata']['name']]
    assert jobs and all(base + '-b' in str(j['spec']['template']['spec']) for j in jobs)
