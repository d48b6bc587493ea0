"""etcd_config_tree through real ansible-playbook runs: idempotence, check mode, diff, and no secret in -vvv.

Against the TLS + client certificate + password etcd only: it has a password to leak, and the
in-process suite (test_etcd_config_tree.py) already covers both servers.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PYTHON = sys.executable
PREFIX = '/openstack/play'
RECAP = re.compile(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)')

SEED_PLAY = """
- name: Seed the configuration tree
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Seed
      openstack_k8s.deploy.etcd_config_tree:
        endpoints: "{{ etcd.endpoints }}"
        ca_cert: "{{ etcd.ca_cert | default(omit, true) }}"
        client_cert: "{{ etcd.client_cert | default(omit, true) }}"
        client_key: "{{ etcd.client_key | default(omit, true) }}"
        username: "{{ etcd.username | default(omit, true) }}"
        password: "{{ etcd.password | default(omit, true) }}"
        prefix: "{{ prefix }}"
        prune: true
        tree: "{{ tree }}"
      register: seeded
      ignore_errors: "{{ tolerate_failure | default(false) }}"

    - name: Read it back
      openstack_k8s.deploy.etcd_config_tree_info:
        endpoints: "{{ etcd.endpoints }}"
        ca_cert: "{{ etcd.ca_cert | default(omit, true) }}"
        client_cert: "{{ etcd.client_cert | default(omit, true) }}"
        client_key: "{{ etcd.client_key | default(omit, true) }}"
        username: "{{ etcd.username | default(omit, true) }}"
        password: "{{ etcd.password | default(omit, true) }}"
        prefix: "{{ prefix }}"
      register: readback

    - name: Save the results for the test
      ansible.builtin.copy:
        content: "{{ {'seeded': seeded, 'readback': readback} | to_json }}"
        dest: "{{ results_file }}"
        mode: "0600"
      check_mode: false
      changed_when: false
