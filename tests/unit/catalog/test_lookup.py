# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog lookup as Ansible runs it (a real ``ansible`` process): outputs and failures."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SERVICES = str(ROOT / 'roles' / 'catalog' / 'files' / 'services')
ANSIBLE = str(pathlib.Path(sys.executable).parent / 'ansible')


def run_lookup(arguments, cwd):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.minimal', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    env.pop('ANSIBLE_CONFIG', None)
    expression = "{{ lookup('openstack_k8s.deploy.catalog', dir='%s', %s) }}" % (SERVICES, arguments)
    proc = subprocess.run([ANSIBLE, 'all', '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=%s' % sys.executable,
                           '-m', 'ansible.builtin.debug', '-a', 'msg="%s"' % expression],
                          env=env, cwd=str(cwd), capture_output=True, text=True, timeout=120, check=False)
    # minimal callback: "localhost | SUCCESS => {...}" or "localhost | FAILED! => {...}"
    status, payload = proc.stdout.split('=>', 1)
    return 'FAILED' not in status, json.loads(payload)


def test_waves_and_secrets_through_ansible(tmp_path):
    ok, result = run_lookup("enabled=['mariadb', 'memcached', 'keystone'], output='all'", tmp_path)
    assert ok, result
    assert result['msg']['waves'] == [['mariadb', 'memcached'], ['keystone']]
    assert result['msg']['secrets']['KEYSTONE_FERNET_TOKEN_KEY_0'] == 'fernet_key'
    assert sorted(result['msg']['catalog']) == sorted(p.stem for p in pathlib.Path(SERVICES).glob('*.yml'))


@pytest.mark.parametrize('arguments, message', [
    ("enabled=['glance']", 'glance depends on keystone, which is not enabled'),
    ("node_roles={'controller': {}}", "node role 'compute' is not defined in node_roles (controller)"),
    ("replicas={'mariadb': {'server': 4}}", 'galera replicas must be odd (2n+1), got 4'),
    ("replicas={'keystone': {'apis': 2}}", 'openstack_replicas.keystone names unknown components apis; keystone has api'),
    ("replicas={'swift': {'proxy': 2}}", 'openstack_replicas names unknown services swift'),
])
def test_failures_through_ansible(arguments, message, tmp_path):
    ok, result = run_lookup(arguments, tmp_path)
    assert not ok
    assert message in result['msg']
