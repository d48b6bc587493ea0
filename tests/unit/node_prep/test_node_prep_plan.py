"""The pure planner of node_prep: parsing what a host shows, and the decisions."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep import defaults, plan

KERNEL = '6.1.0-31-amd64'
VALID = dict(modules=None, extra_modules=[], sysctls={}, modules_load_file=defaults.MODULES_LOAD_FILE,
             sysctl_file=defaults.SYSCTL_FILE)


@pytest.mark.parametrize('change, fragment', [
    (dict(modules=['open vswitch']), "modules: 'open vswitch' is not a kernel module name"),
    (dict(extra_modules=['../evil']), "extra_modules: '../evil' is not a kernel module name"),
    (dict(sysctls={'net..ipv4': '1'}), "sysctls: 'net..ipv4' is not a sysctl key"),
    (dict(sysctls={'/net/ipv4/ip_forward': '1'}), "sysctls: '/net/ipv4/ip_forward' is not a sysctl key"),
    (dict(sysctls={'net.ipv4.ip_forward': ['1']}), 'sysctls.net.ipv4.ip_forward: the value must be a string or a number, got list'),
    (dict(sysctls={'net.ipv4.ip_forward': '  '}), 'sysctls.net.ipv4.ip_forward: the value is empty'),
    (dict(modules_load_file='etc/modules-load.d/x.conf'), "modules_load_file: 'etc/modules-load.d/x.conf' must be an absolute file path"),
    (dict(modules_load_file='/etc/modules-load.d/openstack'), 'modules_load_file: systemd-modules-load reads only *.conf'),
    (dict(sysctl_file='/etc/sysctl.d/'), "sysctl_file: '/etc/sysctl.d/' must be an absolute file path"),
    (dict(sysctl_file='/etc/sysctl.d/90-openstack'), 'sysctl_file: systemd-sysctl reads only *.conf'),
    (dict(sysctl_file='/etc/openstack.conf', modules_load_file='/etc/openstack.conf'),
     'sysctl_file: it is the same file as modules_load_file (/etc/openstack.conf)'),
])
def test_validate_names_the_field_and_the_fix(change, fragment):
    params = dict(VALID, **change)
    errors = plan.validate(params)
    assert len(errors) == 1
    assert fragment in errors[0]


@pytest.mark.parametrize('params', [
    VALID,
    dict(VALID, modules=['8021q', 'ip_vs-rr'],
         sysctls={'net/ipv4/conf/eth0.100/rp_filter': 0, 'kernel.pid_max': 4194304,
                  'net.ipv4.ip_local_port_range': '1024 65000', 'net.ipv4.conf.all.rp_filter': None}),
])
def test_validate_accepts_good_input(params):
    assert plan.validate(params) == []


@pytest.mark.parametrize('roles, modules, extra, flag, virtualization, expected', [
    (['network'], None, [], 'vmx', 'require',
     ['br_netfilter', 'overlay', 'nf_conntrack', 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'openvswitch', 'ebtables']),
    (['compute'], None, [], 'vmx', 'require',
     ['br_netfilter', 'overlay', 'nf_conntrack', 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'openvswitch', 'ebtables',
      'vhost_net', 'kvm', 'kvm_intel']),
    (['compute'], None, [], 'svm', 'warn', defaults.modules_for(['compute']) + ['kvm_amd']),
    (['compute'], None, [], None, 'require', defaults.modules_for(['compute'])),
    (['compute'], None, [], 'vmx', 'ignore', defaults.modules_for(['compute'])),
    # explicit modules replace the defaults and the vendor module; extra modules add; '-' and '_' are one name
    (['compute'], ['ip_vs'], ['8021q', 'ip-vs'], 'vmx', 'require', ['ip_vs', '8021q']),
    (['network', 'compute'], None, ['ip-vs'], None, 'require', defaults.modules_for(['network', 'compute'])),
    ([], None, ['8021q'], None, 'require', ['8021q']),
])
def test_wanted_modules(roles, modules, extra, flag, virtualization, expected):
    assert plan.wanted_modules(roles, modules, extra, flag, virtualization) == expected


def test_wanted_sysctls_merges_overrides_and_drops_nulls():
    wanted = plan.wanted_sysctls(['network'], {'net.ipv4.conf.all.rp_filter': None, 'net.netfilter.nf_conntrack_max': 2097152,
                                               'net.ipv4.ip_local_port_range': '1024\t 65000', 'net.ipv4.ip_forward': True})
    assert 'net.ipv4.conf.all.rp_filter' not in wanted
    assert wanted['net.ipv4.conf.default.rp_filter'] == '0'
    assert wanted['net.netfilter.nf_conntrack_max'] == '2097152'
    assert wanted['net.ipv4.ip_local_port_range'] == '1024 65000'
    assert wanted['net.ipv4.ip_forward'] == '1'
    assert wanted['net.bridge.bridge-nf-call-iptables'] == '1'


@pytest.mark.parametrize('key, path', [
    ('net.ipv4.ip_forward', '/proc/sys/net/ipv4/ip_forward'),
    ('net.bridge.bridge-nf-call-iptables', '/proc/sys/net/bridge/bridge-nf-call-iptables'),
    ('net/ipv4/conf/eth0.100/rp_filter', '/proc/sys/net/ipv4/conf/eth0.100/rp_filter'),
])
def test_sysctl_path(key, path):
    assert plan.sysctl_path(key) == path


def test_parse_proc_modules_and_builtin():
    proc = ('openvswitch 200704 2 - Live 0xffffffffc0a5d000\n'
            'nf_conncount 24576 1 openvswitch, Live 0xffffffffc0a53000\n\n'
            'kvm_intel 380928 0 - Live 0xffffffffc0b31000\n')
    assert plan.parse_proc_modules(proc) == {'openvswitch', 'nf_conncount', 'kvm_intel'}
    builtin = ('kernel/net/bridge/br_netfilter.ko\nkernel/drivers/net/ip-vs.ko\n'
               'kernel/fs/overlayfs/overlay.ko.xz\n')
    assert plan.parse_modules_builtin(builtin) == {'br_netfilter', 'ip_vs', 'overlay'}
    assert plan.parse_proc_modules('') == set()


@pytest.mark.parametrize('rc, stdout, stderr, expected', [
    # real kmod outputs
    (0, 'insmod /lib/modules/6.1.0-31-amd64/kernel/lib/libcrc32c.ko \n'
        'insmod /lib/modules/6.1.0-31-amd64/kernel/net/netfilter/nf_conntrack.ko \n'
        'insmod /lib/modules/6.1.0-31-amd64/kernel/net/openvswitch/openvswitch.ko \n', '', (plan.LOAD, 'openvswitch')),
    (0, 'insmod /lib/modules/6.5.0/kernel/net/openvswitch/openvswitch.ko.zst \n', '', (plan.LOAD, 'openvswitch')),
    (0, 'insmod /lib/modules/6.1.0/kernel/drivers/net/ip-vs-rr.ko.xz \n', '', (plan.LOAD, 'ip_vs_rr')),
    (0, 'builtin br_netfilter\n', '', (plan.BUILTIN, None)),
    (0, '', '', (plan.LOADED, None)),
    (0, 'install /bin/true \n', '', (plan.LOAD, None)),
    (1, '', 'modprobe: FATAL: Module openvswitch not found in directory /lib/modules/6.1.0-31-amd64\n',
     (plan.MISSING, 'modprobe: FATAL: Module openvswitch not found in directory /lib/modules/6.1.0-31-amd64')),
    (1, '', '', (plan.MISSING, 'modprobe exited with 1')),
])
def test_parse_modprobe_dry_run(rc, stdout, stderr, expected):
    assert plan.parse_modprobe_dry_run(rc, stdout, stderr) == expected


@pytest.mark.parametrize('rc, stdout, expected', [
    (0, 'Reference ID    : C0A80001 (ntp1)\nStratum         : 3\nLeap status     : Normal\n',
     (True, 'chronyd: leap status Normal, reference C0A80001 (ntp1)')),
    (0, 'Reference ID    : 00000000 ()\nLeap status     : Not synchronised\n',
     (False, 'chronyd: leap status Not synchronised, reference 00000000 ()')),
    (1, '506 Cannot talk to daemon\n', None),
    (0, 'garbage\n', None),
])
def test_parse_chronyc(rc, stdout, expected):
    assert plan.parse_chronyc_tracking(rc, stdout) == expected


@pytest.mark.parametrize('rc, stdout, expected', [
    (0, 'yes\n', (True, 'systemd-timedated: NTPSynchronized=yes')),
    (0, 'no\n', (False, 'systemd-timedated: NTPSynchronized=no')),
    (1, '', None),
    (0, 'maybe', None),
])
def test_parse_timedatectl(rc, stdout, expected):
    assert plan.parse_timedatectl(rc, stdout) == expected


@pytest.mark.parametrize('cpuinfo, flag', [
    ('processor\t: 0\nflags\t\t: fpu vme vmx sse\n', 'vmx'),
    ('processor\t: 0\nflags\t\t: fpu svm sse\n', 'svm'),
    ('processor\t: 0\nflags\t\t: fpu sse hypervisor\n', None),
    ('', None),
])
def test_virtualization_flag(cpuinfo, flag):
    assert plan.virtualization_flag(plan.parse_cpu_flags(cpuinfo)) == flag


def test_plan_modules_groups_missing_modules_by_reason():
    states = {'openvswitch': (plan.MISSING, 'not found'), 'ebtables': (plan.MISSING, 'not found'),
              'br_netfilter': (plan.BUILTIN, None), 'ip_vs': (plan.LOAD, 'ip_vs'), 'overlay': (plan.LOADED, None)}
    loads, report, errors = plan.plan_modules(['br_netfilter', 'ip_vs', 'overlay', 'openvswitch', 'ebtables'], states, KERNEL)
    assert loads == [('ip_vs', 'ip_vs')]
    assert report == {'br_netfilter': 'builtin', 'ip_vs': 'load', 'overlay': 'loaded'}
    assert errors == ['kernel modules openvswitch, ebtables do not exist for kernel %s (not found); install the package with '
                      "the kernel's modules, or remove them from modules/extra_modules" % KERNEL]


@pytest.mark.parametrize('name, wanted, current, writable, loads_pending, changes, deferred, error', [
    ('equal values are left alone, even read-only ones',
     {'net.ipv4.ip_forward': '1', 'kernel.pid_max': '4194304'}, {'net.ipv4.ip_forward': '1', 'kernel.pid_max': '4194304'},
     {'net.ipv4.ip_forward': False, 'kernel.pid_max': True}, False, {}, [], None),
    ('a different value changes', {'net.ipv4.ip_forward': '1'}, {'net.ipv4.ip_forward': '0'},
     {'net.ipv4.ip_forward': True}, False, {'net.ipv4.ip_forward': ('0', '1')}, [], None),
    ('whitespace inside a value does not count', {'net.ipv4.ip_local_port_range': '1024 65000'},
     {'net.ipv4.ip_local_port_range': '1024\t65000'}, {'net.ipv4.ip_local_port_range': True}, False, {}, [], None),
    ('read-only and different fails naming the key', {'net.ipv4.ip_forward': '1'}, {'net.ipv4.ip_forward': '0'},
     {'net.ipv4.ip_forward': False}, False, {}, [],
     'sysctl net.ipv4.ip_forward is read-only on this host (/proc/sys/net/ipv4/ip_forward is 0, want 1)'),
    ('absent while modules load: deferred', {'net.bridge.bridge-nf-call-iptables': '1'}, {'net.bridge.bridge-nf-call-iptables': None},
     {}, True, {}, ['net.bridge.bridge-nf-call-iptables'], None),
    ('absent with nothing to load: fails with the providing module', {'net.bridge.bridge-nf-call-iptables': '1'},
     {'net.bridge.bridge-nf-call-iptables': None}, {}, False, {}, [],
     'sysctl net.bridge.bridge-nf-call-iptables does not exist on kernel %s: no /proc/sys/net/bridge/bridge-nf-call-iptables '
     '(it appears when module br_netfilter is loaded: add it to modules)' % KERNEL),
    ('absent unknown key', {'net.ipv4.no_such_key': '1'}, {'net.ipv4.no_such_key': None}, {}, False, {}, [],
     'sysctl net.ipv4.no_such_key does not exist on kernel %s: no /proc/sys/net/ipv4/no_such_key; fix the key' % KERNEL),
])
def test_plan_sysctls(name, wanted, current, writable, loads_pending, changes, deferred, error):
    got_changes, got_deferred, errors = plan.plan_sysctls(wanted, current, writable, loads_pending, KERNEL)
    assert (got_changes, got_deferred) == (changes, deferred), name
    if error is None:
        assert errors == [], name
    else:
        assert len(errors) == 1 and error in errors[0], name


def test_rendered_files_are_stable_and_headed():
    modules = plan.render_modules_file(['openvswitch', 'ip_vs'])
    assert modules == defaults.FILE_HEADER + 'openvswitch\nip_vs\n'
    sysctls = plan.render_sysctl_file({'net.ipv4.ip_forward': '1', 'fs.inotify.max_user_instances': '8192'})
    assert sysctls == defaults.FILE_HEADER + 'fs.inotify.max_user_instances = 8192\nnet.ipv4.ip_forward = 1\n'


@pytest.mark.parametrize('before, after, expected', [
    ('a\n', 'a\n', None),
    (None, 'a\n', dict(before_header='/etc/x.conf (absent)', after_header='/etc/x.conf', before='', after='a\n')),
    ('a\n', 'b\n', dict(before_header='/etc/x.conf', after_header='/etc/x.conf', before='a\n', after='b\n')),
])
def test_file_change(before, after, expected):
    assert plan.file_change('/etc/x.conf', before, after) == expected


def test_every_role_default_is_a_valid_request():
    for role in defaults.ROLES:
        params = dict(VALID, modules=defaults.modules_for([role]), sysctls=defaults.sysctls_for([role]))
        assert plan.validate(params) == [], role
        for key in defaults.sysctls_for([role]):
            provider = defaults.provider_of(key)
            # a key that needs a module is only a default where that module is a default too
            assert provider is None or provider in defaults.modules_for([role]), (role, key)
