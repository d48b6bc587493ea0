"""The credentials and config roles through ansible-playbook: real etcd (TLS + auth) and the Kubernetes sandbox.

A small catalog of the catalog role's shape is passed as openstack_catalog /
openstack_credential_names, so these tests do not depend on the catalog data files.
"""

import base64
import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RECAP = re.compile(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)')
PREFIX = '/openstack/roles'

CATALOG = {
    'keystone': {
        'secrets': [{'name': 'KEYSTONE_DB_PASSWORD', 'type': 'password'},
                    {'name': 'KEYSTONE_FERNET_TOKEN_KEY_0', 'type': 'fernet_key'}],
        'config': {'controller': {'keystone.conf': {
            'database': {'connection': 'mysql+pymysql://keystone:$KEYSTONE_DB_PASSWORD@$DB_HOST:$DB_PORT/keystone'},
            'cache': {'memcache_servers': '$MEMCACHED_SERVERS', 'enabled': True}}}},
    },
    'glance': {
        'secrets': [{'name': 'GLANCE_DB_PASSWORD', 'type': 'password'},
                    {'name': 'GLANCE_KEYSTONE_PASSWORD', 'type': 'password'}],
        'config': {'controller': {'glance-api.conf': {
            'DEFAULT': {'debug': False},
            'database': {'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'},
            'keystone_authtoken': {'password': '$GLANCE_KEYSTONE_PASSWORD', 'www_authenticate_uri': '$KEYSTONE_PUBLIC_URL',
                                   'region_name': '$REGION_NAME'}}}},
    },
    'rabbitmq': {
        'secrets': [{'name': 'RABBITMQ_ERLANG_COOKIE', 'type': 'erlang_cookie'}],
    },
}

PLAY = """
- name: Credentials and configuration
  hosts: localhost
  gather_facts: false
  vars:
    openstack_credential_names: "{{ openstack_catalog | dict2items | map(attribute='value.secrets')
                                    | flatten | items2dict(key_name='name', value_name='type') }}"
  roles:
    - role: openstack_k8s.deploy.credentials
    - role: openstack_k8s.deploy.config
"""


def run(tmp_path, etcd, sandbox, *flags, **extra):
    (tmp_path / 'play.yml').write_text(PLAY)
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n'
                                            % sys.executable)
    connection = etcd.connection()
    variables = dict(
        openstack_catalog=CATALOG, openstack_namespace='openstack', openstack_region_name='RegionTwo',
        openstack_etcd_endpoints=connection.pop('endpoints'), openstack_etcd_prefix=PREFIX,
        openstack_etcd_connection=connection, openstack_k8s_connection={'kubeconfig': sandbox.kubeconfig})
    variables.update(extra)
    (tmp_path / 'vars.json').write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_HOME=str(tmp_path / 'home'))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
                           str(tmp_path / 'inventory.ini'), '-e', '@' + str(tmp_path / 'vars.json'),
                           str(tmp_path / 'play.yml')] + list(flags),
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    output = done.stdout.decode('utf-8', 'replace')
    recap = RECAP.search(output)
    assert recap, output[-3000:]
    return dict(rc=done.returncode, output=output, changed=int(recap.group(2)), failed=int(recap.group(4)))


def credentials(sandbox):
    from kubernetes import client as k8s
    from kubernetes.client.rest import ApiException
    try:
        secret = k8s.CoreV1Api(sandbox.api_client()).read_namespaced_secret('openstack-credentials', 'openstack')
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict((k, base64.b64decode(v).decode()) for k, v in secret.data.items())


def k8s_writes(sandbox):
    counts = sandbox.control.counts_by_verb()
    return sum(counts.get(verb, 0) for verb in ('create', 'update', 'patch', 'apply', 'delete'))


def etcd_writes(server, before):
    after = server.write_requests()
    return dict((k, after[k] - before[k]) for k in after if after[k] != before[k])


