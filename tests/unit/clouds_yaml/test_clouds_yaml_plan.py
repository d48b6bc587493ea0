"""k8s_clouds_yaml's logic (module_utils/clouds_yaml.py) against a stub Kubernetes client and a temp dir."""

import base64
import os
import stat

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import clouds_yaml as cy
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK

PASSWORD = 'Zq3vN8sKpL2mR7tYw4xB9cD1eF6gH0jA'
OTHER_PASSWORD = 'otherCloudPassw0rdOtherCloudPass'
OTHER_CLOUD = {'auth': {'auth_url': 'https://other.example:5000', 'username': 'demo', 'password': OTHER_PASSWORD,
                        'project_name': 'demo'}, 'region_name': 'RegionTwo'}


class StubClient(object):
    """K8sClient.get over a dict of Secrets; counts the calls."""

    def __init__(self, secrets=None):
        self.secrets = secrets if secrets is not None else {
            ('openstack', 'openstack-credentials'): {'KEYSTONE_ADMIN_PASSWORD': PASSWORD}}
        self.calls = []

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append((api_version, kind, name, namespace))
        data = self.secrets.get((namespace, name))
        if data is None:
            return None
        return {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': name, 'namespace': namespace},
                'data': dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())}


def params(path, **overrides):
    values = dict(path=str(path), cloud='openstack', auth_url='http://keystone-api.openstack.local:5000',
                  interface='public', region_name='RegionOne', username='admin', project_name='admin',
                  user_domain_name='Default', project_domain_name='Default', name='openstack-credentials',
                  namespace='openstack', password_key='KEYSTONE_ADMIN_PASSWORD')
    values.update(overrides)
    return values


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_fresh_file_is_written_0600_with_the_admin_cloud(tmp_path):
    path = tmp_path / 'clouds.yaml'
    seen = []
    result = cy.ensure_clouds_yaml(StubClient(), params(path), on_secret=seen.append)
    assert result['changed'] and result['path'] == str(path) and result['cloud'] == 'openstack'
    assert seen == [PASSWORD]
    assert mode_of(path) == 0o600
    assert yaml.safe_load(path.read_text()) == {'clouds': {'openstack': {
        'auth': {'auth_url': 'http://keystone-api.openstack.local:5000', 'username': 'admin', 'password': PASSWORD,
                 'project_name': 'admin', 'user_domain_name': 'Default', 'project_domain_name': 'Default'},
        'region_name': 'RegionOne', 'interface': 'public', 'identity_api_version': 3}}}
    assert PASSWORD not in repr(result)
    # No temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clouds.yaml']


def test_unchanged_content_is_not_rewritten(tmp_path):
    path = tmp_path / 'clouds.yaml'
    cy.ensure_clouds_yaml(StubClient(), params(path))
    # Reformat the file by hand (same content): still no write.
    path.write_text('# mine\n' + yaml.safe_dump(yaml.safe_load(path.read_text()), default_flow_style=True))
    os.chmod(str(path), 0o600)
    before = (path.read_text(), os.stat(str(path)).st_mtime_ns, os.stat(str(path)).st_ino)
    result = cy.ensure_clouds_yaml(StubClient(), params(path))
    assert result['changed'] is False
    assert (path.read_text(), os.stat(str(path)).st_mtime_ns, os.stat(str(path)).st_ino) == before


def test_wrong_mode_alone_is_fixed_without_rewriting(tmp_path):
    path = tmp_path / 'clouds.yaml'
    cy.ensure_clouds_yaml(StubClient(), params(path))
    os.chmod(str(path), 0o644)
    inode = os.stat(str(path)).st_ino
    result = cy.ensure_clouds_yaml(StubClient(), params(path))
    assert result['changed'] and mode_of(path) == 0o600 and os.stat(str(path)).st_ino == inode
    assert '0644' in result['diff']['before_header'] and '0600' in result['diff']['after_header']


def test_other_clouds_and_keys_are_kept_and_only_our_entry_replaced(tmp_path):
    path = tmp_path / 'clouds.yaml'
    stale = {'auth': {'auth_url': 'http://old:5000', 'password': 'stale'}}
    path.write_text(yaml.safe_dump({'clouds': {'zeta': OTHER_CLOUD, 'openstack': stale, 'alpha': OTHER_CLOUD},
                                    'cache': {'expiration_time': 3600}}, sort_keys=False))
    result = cy.ensure_clouds_yaml(StubClient(), params(path))
    assert result['changed']
    document = yaml.safe_load(path.read_text())
    assert list(document['clouds']) == ['zeta', 'openstack', 'alpha']
    assert document['clouds']['zeta'] == OTHER_CLOUD and document['clouds']['alpha'] == OTHER_CLOUD
    assert document['clouds']['openstack']['auth']['password'] == PASSWORD
    assert document['cache'] == {'expiration_time': 3600}
    assert mode_of(path) == 0o600


