"""The host_prep role through real ansible-playbook runs, over fake hosts (host_prep_root)
and, in check mode, over this machine itself."""
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fake_host  # noqa: E402  pylint: disable=wrong-import-position

REPO = pathlib.Path(__file__).resolve().parents[3]
PYTHON = str(REPO / '.venv' / 'bin' / 'python')
PLAYBOOK = {
    'name': 'Prepare compute and network hosts',
    'hosts': 'openstack_compute:openstack_network',
    'gather_facts': False,
    'roles': [{'role': 'openstack_k8s.deploy.host_prep', 'tags': ['host_prep']}],
}
pytestmark = pytest.mark.slow


def playbook(tmp_path, inventory, *extra):
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (tmp_path / 'play.yml').write_text(yaml.safe_dump([PLAYBOOK], sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_HOST_KEY_CHECKING='0', ANSIBLE_LOCALHOST_WARNING='0')
    proc = subprocess.run([str(REPO / '.venv' / 'bin' / 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'),
                           str(tmp_path / 'play.yml'), '--tags', 'host_prep'] + list(extra),
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    recap = dict((host, dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', counts)))
                 for host, counts in re.findall(r'^(\S+)\s+:\s+(ok=.*)$', proc.stdout, re.M))
    return proc, recap


def fake_inventory(tmp_path, **host_vars):
    roots = {}
    hosts = {}
    for host, group in (('compute-0', 'openstack_compute'), ('network-0', 'openstack_network')):
        roots[host] = fake_host.make_fake_host(str(tmp_path / 'hosts' / host))
        hosts.setdefault(group, {'hosts': {}})['hosts'][host] = dict(host_prep_root=roots[host], **host_vars)
    inventory = {'all': {'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': PYTHON}, 'children': hosts}}
    return inventory, roots


def test_check_then_apply_then_idempotent(tmp_path):
    inventory, roots = fake_inventory(tmp_path)
    before = dict((host, fake_host.snapshot(root)) for host, root in roots.items())

    proc, recap = playbook(tmp_path, inventory, '--check', '--diff')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['compute-0']['changed'] == 1 and recap['network-0']['changed'] == 1
    for host, root in roots.items():
        after = dict((k, v) for k, v in fake_host.snapshot(root).items() if k != 'var/log/modprobe.calls')
        assert after == dict((k, v) for k, v in before[host].items() if k != 'var/log/modprobe.calls'), host
    assert '+openvswitch' in proc.stdout  # the diff of the modules-load.d file

    proc, recap = playbook(tmp_path, inventory)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['compute-0']['changed'] == 1 and recap['network-0']['changed'] == 1
    compute_modules = (pathlib.Path(roots['compute-0']) / 'etc/modules-load.d/openstack-k8s.conf').read_text()
    network_modules = (pathlib.Path(roots['network-0']) / 'etc/modules-load.d/openstack-k8s.conf').read_text()
    assert 'kvm_intel' in compute_modules and 'vhost_net' in compute_modules
    assert 'openvswitch' in network_modules and 'kvm' not in network_modules
    assert 'net.ipv4.conf.all.rp_filter = 0' in (pathlib.Path(roots['network-0']) / 'etc/sysctl.d/90-openstack-k8s.conf').read_text()

    proc, recap = playbook(tmp_path, inventory)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['compute-0']['changed'] == 0 and recap['network-0']['changed'] == 0


def test_bad_role_variable_fails_naming_it(tmp_path):
    inventory, roots = fake_inventory(tmp_path, host_prep_time_sync='sometimes')
    before = fake_host.snapshot(roots['compute-0'])
    proc, recap = playbook(tmp_path, inventory)
    assert proc.returncode != 0
    output = ' '.join(proc.stdout.split())
    assert 'host_prep_time_sync' in output and 'sometimes' in output, output
    assert fake_host.snapshot(roots['compute-0']) == before


def test_real_host_check_mode_changes_nothing(tmp_path):
    """This machine as a network host: its kernel cannot load modules, so node_prep either
    reports or fails naming the modules and the kernel; either way it must change nothing."""
    inventory = {'all': {'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': PYTHON,
                                  'host_prep_time_sync': 'warn'},
                         'children': {'openstack_network': {'hosts': {'localhost': {}}}}}}
    paths = ['/etc/modules-load.d/openstack-k8s.conf', '/etc/sysctl.d/90-openstack-k8s.conf']
    before = [os.path.exists(path) for path in paths] + [pathlib.Path('/proc/sys/net/ipv4/ip_forward').read_text()]
    proc, recap = playbook(tmp_path, inventory, '--check', '--diff')
    after = [os.path.exists(path) for path in paths] + [pathlib.Path('/proc/sys/net/ipv4/ip_forward').read_text()]
    assert after == before
    assert 'localhost' in recap, proc.stdout
    if proc.returncode != 0:
        assert 'not exist for kernel %s' % os.uname().release in ' '.join(proc.stdout.split()), proc.stdout


def test_site_yml_host_prep_check_needs_no_etcd_and_changes_nothing(tmp_path):
    """`site.yml --tags host_prep --check` runs with an inventory that has no etcd endpoints
    (host preparation alone needs none) and leaves every host as it was."""
    inventory, roots = fake_inventory(tmp_path)
    inventory['all']['hosts'] = {'localhost': None}
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    before = dict((host, fake_host.snapshot(root)) for host, root in roots.items())
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCALHOST_WARNING='0')
    proc = subprocess.run([str(REPO / '.venv' / 'bin' / 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'),
                           str(REPO / 'playbooks' / 'site.yml'), '--tags', 'host_prep', '--check'],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert 'openstack_etcd_endpoints' not in proc.stdout
    for host, root in roots.items():
        after = dict((k, v) for k, v in fake_host.snapshot(root).items() if k != 'var/log/modprobe.calls')
        assert after == dict((k, v) for k, v in before[host].items() if k != 'var/log/modprobe.calls'), host
