"""k8s_credentials against the Kubernetes sandbox: generated once, never overwritten, never shown.

In-process runs use the module's own code path (normalise_requests + ensure_credentials over
the shared K8sClient); the playbook runs go through ansible-playbook -vvv --diff and check that
no secret value reaches the output. Every expectation is read back with a separate client.
"""

import base64
import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.credentials import (
    CredentialsError, ensure_credentials, normalise_requests)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NAMESPACE = 'openstack'
SECRET = 'openstack-credentials'
KEYSTONE = [{'name': 'KEYSTONE_ADMIN_PASSWORD'}, {'name': 'KEYSTONE_DB_PASSWORD'},
            {'name': 'KEYSTONE_CREDENTIAL_KEY', 'type': 'fernet_key'}]
GLANCE = [{'name': 'GLANCE_DB_PASSWORD'}, {'name': 'GLANCE_KEYSTONE_PASSWORD'}]
NEUTRON = [{'name': 'NEUTRON_METADATA_SECRET', 'type': 'urlsafe', 'length': 48}, {'name': 'NEUTRON_DB_PASSWORD'}]


@pytest.fixture
def cluster(sandbox):
    client = K8sClient(dict(kubeconfig=sandbox.kubeconfig))
    client.create(dict(apiVersion='v1', kind='Namespace', metadata=dict(name=NAMESPACE)))
    sandbox.control.clear_request_log()
    return sandbox


def run(sandbox, secrets, pinned=None, rotate=None, check_mode=False, state='present', client=None):
    wanted, pinned, rotate = normalise_requests(secrets, pinned, rotate)
    client = client or K8sClient(dict(kubeconfig=sandbox.kubeconfig))
    return ensure_credentials(client, SECRET, NAMESPACE, wanted, pinned, rotate, check_mode=check_mode, state=state)


