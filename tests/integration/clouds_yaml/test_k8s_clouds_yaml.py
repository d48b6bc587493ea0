"""k8s_clouds_yaml against the Kubernetes sandbox, through real ansible-playbook runs.

The credentials Secret is created in the sandbox with the official client; the module reads it
through the shared adapter and writes the clouds.yaml. Checked: check mode writes nothing, the
real run writes mode 0600 with the other clouds kept, a re-run is changed=false and writes
nothing, and the password never appears in the -vvv --diff output.
"""

import base64
import os
import stat

import pytest
import yaml

pytestmark = pytest.mark.slow

NAMESPACE = 'openstack'
SECRET = 'openstack-credentials'
PASSWORD = 'Xk29fLqP0wZr7TbN3mYc8VdH1sJg5uAe'
OTHER_PASSWORD = 'anotherCloudsPasswordNotOurs1234'
AUTH_URL = 'http://keystone-api.openstack.sandbox.local:5000'


def create_secret(sandbox, data):
    client = sandbox.dynamic_client()
    client.resources.get(api_version='v1', kind='Namespace').create(
        body={'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}})
    client.resources.get(api_version='v1', kind='Secret').create(namespace=NAMESPACE, body={
        'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': SECRET, 'namespace': NAMESPACE},
        'data': dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())})


def write_playbook(directory, path, **options):
    args = dict(path=str(path), namespace=NAMESPACE, name=SECRET, auth_url=AUTH_URL, region_name='RegionOne')
    args.update(options)
    playbook = directory / 'clouds.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'Write the admin clouds.yaml', 'hosts': 'localhost', 'gather_facts': False,
        'tasks': [{'name': 'Write it', 'openstack_k8s.deploy.k8s_clouds_yaml': args, 'register': 'written'},
                  {'name': 'Show the result', 'ansible.builtin.debug': {'var': 'written'}}]}]))
    return playbook


def writes(sandbox):
    counts = sandbox.control.counts_by_verb()
    return dict((v, n) for v, n in counts.items() if v in ('create', 'update', 'patch', 'apply', 'delete') and n)


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_check_then_write_then_noop_and_the_password_never_shows(sandbox, run_playbook, make_inventory, tmp_path):
    create_secret(sandbox, {'KEYSTONE_ADMIN_PASSWORD': PASSWORD, 'GLANCE_DB_PASSWORD': 'g' * 32})
    path = tmp_path / 'clouds.yaml'
    mine = {'auth': {'auth_url': 'https://mine:5000', 'password': OTHER_PASSWORD}}
    path.write_text(yaml.safe_dump({'clouds': {'mine': mine}}))
    os.chmod(str(path), 0o644)
    original = path.read_text()
    inventory = make_inventory()
    playbook = write_playbook(tmp_path, path)
    sandbox.control.clear_request_log()

    check = run_playbook(playbook, inventory, check=True, diff=True, verbosity=3, env=sandbox.env)
    assert check.rc == 0, check.explain()
    assert check.changed() == 1, check.explain()
    assert path.read_text() == original and mode_of(path) == 0o644
    assert '********' in check.stdout and 'keystone-api.openstack.sandbox.local' in check.stdout

    real = run_playbook(playbook, inventory, diff=True, verbosity=3, env=sandbox.env)
    assert real.rc == 0, real.explain()
    assert real.changed() == 1, real.explain()
    assert mode_of(path) == 0o600
    document = yaml.safe_load(path.read_text())
    assert document['clouds']['mine']['auth']['password'] == OTHER_PASSWORD
    assert document['clouds']['openstack'] == {
        'auth': {'auth_url': AUTH_URL, 'username': 'admin', 'password': PASSWORD, 'project_name': 'admin',
                 'user_domain_name': 'Default', 'project_domain_name': 'Default'},
        'region_name': 'RegionOne', 'interface': 'public', 'identity_api_version': 3}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('.clouds.yaml')) == []

    inode = os.stat(str(path)).st_ino
    again = run_playbook(playbook, inventory, diff=True, verbosity=3, env=sandbox.env)
    assert again.rc == 0, again.explain()
    assert again.changed() == 0, again.explain()
    assert os.stat(str(path)).st_ino == inode
    again_check = run_playbook(playbook, inventory, check=True, diff=True, env=sandbox.env)
    assert again_check.rc == 0 and again_check.changed() == 0, again_check.explain()

    for result in (check, real, again, again_check):
        assert PASSWORD not in result.output
        assert OTHER_PASSWORD not in result.output
        assert 'path: %s' % path in result.stdout, result.stdout[-3000:]
    # The module only read: no write reached the API server.
    assert writes(sandbox) == {}, sandbox.control.counts_by_verb()


