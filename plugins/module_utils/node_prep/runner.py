# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_prep from request to result: observe the host, plan, then (outside check mode)
act, in this order: persist the module list, load modules, persist the sysctls, set them.
Everything that can fail without a change fails before the first change."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep import defaults, plan
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep.host import Host, HostError


class NodePrepError(Exception):
    def __init__(self, message, result=None):
        super(NodePrepError, self).__init__(message)
        self.message = message
        self.result = result or {}


def _module_states(host, wanted, kernel):
    """Each wanted module as (state, detail), from /proc/modules, modules.builtin,
    /sys/module and, for whatever those do not settle, a modprobe dry run."""
    loaded = host.loaded_modules()
    listed_builtin, in_sysfs = host.builtin_modules(kernel)
    states = {}
    for name in wanted:
        key = plan.normalize_module(name)
        if loaded is not None and key in loaded:
            states[name] = (plan.LOADED, None)
        elif listed_builtin is not None and key in listed_builtin:
            states[name] = (plan.BUILTIN, None)
        elif loaded is None:
            # No /proc/modules: the kernel cannot load modules, so only built-in ones exist.
            # Built-in modules with parameters show in /sys/module; modules.builtin lists all.
            evidence = defaults.BUILTIN_EVIDENCE.get(key)
            if key in in_sysfs or (evidence and host.exists('/proc/sys/' + evidence)):
                states[name] = (plan.BUILTIN, None)
            else:
                states[name] = (plan.MISSING, 'the kernel has no loadable module support (no /proc/modules) and does not '
                                'show it as built in (modules.builtin%s, /sys/module, /proc/sys)'
                                % ('' if listed_builtin is not None else ' absent'))
        else:
            rc, out, err = host.modprobe(name, kernel, dry_run=True)
            states[name] = plan.parse_modprobe_dry_run(rc, out, err)
    return states, loaded


def _virtualization(host, defer_pending, loads):
    flags = host.cpu_flags()
    flag = plan.virtualization_flag(flags)
    kvm = host.kvm_device()
    facts = dict(checked=True, cpu_flag=flag, kvm_device=kvm, supported=bool(kvm))
    problem = None
    if not kvm:
        pending = [name for name, dummy in loads if plan.normalize_module(name) in ('kvm_intel', 'kvm_amd')]
        if pending and defer_pending:
            facts['supported'] = None
            return facts, None
        if flag is None:
            problem = ('no hardware virtualization: /dev/kvm is missing and /proc/cpuinfo shows neither vmx nor svm; '
                       'enable VT-x/AMD-V in the firmware (or nested virtualization), or set virtualization=ignore')
        else:
            problem = ('/dev/kvm is missing although the CPU shows %s; load %s (it is in the compute defaults) '
                       'and check dmesg for why it did not create /dev/kvm' % (flag, 'kvm_intel' if flag == 'vmx' else 'kvm_amd'))
    return facts, problem


def _report(policy, problem, warnings):
    if problem is None or policy == 'ignore':
        return None
    if policy == 'warn':
        warnings.append(problem)
        return None
    return problem


def _apply(host, kernel, contents, file_diffs, loads, module_report, loaded_now, wanted_sysctls, sysctl_changes, deferred):
    """The changes, in order: module list, modules, sysctl file, sysctls (late ones re-read)."""
    paths = list(contents)
    if paths[0] in file_diffs:
        host.write_atomic(paths[0], contents[paths[0]])
    for name, kernel_name in loads:
        rc, out, err = host.modprobe(name, kernel, dry_run=False)
        if rc != 0:
            raise NodePrepError('modprobe %s failed on kernel %s: %s' % (name, kernel, ' '.join((err or out).split())))
        if kernel_name and kernel_name not in (host.loaded_modules() or set()):
            raise NodePrepError('modprobe %s succeeded but %s is not in /proc/modules' % (name, kernel_name))
        loaded_now.append(name)
        module_report[name] = 'loaded_now'
    if paths[1] in file_diffs:
        host.write_atomic(paths[1], contents[paths[1]])
    errors = []
    for key in deferred:
        before = host.sysctl_read(key)
        if before is None:
            errors.append('sysctl %s does not exist on kernel %s even after loading %s (no %s); fix the key or drop it from sysctls'
                          % (key, kernel, ', '.join(loaded_now), plan.sysctl_path(key)))
        elif before != wanted_sysctls[key]:
            if not host.sysctl_writable(key):
                errors.append('sysctl %s is read-only on this host (%s)' % (key, plan.sysctl_path(key)))
            else:
                sysctl_changes[key] = (before, wanted_sysctls[key])
    if errors:
        raise NodePrepError('; '.join(errors))
    for key in sorted(sysctl_changes):
        host.sysctl_write(key, sysctl_changes[key][1])
        now = host.sysctl_read(key)
        if now != sysctl_changes[key][1]:
            raise NodePrepError('sysctl %s: wrote %s but the kernel reads back %s' % (key, sysctl_changes[key][1], now))


