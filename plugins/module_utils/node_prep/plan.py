# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure half of node_prep: validate the request, parse what the host shows, and
compute the changes. Nothing here reads or writes the host; host.py does that and
runner.py puts the two together (decide first, act second)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep import defaults

MODULE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]*$')
SYSCTL_KEY_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*(/[A-Za-z0-9_.:@+-]+)*$')
KO_SUFFIX_RE = re.compile(r'\.ko(\.(xz|zst|gz))?$')
POLICIES = ('require', 'warn', 'ignore')

# What the modprobe dry run says about one module.
LOADED = 'loaded'
BUILTIN = 'builtin'
LOAD = 'load'
MISSING = 'missing'


def normalize_module(name):
    """The kernel treats '-' and '_' in module names as the same character."""
    return name.replace('-', '_')


def normalize_value(value):
    """A sysctl value as the kernel prints it, fields separated by single spaces."""
    if isinstance(value, bool):
        value = int(value)
    return ' '.join(str(value).split())


def sysctl_path(key):
    """``net.ipv4.ip_forward`` -> ``/proc/sys/net/ipv4/ip_forward``; keys containing '/'
    (interface names with dots: ``net/ipv4/conf/eth0.100/rp_filter``) are taken as paths."""
    parts = key.split('/') if '/' in key else key.split('.')
    return '/proc/sys/' + '/'.join(parts)


# -- validation ---------------------------------------------------------------------------
def validate(params):
    """Every error in the request, as messages naming the option and the fix."""
    errors = []
    for option in ('modules', 'extra_modules'):
        for name in params.get(option) or []:
            if not MODULE_NAME_RE.match(name or ''):
                errors.append('%s: %r is not a kernel module name (letters, digits, "_" and "-"); '
                              'fix or remove the entry' % (option, name))
    for key, value in (params.get('sysctls') or {}).items():
        if not SYSCTL_KEY_RE.match(key) or '..' in key:
            errors.append('sysctls: %r is not a sysctl key such as net.ipv4.ip_forward; fix or remove it' % (key,))
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            errors.append('sysctls.%s: the value must be a string or a number, got %s; '
                          'write several fields as one string ("4096 87380 6291456")' % (key, type(value).__name__))
        elif value is not None and not normalize_value(value):
            errors.append('sysctls.%s: the value is empty; give a value, or null to drop a role default' % key)
    for option, example, directory, reader in (
            ('modules_load_file', defaults.MODULES_LOAD_FILE, '/etc/modules-load.d/', 'systemd-modules-load'),
            ('sysctl_file', defaults.SYSCTL_FILE, '/etc/sysctl.d/', 'systemd-sysctl')):
        path = params.get(option) or ''
        if not path.startswith('/') or path.endswith('/'):
            errors.append('%s: %r must be an absolute file path such as %s' % (option, path, example))
        elif path.startswith(directory) and not path.endswith('.conf'):
            errors.append('%s: %s reads only *.conf files in %s; name the file with a .conf suffix' % (option, reader, directory))
    if params.get('modules_load_file') and params.get('modules_load_file') == params.get('sysctl_file'):
        errors.append('sysctl_file: it is the same file as modules_load_file (%s); give each its own file' % params['sysctl_file'])
    return errors


# -- what is wanted -------------------------------------------------------------------------
def wanted_modules(roles, modules=None, extra_modules=None, cpu_flag=None, virtualization='ignore'):
    """``modules`` replaces the role defaults; ``extra_modules`` adds to either. A compute
    host whose CPU shows vmx/svm also gets kvm_intel/kvm_amd (the module that makes /dev/kvm)."""
    names = list(modules) if modules is not None else defaults.modules_for(roles)
    names += list(extra_modules or [])
    if modules is None and 'compute' in roles and virtualization != 'ignore' and cpu_flag in defaults.KVM_VENDOR_MODULES:
        names.append(defaults.KVM_VENDOR_MODULES[cpu_flag])
    result = []
    seen = set()
    for name in names:
        if normalize_module(name) not in seen:
            seen.add(normalize_module(name))
            result.append(name)
    return result


