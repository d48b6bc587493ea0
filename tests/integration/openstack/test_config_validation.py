"""Every oslo.config file the collection renders, checked by the real OpenStack code.

The files are rendered from the service catalog exactly as ``k8s_openstack_service``
renders them (catalog defaults merged with operator overrides, ``$VAR`` substituted from
generated credentials), then ``tests/openstack/validate_config.py`` runs inside the
OpenStack venv: ``oslo-config-validator`` for names, oslo.config's own types for values,
keystonemiddleware + keystoneauth1 for ``[keystone_authtoken]``.

The second table renders deliberately broken overrides through the same path; each must
be refused with the reason given, which proves the checks can fail.
"""
import concurrent.futures
import json
import pathlib
import subprocess
import time

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat

REPO = pathlib.Path(__file__).resolve().parents[3]
CATALOG_DIR = REPO / 'roles' / 'catalog' / 'files' / 'services'
NODE_ROLES_FILE = REPO / 'roles' / 'catalog' / 'files' / 'node_roles.yml'


def _catalog_files():
    with open(NODE_ROLES_FILE, encoding='utf-8') as handle:
        node_roles = yaml.safe_load(handle)
    catalog = cat.load_directory(str(CATALOG_DIR), node_roles)
    cases = []
    for name in sorted(catalog):
        entry = catalog[name]
        if entry.get('kind') != 'openstack':
            continue
        formats = entry.get('config_formats') or {}
        for role, files in sorted((entry.get('config') or {}).items()):
            for fname in sorted(files):
                if formats.get(fname, 'oslo') == 'oslo':
                    cases.append((name, role, fname))
    return cases


RENDERED = _catalog_files()

# (case id, service, node role, file, operator override of that file, expected finding)
BROKEN = [
    ('misspelled option', 'keystone', 'controller', 'keystone.conf',
     {'token': {'expiraton': 3600}}, 'token/expiraton is not part of the sample config'),
    ('option in the wrong section', 'nova', 'controller', 'nova.conf',
     {'api': {'transport_url': 'rabbit://nova:x@rabbitmq:5672/'}}, 'api/transport_url is not part of the sample config'),
    ('unknown section', 'heat', 'controller', 'heat.conf',
     {'heat_api_cfnn': {'workers': 2}}, 'heat_api_cfnn/workers is not part of the sample config'),
    ('misspelled keystone_authtoken option', 'glance', 'controller', 'glance-api.conf',
     {'keystone_authtoken': {'user_domian_name': 'Default'}}, 'keystone_authtoken/user_domian_name is not an option'),
    ('misspelled auth plugin option in a client section', 'nova', 'controller', 'nova.conf',
     {'neutron': {'user_domian_name': 'Default'}}, 'neutron/user_domian_name is not part of the sample config'),
    ('unknown auth plugin', 'placement', 'controller', 'placement.conf',
     {'keystone_authtoken': {'auth_type': 'passwd'}}, "'passwd' is not an auth plugin"),
    ('misspelled option in a cinder backend section', 'cinder', 'storage', 'cinder.conf',
     {'lvm-1': {'volume_grup': 'cinder-volumes'}}, 'backend_defaults/volume_grup is not part of the sample config'),
    ('deprecated option name', 'nova', 'controller', 'nova.conf',
     {'DEFAULT': {'notify_on_state_change': 'vm_state'}}, 'Deprecated opt DEFAULT/notify_on_state_change found'),
    ('not an integer', 'nova', 'controller', 'nova.conf',
     {'conductor': {'workers': 'four'}}, "invalid literal for int() with base 10: 'four'"),
    ('integer below its minimum', 'keystone', 'controller', 'keystone.conf',
     {'fernet_tokens': {'max_active_keys': 0}}, 'Should be greater than or equal to 1'),
    ('not one of the choices', 'glance', 'controller', 'glance-api.conf',
     {'keystone_authtoken': {'memcache_security_strategy': 'ENCRYPTED'}}, 'Valid values are'),
    ('not a boolean', 'cinder', 'controller', 'cinder.conf',
     {'DEFAULT': {'debug': 'sometimes'}}, "Unexpected boolean value 'sometimes'"),
    ('not a URI', 'keystone', 'controller', 'keystone.conf',
     {'DEFAULT': {'public_endpoint': 'keystone-api:5000'}}, 'Value for option public_endpoint is not valid'),
    ('not an IP address', 'neutron', 'compute', 'openvswitch_agent.ini',
     {'ovs': {'local_ip': '10.0.0.300'}}, 'is not IPv4 or IPv6 address'),
    ('not a host address', 'nova-compute', 'compute', 'nova.conf',
     {'vnc': {'server_listen': 'bad host!'}}, 'host address'),
    ('bad value in a glance store section', 'glance', 'controller', 'glance-api.conf',
     {'file': {'filesystem_store_file_perm': 'rw'}}, "invalid literal for int() with base 10: 'rw'"),
    ('misspelled option in a manila share backend section', 'manila', 'storage', 'manila.conf',
     {'lvm-1': {'lvm_share_volume_grup': 'manila-volumes'}}, 'DEFAULT/lvm_share_volume_grup is not part of the sample config'),
    ('bad value in a manila share backend section', 'manila', 'storage', 'manila.conf',
     {'lvm-1': {'driver_handles_share_servers': 'maybe'}}, "Unexpected boolean value 'maybe'"),
    ('ironic RPC transport not one of the choices', 'ironic', 'controller', 'ironic.conf',
     {'DEFAULT': {'rpc_transport': 'jsonrpc'}}, 'Valid values are [oslo, json-rpc, none]'),
    # ironic-inspector's client options are gone from ironic 39: inspection is built in.
    ('ironic-inspector client option', 'ironic', 'baremetal', 'ironic.conf',
     {'inspector': {'endpoint_override': 'http://ironic-inspector:5050'}}, 'inspector/endpoint_override is not part of the sample config'),
    ('misspelled option of a barbican plugin', 'barbican', 'controller', 'barbican.conf',
     {'simple_crypto_plugin': {'kekk': 'x'}}, 'simple_crypto_plugin/kekk is not part of the sample config'),
    ('not an integer in a designate service section', 'designate', 'controller', 'designate.conf',
     {'service:worker': {'poll_timeout': 'soon'}}, "invalid literal for int() with base 10: 'soon'"),
]


