"""The file half of node_prep's host adapter, on real files under a temporary root."""
import os
import stat

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep.host import Host, HostError


@pytest.fixture
def host(tmp_path):
    (tmp_path / 'proc/sys/net/ipv4').mkdir(parents=True)
    (tmp_path / 'proc/sys/net/ipv4/ip_forward').write_text('0\n')
    (tmp_path / 'proc/sys/net/ipv4/ip_local_port_range').write_text('32768\t60999\n')
    (tmp_path / 'proc/sys/kernel').mkdir(parents=True)
    (tmp_path / 'proc/sys/kernel/osrelease').write_text('6.1.0-31-amd64\n')
    return Host(None, str(tmp_path))


def test_paths_stay_under_root(host, tmp_path):
    assert host.path('/etc/sysctl.d/x.conf') == str(tmp_path / 'etc/sysctl.d/x.conf')
    assert host.kernel_release() == '6.1.0-31-amd64'
    assert host.read('/etc/nothing') is None


def test_write_atomic_creates_directory_mode_and_leaves_no_temp_file(host, tmp_path):
    host.write_atomic('/etc/modules-load.d/openstack-k8s.conf', 'openvswitch\n')
    target = tmp_path / 'etc/modules-load.d/openstack-k8s.conf'
    assert target.read_text() == 'openvswitch\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    host.write_atomic('/etc/modules-load.d/openstack-k8s.conf', 'ip_vs\n')
    assert target.read_text() == 'ip_vs\n'
    assert os.listdir(str(tmp_path / 'etc/modules-load.d')) == ['openstack-k8s.conf']


def test_write_atomic_reports_the_path_when_the_directory_is_a_file(host, tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc/sysctl.d').write_text('not a directory')
    with pytest.raises(HostError, match='cannot write %s' % (tmp_path / 'etc/sysctl.d/90.conf')):
        host.write_atomic('/etc/sysctl.d/90.conf', 'x')


def test_sysctl_read_write_and_read_only(host, tmp_path):
    assert host.sysctl_read('net.ipv4.ip_local_port_range') == '32768 60999'
    assert host.sysctl_read('net.bridge.bridge-nf-call-iptables') is None
    assert host.sysctl_writable('net.ipv4.ip_forward')
    host.sysctl_write('net.ipv4.ip_forward', '1')
    assert host.sysctl_read('net.ipv4.ip_forward') == '1'
    os.chmod(str(tmp_path / 'proc/sys/net/ipv4/ip_forward'), 0o444)
    assert not host.sysctl_writable('net.ipv4.ip_forward')
    assert not host.sysctl_writable('net.bridge.bridge-nf-call-iptables')


def test_commands_are_looked_up_only_under_a_fake_root(host, tmp_path):
    assert host.binary('modprobe') is None
    (tmp_path / 'usr/sbin').mkdir(parents=True)
    (tmp_path / 'usr/sbin/modprobe').write_text('#!/bin/sh\n')
    os.chmod(str(tmp_path / 'usr/sbin/modprobe'), 0o755)
    assert host.binary('modprobe') == str(tmp_path / 'usr/sbin/modprobe')


def test_kernel_release_missing_is_an_error(tmp_path):
    with pytest.raises(HostError, match='cannot tell the kernel version'):
        Host(None, str(tmp_path)).kernel_release()
