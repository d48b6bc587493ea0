"""node_prep run for real: the module's own code, as Ansible runs it (a process reading its
arguments file), against fake hosts with a recorded modprobe, and against this machine's
real kernel in check mode."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fake_host  # noqa: E402  pylint: disable=wrong-import-position

REPO = pathlib.Path(__file__).resolve().parents[3]
MODULE = REPO / 'plugins' / 'modules' / 'node_prep.py'
KERNEL = fake_host.KERNEL
COMPUTE_MODULES = ['br_netfilter', 'overlay', 'nf_conntrack', 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'openvswitch',
                   'ebtables', 'vhost_net', 'kvm', 'kvm_intel']
NETWORK_MODULES = COMPUTE_MODULES[:9]
MODULES_FILE = 'etc/modules-load.d/openstack-k8s.conf'
SYSCTL_FILE = 'etc/sysctl.d/90-openstack-k8s.conf'
RECORDS = ('var/log/modprobe.calls', 'var/log/chronyc.calls')


def run_module(tmp_path, check=False, **args):
    args_file = tmp_path / ('args-%d.json' % len(list(tmp_path.glob('args-*.json'))))
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check, _ansible_diff=True)}))
    env = dict(os.environ, PYTHONPATH=str(REPO / '.collections'))
    proc = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def loads(root, since=0):
    """The modules the recorded modprobe was asked to insert (not dry runs)."""
    return [call[-1] for call in fake_host.modprobe_calls(root)[since:] if '--dry-run' not in call]


def files(root):
    return dict((path, content) for path, content in fake_host.snapshot(root).items() if path not in RECORDS)


def proc_sys(root, key):
    return (pathlib.Path(root) / 'proc/sys' / key).read_text().strip()


def facts(result):
    return result['ansible_facts']['node_prep']


# -- the acceptance table ------------------------------------------------------------------
HOSTS = {
    'fresh': dict(),
    'prepared': dict(loaded=COMPUTE_MODULES, sysctls={
        'net/ipv4/ip_forward': '1', 'fs/inotify/max_user_instances': '8192', 'fs/inotify/max_user_watches': '524288',
        'net/netfilter/nf_conntrack_max': '1048576', 'net/ipv4/neigh/default/gc_thresh1': '4096',
        'net/ipv4/neigh/default/gc_thresh2': '8192', 'net/ipv4/neigh/default/gc_thresh3': '16384'},
        files={MODULES_FILE: None, SYSCTL_FILE: None}),
    'partial': dict(loaded=['br_netfilter', 'overlay', 'openvswitch'], sysctls={'net/ipv4/ip_forward': '1'},
                    files={MODULES_FILE: '# by hand\nopenvswitch\n'}),
    'builtin': dict(builtin=['br_netfilter', 'overlay', 'nf_conntrack']),
}


def build(tmp_path, name, role='compute'):
    spec = dict(HOSTS[name])
    root = str(tmp_path / 'host')
    wanted_files = spec.pop('files', {})
    fake_host.make_fake_host(root, **spec)
    if wanted_files:
        # the files of a prepared host are what node_prep itself writes: take them from a scratch run
        scratch = str(tmp_path / 'scratch')
        fake_host.make_fake_host(scratch)
        run_module(tmp_path, roles=[role], root=scratch)
        for path, content in wanted_files.items():
            target = pathlib.Path(root) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content if content is not None else (pathlib.Path(scratch) / path).read_text())
    return root


@pytest.mark.parametrize('name, expected_loads, expected_states, changed', [
    ('fresh', COMPUTE_MODULES, dict((m, 'loaded_now') for m in COMPUTE_MODULES), True),
    ('prepared', [], dict((m, 'loaded') for m in COMPUTE_MODULES), False),
    ('partial', [m for m in COMPUTE_MODULES if m not in ('br_netfilter', 'overlay', 'openvswitch', 'nf_conntrack')],
     dict((m, 'loaded' if m in ('br_netfilter', 'overlay', 'openvswitch', 'nf_conntrack') else 'loaded_now') for m in COMPUTE_MODULES),
     True),
    ('builtin', [m for m in COMPUTE_MODULES if m not in ('br_netfilter', 'overlay', 'nf_conntrack')],
     dict((m, 'builtin' if m in ('br_netfilter', 'overlay', 'nf_conntrack') else 'loaded_now') for m in COMPUTE_MODULES), True),
])
def test_compute_host(tmp_path, name, expected_loads, expected_states, changed):
    root = build(tmp_path, name)
    before = files(root)

    predicted = run_module(tmp_path, check=True, roles=['compute'], root=root)
    assert 'failed' not in predicted, predicted['msg']
    assert predicted['changed'] is changed
    assert files(root) == before, 'check mode changed the host'
    assert loads(root) == []
    assert facts(predicted)['modules'] == dict((m, 'would_load' if s == 'loaded_now' else s) for m, s in expected_states.items())

    calls_before = len(fake_host.modprobe_calls(root))
    result = run_module(tmp_path, roles=['compute'], root=root)
    assert 'failed' not in result, result['msg']
    assert result['changed'] is changed
    assert facts(result)['modules'] == expected_states
    assert loads(root, calls_before) == expected_loads
    assert facts(result)['sysctls_changed'] == predicted['ansible_facts']['node_prep']['sysctls_changed'] or name == 'fresh'
    assert (pathlib.Path(root) / MODULES_FILE).read_text().splitlines()[1:] == COMPUTE_MODULES
    for key, value in facts(result)['sysctls'].items():
        assert proc_sys(root, key.replace('.', '/')) == value, key
        assert '%s = %s' % (key, value) in (pathlib.Path(root) / SYSCTL_FILE).read_text()
    assert facts(result)['virtualization'] == dict(checked=True, cpu_flag='vmx', kvm_device=True, supported=True)
    assert facts(result)['time_sync']['synchronized'] is True
    changed_paths = sorted(entry['after_header'] for entry in result['diff'])
    assert bool(changed_paths) is changed

    again = run_module(tmp_path, roles=['compute'], root=root)
    assert again['changed'] is False
    assert again['diff'] == []
    assert loads(root, calls_before) == expected_loads, 'the second run loaded something'


def test_fresh_host_check_mode_predicts_late_sysctls_and_kvm(tmp_path):
    root = build(tmp_path, 'fresh')
    result = run_module(tmp_path, check=True, roles=['compute'], root=root)
    node = facts(result)
    # net.bridge.* exists only after br_netfilter loads: predicted from nothing
    assert node['sysctls_changed']['net.bridge.bridge-nf-call-iptables'] == dict(before=None, after='1')
    assert node['sysctls_changed']['net.ipv4.ip_forward'] == dict(before='0', after='1')
    assert node['virtualization'] == dict(checked=True, cpu_flag='vmx', kvm_device=False, supported=None)
    diff = dict((entry['after_header'], entry) for entry in result['diff'])
    assert diff['/etc/modules-load.d/openstack-k8s.conf']['before_header'] == '/etc/modules-load.d/openstack-k8s.conf (absent)'
    assert 'net.bridge.bridge-nf-call-iptables = (absent until its module loads)' in diff['running kernel']['before']
    assert 'module openvswitch: loaded' in diff['running kernel']['after']


def test_partial_host_diff_shows_the_file_change(tmp_path):
    root = build(tmp_path, 'partial', role='network')
    result = run_module(tmp_path, check=True, roles=['network'], root=root)
    diff = dict((entry['after_header'], entry) for entry in result['diff'])
    modules_diff = diff['/etc/modules-load.d/openstack-k8s.conf']
    assert modules_diff['before'] == '# by hand\nopenvswitch\n'
    assert modules_diff['after'].splitlines()[1:] == NETWORK_MODULES
    assert 'net.ipv4.ip_forward' not in facts(result)['sysctls_changed']
    assert facts(result)['sysctls_changed']['net.ipv4.conf.all.rp_filter'] == dict(before='2', after='0')


FAILURES = [
    ('missing module', dict(missing=['openvswitch']), dict(roles=['network']),
     'kernel module openvswitch does not exist for kernel %s (modprobe: FATAL: Module openvswitch not found in directory '
     '/lib/modules/%s)' % (KERNEL, KERNEL)),
    ('two missing modules', dict(missing=['openvswitch', 'ebtables']), dict(roles=['network']),
     "kernel module ebtables does not exist for kernel %s (modprobe: FATAL: Module ebtables not found" % KERNEL),
    ('read-only sysctl that must change', dict(readonly=['net/ipv4/ip_forward']), dict(roles=['network']),
     'sysctl net.ipv4.ip_forward is read-only on this host (/proc/sys/net/ipv4/ip_forward is 0, want 1)'),
    ('unknown sysctl, nothing to load', dict(loaded=NETWORK_MODULES), dict(roles=['network'], sysctls={'net.ipv4.tcp_nonsense': 1}),
     'sysctl net.ipv4.tcp_nonsense does not exist on kernel %s: no /proc/sys/net/ipv4/tcp_nonsense' % KERNEL),
    ('time not synchronised, required', dict(time_sync='chrony-unsynced'), dict(roles=['network'], time_sync='require'),
     'time is not synchronised (chronyd: leap status Not synchronised, reference C0A80001 (192.168.0.1))'),
    ('no time source at all, required', dict(time_sync=None), dict(roles=['network'], time_sync='require'),
     'time is not synchronised (no chronyd answered'),
    ('no virtualization on compute', dict(cpu_flag=None), dict(roles=['compute']),
     'no hardware virtualization: /dev/kvm is missing and /proc/cpuinfo shows neither vmx nor svm'),
    ('kernel without module support, module not built in', dict(module_support=False, builtin=['br_netfilter']),
     dict(modules=['br_netfilter', 'openvswitch']),
     'kernel module openvswitch does not exist for kernel %s (the kernel has no loadable module support' % KERNEL),
    ('bad module name', dict(), dict(extra_modules=['ip vs']), "extra_modules: 'ip vs' is not a kernel module name"),
    ('bad sysctl file name', dict(), dict(sysctl_file='/etc/sysctl.d/openstack'), 'sysctl_file: systemd-sysctl reads only *.conf'),
    ('fake root that does not exist', dict(), dict(roles=['network'], root='/nonexistent/okd-host'),
     'root: /nonexistent/okd-host is not a directory'),
]


@pytest.mark.parametrize('name, host, args, message', FAILURES, ids=[case[0] for case in FAILURES])
@pytest.mark.parametrize('check', [True, False], ids=['check', 'apply'])
def test_fails_before_any_change(tmp_path, name, host, args, message, check):
    root = str(tmp_path / 'host')
    fake_host.make_fake_host(root, **host)
    before = files(root)
    result = run_module(tmp_path, check=check, **dict(dict(root=root), **args))
    assert result.get('failed') is True, name
    assert message in result['msg'], result['msg']
    assert files(root) == before, 'a failing run changed the host'
    assert loads(root) == []


LATE_FAILURES = [
    ('module fails to insert', dict(fail=['openvswitch']), dict(roles=['network']),
     "modprobe openvswitch failed on kernel %s: modprobe: ERROR: could not insert 'openvswitch': Operation not permitted" % KERNEL),
    ('sysctl still missing after its module loaded', dict(), dict(roles=['network'], sysctls={'net.bridge.bridge-nf-filter-vlan-tagged': 1}),
     'sysctl net.bridge.bridge-nf-filter-vlan-tagged does not exist on kernel %s even after loading' % KERNEL),
]


@pytest.mark.parametrize('name, host, args, message', LATE_FAILURES, ids=[case[0] for case in LATE_FAILURES])
def test_failures_only_a_real_load_can_show(tmp_path, name, host, args, message):
    root = str(tmp_path / 'host')
    fake_host.make_fake_host(root, **host)
    predicted = run_module(tmp_path, check=True, root=root, **args)
    assert 'failed' not in predicted, name
    result = run_module(tmp_path, root=root, **args)
    assert result.get('failed') is True and result['changed'] is True, name
    assert message in result['msg'], result['msg']


@pytest.mark.parametrize('host, args, warning', [
    (dict(time_sync='chrony-unsynced'), dict(time_sync='warn'), 'time is not synchronised (chronyd: leap status Not synchronised'),
    (dict(cpu_flag=None), dict(virtualization='warn'), 'no hardware virtualization'),
])
def test_warn_policies_prepare_the_host_and_warn(tmp_path, host, args, warning):
    root = str(tmp_path / 'host')
    fake_host.make_fake_host(root, **host)
    result = run_module(tmp_path, root=root, roles=['compute'], **args)
    assert 'failed' not in result, result.get('msg')
    assert result['changed'] is True
    # ansible-core 2.19 reports warnings as structured events; older cores as strings
    assert warning in json.dumps(result['warnings']), result['warnings']


@pytest.mark.parametrize('host, source', [
    (dict(time_sync='chrony'), 'chrony'),
    (dict(time_sync='timesyncd'), 'systemd-timesyncd'),
])
def test_time_sources(tmp_path, host, source):
    root = str(tmp_path / 'host')
    fake_host.make_fake_host(root, **host)
    result = run_module(tmp_path, check=True, root=root, roles=['network'], time_sync='require')
    assert facts(result)['time_sync']['synchronized'] is True
    assert facts(result)['time_sync']['source'] == source


def test_read_only_sysctl_already_right_is_fine(tmp_path):
    root = str(tmp_path / 'host')
    fake_host.make_fake_host(root, sysctls={'net/ipv4/ip_forward': '1'}, readonly=['net/ipv4/ip_forward'])
    result = run_module(tmp_path, root=root, roles=['network'])
    assert 'failed' not in result, result.get('msg')
    assert 'net.ipv4.ip_forward' not in facts(result)['sysctls_changed']


def test_kernel_without_module_support_uses_built_ins(tmp_path):
    root = str(tmp_path / 'host')
    fake_host.make_fake_host(root, module_support=False, builtin=['br_netfilter', 'nf_conntrack', 'overlay'])
    result = run_module(tmp_path, root=root, modules=['br_netfilter', 'nf_conntrack', 'overlay'],
                        sysctls={'net.bridge.bridge-nf-call-iptables': 1})
    assert 'failed' not in result, result.get('msg')
    node = facts(result)
    assert node['kernel_module_support'] is False
    assert node['modules'] == dict(br_netfilter='builtin', nf_conntrack='builtin', overlay='builtin')
    assert fake_host.modprobe_calls(root) == []


# -- this machine's real kernel, check mode only -------------------------------------------
REAL_PATHS = ['/etc/modules-load.d/openstack-k8s.conf', '/etc/sysctl.d/90-openstack-k8s.conf']


def _real_state():
    state = dict((path, os.path.exists(path)) for path in REAL_PATHS)
    for key in ('net/ipv4/ip_forward', 'fs/inotify/max_user_instances'):
        with open('/proc/sys/' + key) as handle:
            state[key] = handle.read()
    return state


def _real_modules():
    """What this kernel shows: /proc/modules when it can load modules, else /sys/module."""
    if os.path.exists('/proc/modules'):
        with open('/proc/modules') as handle:
            return 'loaded', sorted(line.split()[0] for line in handle if line.strip())
    return 'builtin', sorted(os.listdir('/sys/module'))


def test_real_host_check_mode_reports_and_changes_nothing(tmp_path):
    state, present = _real_modules()
    wanted = [name for name in present if not name.startswith('nf_conntrack_')][:5]
    before = _real_state()
    result = run_module(tmp_path, check=True, modules=wanted, sysctls={'net.ipv4.ip_forward': 1, 'fs.inotify.max_user_instances': 8192},
                        time_sync='ignore')
    assert 'failed' not in result, result.get('msg')
    assert _real_state() == before
    node = facts(result)
    assert node['kernel'] == os.uname().release
    assert node['kernel_module_support'] is os.path.exists('/proc/modules')
    assert node['modules'] == dict((name, state) for name in wanted)
    assert node['time_sync']['source'] in ('chrony', 'systemd-timesyncd', 'kernel', None)


def test_real_host_check_mode_names_missing_modules_and_the_kernel(tmp_path):
    before = _real_state()
    result = run_module(tmp_path, check=True, modules=['openstack_k8s_no_such_module'], time_sync='ignore')
    assert result.get('failed') is True
    if os.path.exists('/proc/modules') and not any(os.access(os.path.join(d, 'modprobe'), os.X_OK)
                                                   for d in os.environ.get('PATH', '').split(os.pathsep) + ['/sbin', '/usr/sbin']):
        assert 'modprobe is not installed' in result['msg']
    else:
        assert 'kernel module openstack_k8s_no_such_module does not exist for kernel %s' % os.uname().release in result['msg']
    assert _real_state() == before