def run(module, params, check_mode, diff_mode):
    """Returns the module result; raises NodePrepError (with a partial result) on failure."""
    errors = plan.validate(params)
    if errors:
        raise NodePrepError('; '.join(errors))
    if not os.path.isdir(params['root']):
        raise NodePrepError('root: %s is not a directory; give / on a real host, or the directory of a fake host '
                            '(host_prep_root in the sandbox inventory)' % params['root'])
    host = Host(module, params['root'])
    roles = params['roles'] or []
    warnings = []
    facts = dict(roles=roles, root=host.root)
    acted = []
    try:
        kernel = host.kernel_release()
        facts['kernel'] = kernel
        compute = 'compute' in roles
        virtualization = params['virtualization'] if compute else 'ignore'
        cpu_flag = plan.virtualization_flag(host.cpu_flags())
        wanted_modules = plan.wanted_modules(roles, params['modules'], params['extra_modules'], cpu_flag, virtualization)
        wanted_sysctls = plan.wanted_sysctls(roles, params['sysctls'])

        states, loaded_before = _module_states(host, wanted_modules, kernel)
        loads, module_report, errors = plan.plan_modules(wanted_modules, states, kernel)
        current = dict((key, host.sysctl_read(key)) for key in wanted_sysctls)
        writable = dict((key, host.sysctl_writable(key)) for key in wanted_sysctls)
        sysctl_changes, deferred, sysctl_errors = plan.plan_sysctls(wanted_sysctls, current, writable, bool(loads), kernel)
        errors += sysctl_errors

        synchronised, source, detail = host.time_sync()
        facts['time_sync'] = dict(synchronized=synchronised, source=source, detail=detail)
        time_problem = None if synchronised else 'time is not synchronised (%s); start chronyd or systemd-timesyncd ' \
            '(Galera and RabbitMQ need synchronised clocks), or set time_sync=warn' % detail
        problem = _report(params['time_sync'], time_problem, warnings)
        if problem:
            errors.append(problem)
        facts['virtualization'] = dict(checked=False)
        virtualization_pending = False
        if compute and virtualization != 'ignore':
            # Decided now unless /dev/kvm waits for kvm_intel/kvm_amd, which this run loads.
            facts['virtualization'], problem = _virtualization(host, True, loads)
            virtualization_pending = facts['virtualization']['supported'] is None
            problem = _report(virtualization, problem, warnings)
            if problem:
                errors.append(problem)
        if errors:
            raise NodePrepError('; '.join(errors))

        files = [
            (params['modules_load_file'], plan.render_modules_file(wanted_modules)),
            (params['sysctl_file'], plan.render_sysctl_file(wanted_sysctls)),
        ]
        file_diffs = {}
        for path, content in files:
            entry = plan.file_change(path, host.read(path), content)
            if entry:
                file_diffs[path] = entry

        changed = bool(file_diffs or loads or sysctl_changes or deferred)
        loaded_now = []
        if check_mode:
            for name, dummy in loads:
                module_report[name] = 'would_load'
            for key in deferred:
                sysctl_changes[key] = (None, wanted_sysctls[key])
        else:
            acted.append(changed)
            _apply(host, kernel, dict(files), file_diffs, loads, module_report, loaded_now, wanted_sysctls, sysctl_changes, deferred)

        if virtualization_pending and not check_mode:
            facts['virtualization'], problem = _virtualization(host, False, loads)
            problem = _report(virtualization, problem, warnings)
            if problem:
                raise NodePrepError(problem)
    except HostError as exc:
        raise NodePrepError(str(exc), dict(changed=bool(acted), ansible_facts=dict(node_prep=facts), warnings=warnings))
    except NodePrepError as exc:
        exc.result.update(changed=bool(acted), ansible_facts=dict(node_prep=facts), warnings=warnings)
        raise

    facts.update(
        modules=module_report,
        modules_loaded=loaded_now,
        kernel_module_support=loaded_before is not None,
        persisted_files=dict(modules_load=host.path(params['modules_load_file']), sysctl=host.path(params['sysctl_file'])),
        sysctls=wanted_sysctls,
        sysctls_changed=dict((key, dict(before=before, after=after)) for key, (before, after) in sysctl_changes.items()),
    )
    result = dict(changed=changed, ansible_facts=dict(node_prep=facts), warnings=warnings, commands=host.commands)
    if diff_mode:
        result['diff'] = [file_diffs[path] for path, dummy in files if path in file_diffs]
        runtime = _runtime_diff(module_report, sysctl_changes)
        if runtime:
            result['diff'].append(runtime)
    return result


def _runtime_diff(module_report, sysctl_changes):
    before, after = [], []
    for name in sorted(module_report):
        if module_report[name] in ('loaded_now', 'would_load'):
            before.append('module %s: not loaded\n' % name)
            after.append('module %s: loaded\n' % name)
    for key in sorted(sysctl_changes):
        old, new = sysctl_changes[key]
        before.append('%s = %s\n' % (key, old if old is not None else '(absent until its module loads)'))
        after.append('%s = %s\n' % (key, new))
    if not before:
        return None
    return dict(before_header='running kernel', after_header='running kernel', before=''.join(before), after=''.join(after))