"""

TREE = {
    'general': {'REGION_NAME': 'RegionOne', 'DB_HOST': 'mariadb.openstack.svc'},
    'controller': {'glance': {'glance-api.conf': {
        'database': {'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'},
        'keystone_authtoken': {'password': '$GLANCE_KEYSTONE_PASSWORD', 'memcache_secret_key': '$MEMCACHE_SECRET_KEY'},
        'DEFAULT': {'debug': False, 'enabled_backends': ['file:file']}}}},
}


def run_playbook(tmp_path, server, tree, *flags, **extra):
    (tmp_path / 'play.yml').write_text(SEED_PLAY)
    (tmp_path / 'inventory.ini').write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % PYTHON)
    results = tmp_path / 'results.json'
    if results.exists():
        results.unlink()
    variables = dict(etcd=server.connection(), prefix=PREFIX, tree=tree, results_file=str(results))
    variables.update(extra)
    (tmp_path / 'vars.json').write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_HOME=str(tmp_path / 'home'), PATH=os.path.dirname(PYTHON) + os.pathsep + os.environ['PATH'])
    completed = subprocess.run([os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', str(tmp_path / 'inventory.ini'),
                                '-e', '@' + str(tmp_path / 'vars.json'), str(tmp_path / 'play.yml')] + list(flags),
                               cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    output = completed.stdout.decode('utf-8', 'replace')
    recap = RECAP.search(output)
    assert recap, output[-3000:]
    data = json.loads(results.read_text()) if results.exists() else None
    return dict(rc=completed.returncode, output=output, ok=int(recap.group(1)), changed=int(recap.group(2)),
                failed=int(recap.group(4)), results=data)


def secrets_of(server):
    return [value for value in (server.password, server.root_password) if value]


def test_seed_and_second_run_reports_changed_false_with_zero_writes(etcd_clean_tls, tmp_path):
    first = run_playbook(tmp_path, etcd_clean_tls, TREE, '-vvv')
    assert first['rc'] == 0, first['output'][-3000:]
    assert first['changed'] == 1
    assert first['results']['readback']['tree'] == {
        'general': {'REGION_NAME': 'RegionOne', 'DB_HOST': 'mariadb.openstack.svc'},
        'controller': {'glance': {'glance-api.conf': {
            'database': {'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance'},
            'keystone_authtoken': {'password': '$GLANCE_KEYSTONE_PASSWORD', 'memcache_secret_key': '$MEMCACHE_SECRET_KEY'},
            'DEFAULT': {'debug': 'False', 'enabled_backends': 'file:file'}}}}}

    before = etcd_clean_tls.write_requests()
    second = run_playbook(tmp_path, etcd_clean_tls, TREE, '-vvv')
    assert second['rc'] == 0 and second['changed'] == 0
    assert second['results']['seeded']['writes'] == 0
    after = etcd_clean_tls.write_requests()
    assert dict((k, after[k] - before[k]) for k in after) == dict(Put=0, Txn=0, DeleteRange=0, mvcc_put=0, mvcc_delete=0)
    # -vvv echoes the module arguments: the password is there, masked.
    # (JSON or YAML, depending on the callback's result format)
    assert re.search(r'"?password"?: "?VALUE_SPECIFIED_IN_NO_LOG_PARAMETER', first['output']), first['output'][-3000:]
    for secret in secrets_of(etcd_clean_tls):
        assert secret not in first['output'] and secret not in second['output']


def test_check_mode_and_diff_mask_secrets_and_write_nothing(etcd_clean_tls, tmp_path):
    plaintext = 'left-by-hand-Zq8vR2'
    assert run_playbook(tmp_path, etcd_clean_tls, TREE)['rc'] == 0
    with etcd_clean_tls.client() as raw:
        raw.put(PREFIX + '/controller/glance/glance-api.conf/keystone_authtoken/password', plaintext)
    snapshot = etcd_clean_tls.dump()
    before = etcd_clean_tls.write_requests()
    tree = json.loads(json.dumps(TREE))
    tree['general']['REGION_NAME'] = 'RegionTwo'
    run = run_playbook(tmp_path, etcd_clean_tls, tree, '--check', '--diff', '-vvv')
    assert run['rc'] == 0, run['output'][-3000:]
    assert run['changed'] == 1
    seeded = run['results']['seeded']
    assert seeded['updated'] == ['controller/glance/glance-api.conf/keystone_authtoken/password', 'general/REGION_NAME']
    assert seeded['writes'] == 0
    after = etcd_clean_tls.write_requests()
    assert dict((k, after[k] - before[k]) for k in after if after[k] != before[k]) == {}
    assert etcd_clean_tls.dump() == snapshot
    assert 'keystone_authtoken/password = %s' % MASK in run['output']
    assert '+general/REGION_NAME = RegionTwo' in run['output']
    assert plaintext not in run['output']
    for secret in secrets_of(etcd_clean_tls):
        assert secret not in run['output']


def test_plaintext_secret_in_the_tree_is_refused_and_never_echoed(etcd_clean_tls, tmp_path):
    plaintext = 'do-not-store-me-Kx81'
    tree = {'general': {'REGION_NAME': 'RegionOne'},
            'controller': {'glance': {'glance-api.conf': {'keystone_authtoken': {'password': plaintext}}}}}
    before = etcd_clean_tls.write_requests()
    run = run_playbook(tmp_path, etcd_clean_tls, tree, '-vvv', tolerate_failure=True)
    assert 'controller/glance/glance-api.conf/keystone_authtoken/password: refusing to store a plaintext secret' in run['output']
    assert 'reference such as $GLANCE_PASSWORD' in run['output']
    assert run['results']['seeded']['failed'] is True
    assert plaintext not in run['output']
    after = etcd_clean_tls.write_requests()
    assert dict((k, after[k] - before[k]) for k in after if after[k] != before[k]) == {}
    assert etcd_clean_tls.dump() == {}
