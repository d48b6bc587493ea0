"""A fake bare-metal host for node_prep: a directory that node_prep's ``root`` option points at.

It holds what the module reads on a real host (``proc/modules``, ``proc/sys/...``,
``proc/cpuinfo``, ``lib/modules/<kernel>/modules.dep`` and ``modules.builtin``, ``etc/...``)
and a recorded ``usr/sbin/modprobe``: a script that logs every call to
``var/log/modprobe.calls`` (one JSON list per line) and behaves like kmod's modprobe against
the fake kernel: ``--dry-run --verbose`` prints ``insmod``/``builtin`` lines, a real call
appends the module and its dependencies to ``proc/modules`` and creates the ``/proc/sys``
entries and devices the module brings (``fake.sysctl``, ``fake.devices``), and a module listed
in ``fake.fail`` fails to insert.

Used by the tests and by the sandbox demo:

    python tests/integration/node_prep/fake_host.py DIR [--roles-ready] [--kernel K]
"""
import argparse
import json
import os
import stat
import sys

KERNEL = '6.1.0-31-amd64'

# module -> dependencies, as modules.dep lists them (a Debian 12 kernel, trimmed).
AVAILABLE = {
    'libcrc32c': [], 'nf_defrag_ipv4': [], 'nf_defrag_ipv6': [], 'x_tables': [], 'llc': [], 'stp': ['llc'],
    'nf_conntrack': ['nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'nf_nat': ['nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'nsh': [],
    'openvswitch': ['nsh', 'nf_conncount', 'nf_nat', 'nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'nf_conncount': ['nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'bridge': ['stp', 'llc'],
    'br_netfilter': ['bridge', 'stp', 'llc'],
    'ebtables': [],
    'overlay': [],
    'ip_vs': ['nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'ip_vs_rr': ['ip_vs', 'nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'ip_vs_wrr': ['ip_vs', 'nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'ip_vs_sh': ['ip_vs', 'nf_conntrack', 'nf_defrag_ipv6', 'nf_defrag_ipv4', 'libcrc32c'],
    'irqbypass': [], 'kvm': ['irqbypass'], 'kvm_intel': ['kvm', 'irqbypass'], 'kvm_amd': ['kvm', 'irqbypass'],
    'tun': [], 'tap': [], 'vhost_iotlb': [], 'vhost': ['vhost_iotlb'], 'vhost_net': ['tun', 'vhost', 'vhost_iotlb', 'tap'],
    'garp': ['stp', 'llc'], 'mrp': [], '8021q': ['garp', 'mrp', 'stp', 'llc'],
}
DIRECTORY = {
    'openvswitch': 'net/openvswitch', 'br_netfilter': 'net/bridge', 'bridge': 'net/bridge', 'ebtables': 'net/bridge/netfilter',
    'kvm': 'arch/x86/kvm', 'kvm_intel': 'arch/x86/kvm', 'kvm_amd': 'arch/x86/kvm', 'vhost_net': 'drivers/vhost',
    'vhost': 'drivers/vhost', 'vhost_iotlb': 'drivers/vhost', 'tun': 'drivers/net', 'tap': 'drivers/net',
    'overlay': 'fs/overlayfs', 'libcrc32c': 'lib', 'irqbypass': 'virt/lib',
}
# /proc/sys entries a module creates when it loads, with the kernel's initial value.
PROVIDES_SYSCTLS = {
    'br_netfilter': {'net/bridge/bridge-nf-call-iptables': '1', 'net/bridge/bridge-nf-call-ip6tables': '1',
                     'net/bridge/bridge-nf-call-arptables': '1'},
    'nf_conntrack': {'net/netfilter/nf_conntrack_max': '262144', 'net/netfilter/nf_conntrack_count': '0'},
    'ip_vs': {'net/ipv4/vs/conntrack': '0'},
}
PROVIDES_DEVICES = {'kvm_intel': ['dev/kvm'], 'kvm_amd': ['dev/kvm']}
# /proc/sys of a fresh host (values of a stock kernel with systemd's defaults).
BASE_SYSCTLS = {
    'net/ipv4/ip_forward': '0', 'fs/inotify/max_user_instances': '128', 'fs/inotify/max_user_watches': '8192',
    'net/ipv4/neigh/default/gc_thresh1': '128', 'net/ipv4/neigh/default/gc_thresh2': '512',
    'net/ipv4/neigh/default/gc_thresh3': '1024', 'net/ipv4/conf/all/rp_filter': '2',
    'net/ipv4/conf/default/rp_filter': '2', 'net/ipv4/ip_local_port_range': '32768\t60999',
}
CPU_FLAGS = 'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm'

MODPROBE = r'''#!%(python)s
"""Recorded modprobe of a fake host (see tests/integration/node_prep/fake_host.py)."""
import json, os, sys

argv = sys.argv[1:]
root, version, dry_run, verbose, names = '/', os.uname()[2], False, False, []
i = 0
while i < len(argv):
    arg = argv[i]
    if arg in ('-d', '--dirname'):
        root = argv[i + 1]; i += 1
    elif arg in ('-S', '--set-version'):
        version = argv[i + 1]; i += 1
    elif arg in ('-n', '--dry-run', '--show'):
        dry_run = True
    elif arg in ('-v', '--verbose'):
        verbose = True
    else:
        names.append(arg)
    i += 1
os.makedirs(os.path.join(root, 'var/log'), exist_ok=True)
with open(os.path.join(root, 'var/log/modprobe.calls'), 'a') as log:
    log.write(json.dumps(argv) + '\n')


def read(path):
    try:
        with open(os.path.join(root, path)) as handle:
            return handle.read()
    except FileNotFoundError:
        return ''


base = 'lib/modules/%%s' %% version
if not os.path.isdir(os.path.join(root, base)):
    sys.stderr.write("modprobe: FATAL: Module %%s not found in directory %%s\n" %% (names[0], os.path.join(root, base)))
    sys.exit(1)
dep = {}
for line in read(base + '/modules.dep').splitlines():
    path, _, deps = line.partition(':')
    dep[os.path.basename(path)[:-3].replace('-', '_')] = (path, [os.path.basename(d)[:-3].replace('-', '_') for d in deps.split()])
builtin = set(os.path.basename(l.strip())[:-3].replace('-', '_') for l in read(base + '/modules.builtin').splitlines() if l.strip())
fail = set(read(base + '/fake.fail').split())
loaded = [l.split()[0] for l in read('proc/modules').splitlines() if l.strip()]
name = names[0].replace('-', '_')
if name in builtin:
    if verbose:
        print('builtin %%s' %% name)
    sys.exit(0)
if name not in dep:
    sys.stderr.write("modprobe: FATAL: Module %%s not found in directory %%s\n" %% (names[0], os.path.join('/', base)))
    sys.exit(1)
order = [d for d in reversed(dep[name][1])] + [name]
for module in order:
    if module in loaded or module in builtin:
        continue
    if dry_run:
        print('insmod /%%s/%%s ' %% (base, dep[module][0]))
        continue
    if module in fail:
        sys.stderr.write("modprobe: ERROR: could not insert '%%s': Operation not permitted\n" %% module)
        sys.exit(1)
    with open(os.path.join(root, 'proc/modules'), 'a') as handle:
        handle.write('%%s 16384 0 - Live 0x0000000000000000\n' %% module)
    loaded.append(module)
    for line in read(base + '/fake.sysctl').splitlines():
        owner, key, value = line.split(None, 2)
        target = os.path.join(root, 'proc/sys', key)
        if owner == module and not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, 'w') as handle:
                handle.write(value + '\n')
    for line in read(base + '/fake.devices').splitlines():
        owner, device = line.split()
        if owner == module:
            os.makedirs(os.path.dirname(os.path.join(root, device)), exist_ok=True)
            open(os.path.join(root, device), 'w').close()
'''

CHRONYC = r'''#!/bin/sh
echo "$@" >> "$(dirname "$0")/../../var/log/chronyc.calls"
cat <<'EOF'
Reference ID    : C0A80001 (192.168.0.1)
Stratum         : 3
Ref time (UTC)  : Mon Nov 23 18:00:00 2026
System time     : 0.000012345 seconds fast of NTP time
Leap status     : %s
EOF
'''


def _write(root, path, content, mode=0o644):
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w') as handle:
        handle.write(content)
    os.chmod(target, mode)


def module_path(name):
    return 'kernel/%s/%s.ko' % (DIRECTORY.get(name, 'net/netfilter'), name)


def make_fake_host(root, kernel=KERNEL, loaded=(), builtin=(), missing=(), fail=(), sysctls=None, readonly=(),
                   cpu_flag='vmx', kvm_device=False, time_sync='timesyncd', files=None, module_support=True):
    """Build a fake host under ``root``.

    loaded: modules already in /proc/modules (their sysctls exist); builtin: modules in
    modules.builtin (and their sysctls exist); missing: modules absent from modules.dep;
    fail: modules whose insertion fails; sysctls: /proc/sys values over BASE_SYSCTLS
    (keys as paths); readonly: /proc/sys paths made 0444; time_sync: 'timesyncd', 'chrony',
    'chrony-unsynced' or None; files: {host path: content}.
    """
    available = dict((name, deps) for name, deps in AVAILABLE.items() if name not in missing and name not in builtin)
    base = 'lib/modules/%s' % kernel
    _write(root, base + '/modules.dep', ''.join('%s:%s\n' % (module_path(name), ''.join(' ' + module_path(d) for d in deps))
                                                for name, deps in sorted(available.items())))
    _write(root, base + '/modules.builtin', ''.join('%s\n' % module_path(name) for name in builtin))
    _write(root, base + '/fake.fail', ''.join('%s\n' % name for name in fail))
    _write(root, base + '/fake.sysctl', ''.join('%s %s %s\n' % (owner, key, value) for owner, entries in sorted(PROVIDES_SYSCTLS.items())
                                                for key, value in sorted(entries.items())))
    _write(root, base + '/fake.devices', ''.join('%s %s\n' % (owner, dev) for owner, devs in sorted(PROVIDES_DEVICES.items()) for dev in devs))
    values = dict(BASE_SYSCTLS)
    active = set(builtin)
    if module_support:
        lines = []
        for name in loaded:
            for dep in list(AVAILABLE.get(name, [])) + [name]:
                if dep not in [line.split()[0] for line in lines]:
                    lines.append('%s 16384 0 - Live 0x0000000000000000' % dep)
                    active.add(dep)
        _write(root, 'proc/modules', ''.join(line + '\n' for line in lines))
    for name in active:
        values.update(PROVIDES_SYSCTLS.get(name, {}))
        for device in PROVIDES_DEVICES.get(name, []):
            _write(root, device, '', 0o660)
    values.update(sysctls or {})
    values['kernel/osrelease'] = kernel
    for key, value in values.items():
        _write(root, 'proc/sys/' + key, value + '\n', 0o444 if key in readonly or key == 'kernel/osrelease' else 0o644)
    flags = CPU_FLAGS + (' ' + cpu_flag if cpu_flag else '')
    _write(root, 'proc/cpuinfo', 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: %s\n\nprocessor\t: 1\nflags\t\t: %s\n' % (flags, flags))
    if kvm_device:
        _write(root, 'dev/kvm', '', 0o660)
    os.makedirs(os.path.join(root, 'sys/module'), exist_ok=True)
    for name in active:
        os.makedirs(os.path.join(root, 'sys/module', name), exist_ok=True)
    _write(root, 'usr/sbin/modprobe', MODPROBE % dict(python=sys.executable), 0o755)
    if time_sync == 'timesyncd':
        _write(root, 'run/systemd/timesync/synchronized', '')
    elif time_sync in ('chrony', 'chrony-unsynced'):
        _write(root, 'usr/bin/chronyc', CHRONYC % ('Normal' if time_sync == 'chrony' else 'Not synchronised'), 0o755)
    for path, content in (files or {}).items():
        _write(root, path.lstrip('/'), content)
    os.makedirs(os.path.join(root, 'etc'), exist_ok=True)
    return root


def modprobe_calls(root):
    """Every recorded modprobe call (argument lists), oldest first."""
    try:
        with open(os.path.join(root, 'var/log/modprobe.calls')) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def snapshot(root):
    """Every file under root with its content and mode, to prove that nothing changed."""
    state = {}
    for directory, dummy, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                state[os.path.relpath(path, root)] = (handle.read(), stat.S_IMODE(os.stat(path).st_mode))
    return state


def main():
    parser = argparse.ArgumentParser(description='Build a fake host for node_prep (root option / host_prep_root).')
    parser.add_argument('root')
    parser.add_argument('--kernel', default=KERNEL)
    parser.add_argument('--cpu-flag', default='vmx', choices=['vmx', 'svm', 'none'])
    parser.add_argument('--time-sync', default='timesyncd', choices=['timesyncd', 'chrony', 'chrony-unsynced', 'none'])
    args = parser.parse_args()
    make_fake_host(args.root, kernel=args.kernel, cpu_flag=None if args.cpu_flag == 'none' else args.cpu_flag,
                   time_sync=None if args.time_sync == 'none' else args.time_sync)
    print(args.root)


if __name__ == '__main__':
    main()