def test_site_order_credentials_then_config_is_idempotent_and_silent(etcd_clean_tls, sandbox, tmp_path):
    pinned = 'pinned-in-a-vaulted-variable-0123456789'
    first = run(tmp_path, etcd_clean_tls, sandbox, '-vvv', openstack_pinned_credentials={'GLANCE_DB_PASSWORD': pinned},
                openstack_replicas={'memcached': {'server': 3}})
    assert first['rc'] == 0, first['output'][-4000:]
    values = credentials(sandbox)
    assert values['GLANCE_DB_PASSWORD'] == pinned
    assert sorted(values) == ['GLANCE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD', 'KEYSTONE_DB_PASSWORD',
                              'KEYSTONE_FERNET_TOKEN_KEY_0', 'RABBITMQ_ERLANG_COOKIE']
    tree = etcd_clean_tls.dump(PREFIX + '/')
    assert tree[PREFIX + '/general/REGION_NAME'] == 'RegionTwo'
    assert tree[PREFIX + '/general/DB_HOST'] == 'mariadb.openstack.svc.cluster.local'
    # Every Memcached member by its pod's DNS name, as many as the replicas.
    assert tree[PREFIX + '/general/MEMCACHED_SERVERS'] == ','.join(
        'memcached-server-%d.memcached.openstack.svc.cluster.local:11211' % i for i in range(3))
    assert tree[PREFIX + '/controller/glance/glance-api.conf/keystone_authtoken/password'] == '$GLANCE_KEYSTONE_PASSWORD'
    assert tree[PREFIX + '/controller/keystone/keystone.conf/cache/enabled'] == 'True'
    for value in list(values.values()) + [etcd_clean_tls.password]:
        assert value not in first['output']
        assert all(value not in stored for stored in tree.values())

    sandbox.control.clear_request_log()
    before = etcd_clean_tls.write_requests()
    second = run(tmp_path, etcd_clean_tls, sandbox, '-vvv', '--diff', openstack_pinned_credentials={'GLANCE_DB_PASSWORD': pinned},
                 openstack_replicas={'memcached': {'server': 3}})
    assert second['rc'] == 0 and second['changed'] == 0, second['output'][-4000:]
    assert k8s_writes(sandbox) == 0
    assert etcd_writes(etcd_clean_tls, before) == {}
    assert credentials(sandbox) == values
    for value in list(values.values()) + [etcd_clean_tls.password]:
        assert value not in second['output']


def test_a_new_service_adds_its_secrets_and_its_config_and_a_removed_one_is_pruned(etcd_clean_tls, sandbox, tmp_path):
    assert run(tmp_path, etcd_clean_tls, sandbox, openstack_enabled_services=['keystone'])['rc'] == 0
    before = credentials(sandbox)
    result = run(tmp_path, etcd_clean_tls, sandbox, openstack_enabled_services=['keystone', 'glance'])
    assert result['rc'] == 0
    after = credentials(sandbox)
    assert dict((k, after[k]) for k in before) == before
    # credentials come from openstack_credential_names (every catalog service here); config follows the enabled list.
    keys = etcd_clean_tls.dump(PREFIX + '/')
    assert any('/controller/glance/' in key for key in keys)
    assert run(tmp_path, etcd_clean_tls, sandbox, openstack_enabled_services=['keystone'])['rc'] == 0
    assert not any('/controller/glance/' in key for key in etcd_clean_tls.dump(PREFIX + '/'))


def test_check_mode_writes_nothing(etcd_clean_tls, sandbox, tmp_path):
    result = run(tmp_path, etcd_clean_tls, sandbox, '--check', '--diff')
    assert result['rc'] == 0, result['output'][-4000:]
    assert k8s_writes(sandbox) == 0 and credentials(sandbox) is None
    assert etcd_clean_tls.dump() == {}


@pytest.mark.parametrize('overrides,message', [
    ({'controller': {'glance': {'glance-api.conf': {'keystone_authtoken': {'password': 'Plain-Text-Password-1'}}}}},
     'controller/glance/glance-api.conf/keystone_authtoken/password: refusing to store a plaintext secret'),
    ({'controller': {'nova': {'nova.conf': {'DEFAULT': {'debug': True}}}}}, "unknown service 'nova'"),
    ({'controller': {'glance': {'glance-api.conf': {'DEFAULT': 'flat'}}}}, 'found a value at depth 4'),
])
def test_bad_overrides_fail_before_the_tree_is_written(etcd_clean_tls, sandbox, tmp_path, overrides, message):
    before = etcd_clean_tls.write_requests()
    result = run(tmp_path, etcd_clean_tls, sandbox, '-vvv', openstack_config_overrides=overrides)
    assert result['rc'] != 0 and result['failed'] == 1
    assert message in result['output']
    assert 'Plain-Text-Password-1' not in result['output']
    assert etcd_writes(etcd_clean_tls, before) == {}


def test_wrong_etcd_password_fails_with_the_modules_message(etcd_clean_tls, sandbox, tmp_path):
    connection = etcd_clean_tls.connection()
    connection.pop('endpoints')
    connection['password'] = 'not-the-password-xyz'
    result = run(tmp_path, etcd_clean_tls, sandbox, '-vvv', openstack_etcd_connection=connection)
    assert result['rc'] != 0
    assert 'refused the credentials of user openstack-config' in result['output']
    assert 'not-the-password-xyz' not in result['output']