@pytest.mark.parametrize('data,fragments', [
    (None, ['Secret openstack/openstack-credentials does not exist', 'run the credentials role first']),
    ({'GLANCE_DB_PASSWORD': 'g' * 32},
     ['Secret openstack/openstack-credentials has no key KEYSTONE_ADMIN_PASSWORD', 'run the credentials role first']),
], ids=['no-secret', 'no-key'])
def test_missing_secret_or_key_fails_with_the_fix(sandbox, run_playbook, make_inventory, tmp_path, data, fragments):
    if data is not None:
        create_secret(sandbox, data)
    path = tmp_path / 'clouds.yaml'
    result = run_playbook(write_playbook(tmp_path, path), make_inventory(), env=sandbox.env)
    assert result.rc != 0
    output = ' '.join(result.output.split())
    for fragment in fragments:
        assert fragment in output, result.explain()
    assert not path.exists()


def test_bad_input_fails_before_any_request(sandbox, run_playbook, make_inventory, tmp_path):
    result = run_playbook(write_playbook(tmp_path, tmp_path / 'clouds.yaml', auth_url='keystone-api:5000'),
                          make_inventory(), env=sandbox.env)
    assert result.rc != 0
    assert 'auth_url must be an http:// or https:// URL' in result.output, result.explain()
    assert sandbox.control.request_log() == []


REPORT_CASES = [
    # (inventory values beyond the connection, the auth_url clouds.yaml must name)
    ({'openstack_public_domain': 'openstack.sandbox.local'}, AUTH_URL),
    # a region sharing another region's Keystone has none of its own: clouds.yaml names the shared one
    ({'openstack_public_domain': 'two.example', 'openstack_keystone_mode': 'shared',
      'openstack_shared_keystone_public_url': 'https://keystone.one.example:5000'}, 'https://keystone.one.example:5000'),
]


@pytest.mark.parametrize('values, auth_url', REPORT_CASES, ids=['local', 'shared-keystone'])
def test_deployment_report_writes_it_and_reports_the_path(sandbox, run_playbook, make_inventory, tmp_path, values,
                                                          auth_url):
    create_secret(sandbox, {'KEYSTONE_ADMIN_PASSWORD': PASSWORD})
    path = tmp_path / 'inventory' / 'clouds.yaml'
    inventory = make_inventory(group_vars=dict({'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig}}, **values))
    playbook = tmp_path / 'report.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'Report', 'hosts': 'localhost', 'gather_facts': False,
        'roles': [{'role': 'openstack_k8s.deploy.deployment_report', 'deployment_report_services': [],
                   'deployment_report_clouds_yaml_write': True}]}]))
    first = run_playbook(playbook, inventory, verbosity=3)
    assert first.rc == 0, first.explain()
    assert first.changed() == 1, first.explain()
    assert 'admin clouds.yaml: %s' % path in first.stdout, first.explain()
    assert 'not written yet' not in first.stdout, first.explain()
    assert yaml.safe_load(path.read_text())['clouds']['openstack']['auth']['auth_url'] == auth_url
    assert mode_of(path) == 0o600
    second = run_playbook(playbook, inventory, verbosity=3)
    assert second.rc == 0 and second.changed() == 0, second.explain()
    assert PASSWORD not in first.output + second.output