def test_diff_masks_every_password(tmp_path):
    path = tmp_path / 'clouds.yaml'
    path.write_text(yaml.safe_dump({'clouds': {'other': OTHER_CLOUD}}))
    result = cy.ensure_clouds_yaml(StubClient(), params(path), check_mode=True)
    diff = result['diff']
    assert result['changed']
    text = diff['before'] + diff['after'] + repr(result)
    assert PASSWORD not in text and OTHER_PASSWORD not in text
    assert yaml.safe_load(diff['after'])['clouds']['openstack']['auth']['password'] == MASK
    assert yaml.safe_load(diff['before'])['clouds']['other']['auth']['password'] == MASK
    assert yaml.safe_load(diff['after'])['clouds']['openstack']['auth']['auth_url'].startswith('http://keystone-api')


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / 'clouds.yaml'
    result = cy.ensure_clouds_yaml(StubClient(), params(path), check_mode=True)
    assert result['changed'] and not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_symlink_target_is_written_and_link_kept(tmp_path):
    target = tmp_path / 'real.yaml'
    target.write_text('')
    link = tmp_path / 'clouds.yaml'
    link.symlink_to(target)
    result = cy.ensure_clouds_yaml(StubClient(), params(link))
    assert result['path'] == str(target) and link.is_symlink()
    assert PASSWORD in target.read_text()


@pytest.mark.parametrize('secrets,fragments', [
    ({}, ['Secret openstack/openstack-credentials does not exist', 'run the credentials role first']),
    ({('openstack', 'openstack-credentials'): {'GLANCE_DB_PASSWORD': 'x' * 32}},
     ['Secret openstack/openstack-credentials has no key KEYSTONE_ADMIN_PASSWORD', 'run the credentials role first']),
], ids=['no-secret', 'no-key'])
def test_missing_secret_or_key_fails_naming_it_and_the_fix(tmp_path, secrets, fragments):
    path = tmp_path / 'clouds.yaml'
    with pytest.raises(cy.CloudsYamlError) as err:
        cy.ensure_clouds_yaml(StubClient(secrets), params(path))
    for fragment in fragments:
        assert fragment in str(err.value)
    assert not path.exists()
    # Check mode predicts the write with a warning instead (the credentials role would create it this run).
    result = cy.ensure_clouds_yaml(StubClient(secrets), params(path), check_mode=True)
    assert result['changed'] and fragments[0] in result['warnings'][0] and not path.exists()


@pytest.mark.parametrize('overrides,fragment', [
    (dict(auth_url='keystone-api:5000'), 'auth_url must be an http:// or https:// URL'),
    (dict(auth_url=''), 'auth_url must be'),
    (dict(cloud='my cloud'), 'cloud must be a name'),
    (dict(cloud=''), 'cloud must be a name'),
    (dict(interface='private'), 'interface must be one of public, internal, admin'),
    (dict(username=' '), 'username must be a non-empty string'),
    (dict(region_name=''), 'region_name must be a non-empty string'),
    (dict(password_key='KEYSTONE ADMIN'), 'password_key must be a key of the credentials Secret'),
    (dict(path='DIR'), 'is a directory; set path to a file in it'),
    (dict(path='DIR/missing/clouds.yaml'), 'does not exist; create it'),
], ids=['url-no-scheme', 'url-empty', 'cloud-space', 'cloud-empty', 'interface', 'username', 'region', 'key',
        'path-dir', 'path-no-dir'])
def test_bad_inputs_fail_before_any_request(tmp_path, overrides, fragment):
    overrides = dict(overrides)
    path = overrides.pop('path', 'DIR/clouds.yaml').replace('DIR', str(tmp_path))
    client = StubClient()
    with pytest.raises(cy.CloudsYamlError) as err:
        cy.ensure_clouds_yaml(client, params(path, **overrides))
    assert fragment in str(err.value)
    assert client.calls == []


@pytest.mark.parametrize('content,fragment', [
    ('clouds: [a, b]\n', '"clouds" must be a mapping'),
    ('- just\n- a list\n', 'is not a clouds.yaml'),
    ('clouds: {a: [\n', 'is not valid YAML'),
], ids=['clouds-list', 'top-list', 'broken-yaml'])
def test_a_file_that_is_not_a_clouds_yaml_is_left_alone(tmp_path, content, fragment):
    path = tmp_path / 'clouds.yaml'
    path.write_text(content)
    with pytest.raises(cy.CloudsYamlError) as err:
        cy.ensure_clouds_yaml(StubClient(), params(path))
    assert fragment in str(err.value) and str(path) in str(err.value)
    assert path.read_text() == content


@pytest.mark.parametrize('existing,changed', [
    (None, True),
    ('', True),
    ('clouds: {}\n', True),
    ('other: 1\n', True),
])
def test_plan_table(existing, changed):
    entry = cy.cloud_entry(params('/x'), PASSWORD)
    result, text, before, after = cy.plan(existing, '/x', 'openstack', entry)
    assert result is changed
    assert yaml.safe_load(text)['clouds']['openstack'] == entry
    assert after['clouds']['openstack'] == entry and 'openstack' not in (before.get('clouds') or {})
    assert cy.plan(text, '/x', 'openstack', entry)[0] is False


def test_mask_keeps_structure_and_scrubs_known_values():
    document = {'clouds': {'a': {'auth': {'password': 'p', 'token': 't', 'auth_url': 'http://x?pw=%s' % PASSWORD,
                                          'application_credential_secret': 's', 'username': 'admin'}}}}
    masked = cy.mask(document, [PASSWORD])
    assert masked['clouds']['a']['auth'] == {'password': MASK, 'token': MASK, 'auth_url': 'http://x?pw=' + MASK,
                                             'application_credential_secret': MASK, 'username': 'admin'}