def stored(sandbox):
    """The Secret's values, read with a separate official client; None when it does not exist."""
    from kubernetes import client as k8s
    from kubernetes.client.rest import ApiException
    try:
        secret = k8s.CoreV1Api(sandbox.api_client()).read_namespaced_secret(SECRET, NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict((k, base64.b64decode(v).decode()) for k, v in (secret.data or {}).items())


def writes(sandbox):
    counts = sandbox.control.counts_by_verb()
    return dict((verb, counts.get(verb, 0)) for verb in ('create', 'update', 'patch', 'apply', 'delete') if counts.get(verb))


@pytest.mark.parametrize('secrets,shapes', [
    (KEYSTONE, {'KEYSTONE_ADMIN_PASSWORD': r'^[A-Za-z0-9]{32}$', 'KEYSTONE_DB_PASSWORD': r'^[A-Za-z0-9]{32}$',
                'KEYSTONE_CREDENTIAL_KEY': r'^[A-Za-z0-9_-]{43}=$'}),
    (NEUTRON, {'NEUTRON_METADATA_SECRET': r'^[A-Za-z0-9_-]{48}$', 'NEUTRON_DB_PASSWORD': r'^[A-Za-z0-9]{32}$'}),
    ([{'name': 'HEAT_AUTH_ENCRYPTION_KEY', 'type': 'hex', 'length': 32}], {'HEAT_AUTH_ENCRYPTION_KEY': r'^[0-9a-f]{32}$'}),
])
def test_first_run_creates_then_second_run_writes_nothing(cluster, secrets, shapes):
    result = run(cluster, secrets)
    assert result['changed'] and result['created'] == sorted(shapes)
    values = stored(cluster)
    assert sorted(values) == sorted(shapes)
    for name, pattern in shapes.items():
        assert re.match(pattern, values[name])
    assert len(set(values.values())) == len(values)
    assert writes(cluster) == {'create': 1}
    assert MASK not in ''.join(values.values())
    assert not any(value in json.dumps(result) for value in values.values())

    cluster.control.clear_request_log()
    again = run(cluster, secrets)
    assert (again['changed'], again['created'], again['kept']) == (False, [], sorted(shapes))
    assert writes(cluster) == {}
    assert stored(cluster) == values


def test_adding_a_service_adds_only_its_secrets(cluster):
    run(cluster, KEYSTONE)
    before = stored(cluster)
    cluster.control.clear_request_log()
    result = run(cluster, KEYSTONE + GLANCE)
    assert result['created'] == ['GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD']
    after = stored(cluster)
    assert dict((k, after[k]) for k in before) == before
    assert writes(cluster) == {'patch': 1}
    # A service removed from the list leaves its secrets alone.
    assert run(cluster, GLANCE)['changed'] is False
    assert stored(cluster) == after


def test_pinned_values_are_used_and_never_silently_replace(cluster):
    pin = 'pinned-by-the-operator-in-vault-01234'
    result = run(cluster, KEYSTONE, pinned={'KEYSTONE_ADMIN_PASSWORD': pin})
    assert 'KEYSTONE_ADMIN_PASSWORD' in result['created']
    assert stored(cluster)['KEYSTONE_ADMIN_PASSWORD'] == pin
    before = stored(cluster)
    cluster.control.clear_request_log()
    with pytest.raises(CredentialsError) as error:
        run(cluster, KEYSTONE, pinned={'KEYSTONE_ADMIN_PASSWORD': 'a-different-pinned-value-987654321'})
    assert 'KEYSTONE_ADMIN_PASSWORD differs' in str(error.value) and 'a-different' not in str(error.value)
    assert writes(cluster) == {}
    assert stored(cluster) == before


def test_rotate_replaces_only_the_named_keys(cluster):
    run(cluster, KEYSTONE + GLANCE)
    before = stored(cluster)
    result = run(cluster, KEYSTONE + GLANCE, rotate=['GLANCE_DB_PASSWORD'])
    assert (result['rotated'], result['created']) == (['GLANCE_DB_PASSWORD'], [])
    after = stored(cluster)
    assert after['GLANCE_DB_PASSWORD'] != before['GLANCE_DB_PASSWORD'] and len(after['GLANCE_DB_PASSWORD']) == 32
    assert dict((k, v) for k, v in after.items() if k != 'GLANCE_DB_PASSWORD') == \
        dict((k, v) for k, v in before.items() if k != 'GLANCE_DB_PASSWORD')


def test_check_mode_plans_and_writes_nothing(cluster):
    predicted = run(cluster, KEYSTONE, check_mode=True)
    assert predicted['created'] == sorted(s['name'] for s in KEYSTONE)
    assert writes(cluster) == {} and stored(cluster) is None
    run(cluster, KEYSTONE)
    values = stored(cluster)
    cluster.control.clear_request_log()
    predicted = run(cluster, KEYSTONE + GLANCE, check_mode=True)
    assert predicted['created'] == ['GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD']
    assert predicted['diff']['after'] == dict((n, MASK) for n in list(values) + ['GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD'])
    assert writes(cluster) == {} and stored(cluster) == values


class ConcurrentWriter(K8sClient):
    """After our first read, another writer adds ``theirs`` to the Secret (separate client)."""

    def __init__(self, params, sandbox, theirs):
        super(ConcurrentWriter, self).__init__(params)
        self._sandbox, self._theirs = sandbox, theirs

    def get(self, api_version, kind, name, namespace=None):
        found = super(ConcurrentWriter, self).get(api_version, kind, name, namespace)
        if self._theirs:
            from kubernetes import client as k8s
            api = k8s.CoreV1Api(self._sandbox.api_client())
            data = dict((k, base64.b64encode(v.encode()).decode()) for k, v in self._theirs.items())
            if found is None:
                api.create_namespaced_secret(NAMESPACE, {'metadata': {'name': SECRET}, 'data': data})
            else:
                api.patch_namespaced_secret(SECRET, NAMESPACE, {'data': data})
            self._theirs = None
        return found


@pytest.mark.parametrize('secret_exists', [False, True], ids=['racing-create', 'racing-patch'])
def test_concurrent_writer_is_never_overwritten(cluster, secret_exists):
    if secret_exists:
        run(cluster, KEYSTONE)
    theirs = {'GLANCE_DB_PASSWORD': 'written-by-the-other-writer-000000'}
    client = ConcurrentWriter(dict(kubeconfig=cluster.kubeconfig), cluster, theirs)
    result = run(cluster, KEYSTONE + GLANCE, client=client)
    values = stored(cluster)
    assert values['GLANCE_DB_PASSWORD'] == theirs['GLANCE_DB_PASSWORD']
    assert 'GLANCE_DB_PASSWORD' in result['kept'] and 'GLANCE_KEYSTONE_PASSWORD' in result['created']
    assert client.requests.get('get', 0) == 2          # read, conflict, read again


def test_retries_through_server_errors(cluster):
    cluster.control.settings(faults=[{'rate': 1.0, 'responses': [503], 'verbs': ['get'], 'count': 2}])
    client = K8sClient(dict(kubeconfig=cluster.kubeconfig), sleep=lambda seconds: None)
    result = run(cluster, GLANCE, client=client)
    assert result['created'] == ['GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD']
    assert client.retried == 2


def test_state_absent_removes_named_keys_then_the_secret(cluster):
    run(cluster, KEYSTONE + GLANCE)
    result = run(cluster, GLANCE, state='absent')
    assert result['removed'] == ['GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD']
    assert sorted(stored(cluster)) == sorted(s['name'] for s in KEYSTONE)
    assert run(cluster, [], state='absent')['changed'] is True
    assert stored(cluster) is None
    assert run(cluster, [], state='absent')['changed'] is False


def test_missing_namespace_is_explained(sandbox):
    with pytest.raises(CredentialsError) as error:
        run(sandbox, GLANCE)
    assert 'namespace openstack does not exist' in str(error.value)


# -- through ansible-playbook ---------------------------------------------------------------

PLAY = """
- name: Credentials
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ensure credentials
      openstack_k8s.deploy.k8s_credentials:
        kubeconfig: "{{ kubeconfig }}"
        namespace: openstack
        secrets: "{{ wanted }}"
        pinned: "{{ pinned }}"
      register: credentials
      no_log: "{{ hide | default(true) }}"

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ credentials | to_json }}"
        dest: "{{ results_file }}"
        mode: "0600"
      check_mode: false
      changed_when: false
"""


def playbook(tmp_path, sandbox, wanted, pinned, *flags, **extra):
    (tmp_path / 'play.yml').write_text(PLAY)
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n'
                                            % sys.executable)
    results = tmp_path / 'results.json'
    variables = dict(kubeconfig=sandbox.kubeconfig, wanted=wanted, pinned=pinned, results_file=str(results))
    variables.update(extra)
    (tmp_path / 'vars.json').write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_HOME=str(tmp_path / 'home'))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
                           str(tmp_path / 'inventory.ini'), '-e', '@' + str(tmp_path / 'vars.json'),
                           str(tmp_path / 'play.yml')] + list(flags),
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    return done.returncode, done.stdout.decode('utf-8', 'replace'), json.loads(results.read_text())


