"""No secret leaves the credentials and config Secrets: site.yml at -vvv with --diff, searched everywhere.

Every generated credential, and one the operator pinned in the inventory, is looked for in
the whole ansible-playbook output (stdout and stderr of a first converge and of a check-mode
re-run, both with diff), in every object in the sandbox that is not a Secret (ConfigMaps,
workloads, Jobs, annotations, managedFields...), and in every key and value of the etcd tree.
Each is looked for as itself and base64-encoded, the form it takes in a Kubernetes object.
"""
import base64
import json

import pytest

from test_site_playbook import HOSTS, Site  # same directory: pytest puts it on sys.path

pytestmark = pytest.mark.slow

SERVICES = ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance']
PINNED = {'GLANCE_KEYSTONE_PASSWORD': 'Pinned-by-the-operator-4f0c2a9e7b11'}


def _forms(value):
    """The value, and the base64 text it becomes inside any longer base64-encoded data.

    Inside a larger encoding the value starts at one of three byte offsets of a 3-byte group;
    for each, the characters that encode only the value's bits are the same whatever the
    surrounding bytes are.
    """
    raw = value.encode()
    forms = [value]
    for offset in range(3):
        encoded = base64.b64encode(b'\0' * offset + raw).decode()
        forms.append(encoded[-(-8 * offset // 6):(8 * (offset + len(raw))) // 6])
    return forms


@pytest.fixture(name='leak_runs', scope='module')
def leak_runs_fixture(k8s_sandbox, etcd, tmp_path_factory):
    from harness.ansible_fixtures import run_ansible_playbook, write_inventory
    k8s_sandbox.reset()
    etcd.wipe()
    directory = tmp_path_factory.mktemp('leak')

    def make_inventory(hosts=None, group_vars=None, name='inventory'):
        return write_inventory(directory / name, hosts=hosts, group_vars=group_vars)

    site = Site(k8s_sandbox, etcd, run_ansible_playbook, make_inventory)
    site.group_vars['openstack_pinned_credentials'] = dict(PINNED)
    runs = []
    for check, diff in ((False, True), (True, True)):
        inventory = make_inventory(hosts=HOSTS, group_vars=dict(site.group_vars, openstack_enabled_services=SERVICES))
        result = run_ansible_playbook('playbooks/site.yml', inventory, check=check, diff=diff, verbosity=3,
                                      skip_tags=['host_prep'])
        assert result.rc == 0, result.explain()
        runs.append(result)
    return site, runs


def test_the_runs_generated_and_pinned_credentials(leak_runs):
    site, _runs = leak_runs
    credentials = site.credentials()
    assert len(credentials) >= 10
    assert credentials['GLANCE_KEYSTONE_PASSWORD'] == PINNED['GLANCE_KEYSTONE_PASSWORD']


@pytest.mark.parametrize('where', ['ansible output', 'objects other than Secrets', 'etcd tree'])
def test_no_secret_is_found(leak_runs, where):
    site, runs = leak_runs
    secrets = dict((name, value) for name, value in site.credentials().items() if len(value) >= 8)
    if where == 'ansible output':
        haystack = '\n'.join(run.stdout + run.stderr for run in runs)
        assert 'KEYSTONE_ADMIN_PASSWORD' in haystack or 'credentials' in haystack  # the runs did talk about them
    elif where == 'objects other than Secrets':
        objects = [entry['object'] for entry in site.sandbox.control.snapshot()['objects']
                   if entry['object'].get('kind') != 'Secret']
        assert any(obj.get('kind') == 'ConfigMap' for obj in objects)
        haystack = json.dumps(objects)
    else:
        tree = site.etcd.dump('/openstack')
        assert tree
        haystack = json.dumps(tree)
    found = sorted(name for name, value in secrets.items() if any(form in haystack for form in _forms(value)))
    assert found == [], 'secrets found in the %s: %s' % (where, ', '.join(found))


def test_the_search_finds_them_where_they_belong(leak_runs):
    """Control: the same search over the config Secrets finds the credentials the services use."""
    site, _runs = leak_runs
    secrets = site.credentials()
    config = [entry['object'] for entry in site.sandbox.control.snapshot()['objects']
              if entry['object'].get('kind') == 'Secret' and entry['object']['metadata']['name'] == 'glance-config-controller']
    assert config, 'no glance config Secret'
    haystack = json.dumps(config)
    for name in ('GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD'):
        assert any(form in haystack for form in _forms(secrets[name])), name