def _key(name, fname):
    return '%s/%s' % (name, fname)


@pytest.fixture(scope='module')
def verdicts(openstack_venv, cloud, tmp_path_factory, tier_timings):
    """Render every case, validate them all in one run of the OpenStack venv; ``{case id: result}``."""
    work = tmp_path_factory.mktemp('rendered')
    jobs = []
    for name, role, fname in RENDERED:
        path = work / name / role / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cloud.config_files(name)[role][fname], encoding='utf-8')
        jobs.append({'id': '%s/%s/%s' % (name, role, fname), 'key': _key(name, fname), 'path': str(path)})
    for case_id, name, role, fname, override, _expected in BROKEN:
        path = work / 'broken' / case_id.replace(' ', '-') / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cloud.config_files(name, {role: {fname: override}})[role][fname], encoding='utf-8')
        jobs.append({'id': case_id, 'key': _key(name, fname), 'path': str(path)})
    # One process per service: the services register their options on oslo.config's global
    # object when imported, and two services' registrations clash (cinder and glance both
    # define enabled_backends).
    by_service = {}
    for job in jobs:
        by_service.setdefault(job['key'].split('/', 1)[0], []).append(job)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(lambda item: _validate(openstack_venv, work, *item), sorted(by_service.items())))
    tier_timings['config validation (%d files, %d services)' % (len(jobs), len(by_service))] = round(
        time.monotonic() - started, 1)
    verdicts_by_id = {}
    for output in outputs:
        verdicts_by_id.update(output)
    return verdicts_by_id


def _validate(venv, work, service, jobs):
    jobs_file = work / ('jobs-%s.json' % service)
    jobs_file.write_text(json.dumps(jobs), encoding='utf-8')
    result = subprocess.run(
        [venv.python, str(REPO / 'tests' / 'openstack' / 'validate_config.py'),
         '--option-data', str(venv.option_data), '--jobs', str(jobs_file)],
        capture_output=True, text=True, env=venv.env(), check=False)
    assert result.returncode == 0, 'validate_config.py failed for %s:\n%s' % (service, result.stderr[-4000:])
    return json.loads(result.stdout)


@pytest.mark.parametrize('name,role,fname', RENDERED, ids=['%s/%s/%s' % c for c in RENDERED])
def test_rendered_file_is_valid(verdicts, name, role, fname):
    verdict = verdicts['%s/%s/%s' % (name, role, fname)]
    assert verdict['errors'] == [], '%s (%s) is not valid for OpenStack 2026.2:\n  %s' % (
        fname, role, '\n  '.join(verdict['errors']))
    # The value check read options through oslo.config: a file it could not map would pass vacuously.
    assert verdict['checked'] > 0


@pytest.mark.parametrize('case_id,name,role,fname,override,expected', BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_rendering_is_refused(verdicts, case_id, name, role, fname, override, expected):
    del name, role, fname, override
    errors = verdicts[case_id]['errors']
    assert errors, 'the broken rendering %r passed validation' % case_id
    assert any(expected in error for error in errors), 'expected %r among:\n  %s' % (expected, '\n  '.join(errors))


def test_every_rendered_oslo_file_has_option_data():
    """A file the catalog gains must get its namespaces, or it would go unchecked."""
    with open(REPO / 'tests' / 'openstack' / 'namespaces-2026.2.yml', encoding='utf-8') as handle:
        table = yaml.safe_load(handle)['files']
    missing = sorted(set(_key(name, fname) for name, _role, fname in RENDERED) - set(table))
    assert not missing, 'add these files to tests/openstack/namespaces-2026.2.yml: %s' % ', '.join(missing)