def wanted_sysctls(roles, overrides=None):
    """Role defaults with ``overrides`` on top; an override of null drops a default."""
    result = defaults.sysctls_for(roles)
    for key, value in (overrides or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = normalize_value(value)
    return dict((key, normalize_value(value)) for key, value in result.items())


# -- parsing what the host shows -----------------------------------------------------------
def parse_proc_modules(text):
    """The names in /proc/modules (first field of each line)."""
    return set(normalize_module(line.split()[0]) for line in (text or '').splitlines() if line.strip())


def parse_modules_builtin(text):
    """modules.builtin lists paths (kernel/net/bridge/br_netfilter.ko); the name is the file name."""
    names = set()
    for line in (text or '').splitlines():
        line = line.strip()
        if line:
            names.add(normalize_module(KO_SUFFIX_RE.sub('', line.rsplit('/', 1)[-1])))
    return names


def parse_modprobe_dry_run(rc, stdout, stderr):
    """``modprobe --dry-run --verbose NAME`` -> (state, detail).

    It prints ``insmod PATH`` for each module it would insert (dependencies first, the
    module itself last), ``builtin NAME`` for a built-in module, nothing for a module that
    is already loaded, and fails when no module of that name (or alias) exists."""
    if rc != 0:
        message = ' '.join((stderr or stdout or '').split()) or 'modprobe exited with %d' % rc
        return MISSING, message
    inserted = []
    for line in (stdout or '').splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == 'insmod':
            inserted.append(normalize_module(KO_SUFFIX_RE.sub('', words[1].rsplit('/', 1)[-1])))
        elif len(words) >= 2 and words[0] == 'builtin' and not inserted:
            return BUILTIN, None
    if inserted:
        return LOAD, inserted[-1]
    if any(line.split()[:1] == ['install'] for line in (stdout or '').splitlines()):
        return LOAD, None
    return LOADED, None


def parse_chronyc_tracking(rc, stdout):
    """(synchronised, detail) from ``chronyc -n tracking``; None when chronyd did not answer."""
    if rc != 0:
        return None
    fields = {}
    for line in (stdout or '').splitlines():
        if ':' in line:
            name, value = line.split(':', 1)
            fields[name.strip().lower()] = value.strip()
    leap = fields.get('leap status')
    if leap is None:
        return None
    return leap == 'Normal', 'chronyd: leap status %s, reference %s' % (leap, fields.get('reference id', 'unknown'))


def parse_timedatectl(rc, stdout):
    """(synchronised, detail) from ``timedatectl show --property=NTPSynchronized --value``."""
    value = (stdout or '').strip()
    if rc != 0 or value not in ('yes', 'no'):
        return None
    return value == 'yes', 'systemd-timedated: NTPSynchronized=%s' % value


def parse_cpu_flags(cpuinfo):
    for line in (cpuinfo or '').splitlines():
        if line.split(':', 1)[0].strip() == 'flags':
            return set(line.split(':', 1)[1].split())
    return set()


def virtualization_flag(flags):
    for flag in sorted(defaults.KVM_VENDOR_MODULES):
        if flag in flags:
            return flag
    return None


# -- rendering ------------------------------------------------------------------------------
def render_modules_file(modules):
    return defaults.FILE_HEADER + ''.join('%s\n' % name for name in modules)


def render_sysctl_file(sysctls):
    return defaults.FILE_HEADER + ''.join('%s = %s\n' % (key, sysctls[key]) for key in sorted(sysctls))


# -- the plan -------------------------------------------------------------------------------
def plan_modules(wanted, states, kernel):
    """(loads, report, errors). ``states`` maps each wanted name to (state, detail) as
    classified from /proc/modules, modules.builtin and the modprobe dry run."""
    loads, report, missing = [], {}, {}
    for name in wanted:
        state, detail = states[name]
        if state == MISSING:
            missing.setdefault(detail, []).append(name)
            continue
        report[name] = state
        if state == LOAD:
            loads.append((name, detail))
    errors = []
    for detail, names in missing.items():
        errors.append('kernel module%s %s %s not exist for kernel %s (%s); install the package with the kernel\'s '
                      'modules, or remove %s from modules/extra_modules'
                      % ('s' if len(names) > 1 else '', ', '.join(names), 'do' if len(names) > 1 else 'does', kernel,
                         detail, 'them' if len(names) > 1 else 'it'))
    return loads, report, errors


def plan_sysctls(wanted, current, writable, loads_pending, kernel):
    """(changes, deferred, errors).

    ``current`` maps each key to its value, or None when /proc/sys has no such entry.
    A missing entry is deferred when modules are about to be loaded (br_netfilter creates
    net.bridge.*) and checked again after loading; otherwise it is an error now."""
    changes, deferred, errors = {}, [], []
    for key in sorted(wanted):
        value = wanted[key]
        before = current.get(key)
        if before is None:
            provider = defaults.provider_of(key)
            if loads_pending:
                deferred.append(key)
                continue
            hint = ' (it appears when module %s is loaded: add it to modules)' % provider if provider else ''
            errors.append('sysctl %s does not exist on kernel %s: no %s%s; fix the key or drop it from sysctls'
                          % (key, kernel, sysctl_path(key), hint))
            continue
        if normalize_value(before) == value:
            continue
        if not writable.get(key):
            errors.append('sysctl %s is read-only on this host (%s is %s, want %s); it cannot be changed here '
                          '(a container or a read-only /proc/sys?): set it on the host, or drop it from sysctls'
                          % (key, sysctl_path(key), normalize_value(before), value))
            continue
        changes[key] = (normalize_value(before), value)
    return changes, deferred, errors


def file_change(path, before, after):
    """A diff entry when the file's content differs, else None."""
    if before == after:
        return None
    return dict(before_header=path if before is not None else '%s (absent)' % path, after_header=path,
                before=before or '', after=after)