@pytest.mark.parametrize('hide', [True, False], ids=['task-no_log', 'module-alone'])
def test_vvv_and_diff_output_holds_no_secret_value(cluster, tmp_path, hide):
    pin = 'pinned-through-a-vaulted-variable-42'
    rc, output, result = playbook(tmp_path, cluster, KEYSTONE + GLANCE, {'KEYSTONE_ADMIN_PASSWORD': pin},
                                  '-vvv', '--diff', hide=hide)
    assert rc == 0, output[-3000:]
    assert result['created'] == sorted(s['name'] for s in KEYSTONE + GLANCE)
    values = stored(cluster)
    assert values['KEYSTONE_ADMIN_PASSWORD'] == pin
    for value in values.values():
        assert value not in output
        assert value not in json.dumps(result)
    if not hide:
        assert 'GLANCE_DB_PASSWORD' in output          # names are shown, values are not

    rc, output, result = playbook(tmp_path, cluster, KEYSTONE + GLANCE + NEUTRON, {'KEYSTONE_ADMIN_PASSWORD': pin},
                                  '-vvv', '--diff', '--check', hide=hide)
    assert rc == 0 and result['created'] == ['NEUTRON_DB_PASSWORD', 'NEUTRON_METADATA_SECRET']
    assert stored(cluster) == values
    for value in values.values():
        assert value not in output
