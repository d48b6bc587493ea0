#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: node_prep
short_description: Prepare a bare-metal compute or network host for OpenStack on Kubernetes
version_added: 0.1.0
description:
  - Loads the kernel modules a host's node roles need and persists them in one file under
    C(/etc/modules-load.d/), sets sysctls and persists them in one file under C(/etc/sysctl.d/),
    checks that the clock is synchronised (chronyd or systemd-timesyncd), and on compute hosts
    checks hardware virtualization (C(/dev/kvm), the C(vmx)/C(svm) CPU flag).
  - Decides first and acts second. It reads C(/proc/modules), C(modules.builtin), C(/proc/sys)
    and the two files, asks C(modprobe --dry-run --verbose) about each module that is neither
    loaded nor built in, and fails before any change when a module does not exist for the running
    kernel, a sysctl key does not exist, a sysctl that must change is read-only, or a required
    check fails.
  - Then, outside check mode, it writes the module list, loads the modules, writes the sysctl file
    and sets the sysctls. Sysctls that only exist once a module is loaded
    (C(net.bridge.*) needs C(br_netfilter)) are set after the modules are loaded; if such a key is
    still missing then, the module fails naming it.
  - A built-in module counts as loaded. Files are written atomically (a temporary file in the
    same directory renamed over the target). O(ignore:changed) is true only when a file, a
    module or a sysctl changed; diff mode shows the file contents and the runtime changes.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
options:
  roles:
    description:
      - The node roles of this host. Each role brings default modules and sysctls; see the
        collection's C(docs/host-prep.md) for the tables.
      - Virtualization is checked only on hosts with the C(compute) role.
    type: list
    elements: str
    choices: [controller, compute, network, storage, baremetal]
    default: []
    aliases: [role]
  modules:
    description:
      - Kernel modules to load, replacing the role defaults.
      - When set, C(kvm_intel)/C(kvm_amd) are not added from the CPU flags either.
    type: list
    elements: str
  extra_modules:
    description:
      - Kernel modules to load in addition to O(modules) or the role defaults.
    type: list
    elements: str
    default: []
  sysctls:
    description:
      - Sysctls merged over the role defaults, key to value. A value of C(null) drops a role default.
      - Keys use dots (C(net.ipv4.ip_forward)); a key with C(/) is taken as a path below
        C(/proc/sys) (for interface names with dots).
    type: dict
    default: {}
  modules_load_file:
    description:
      - The file listing the modules for C(systemd-modules-load) at boot. Must end in C(.conf).
    type: path
    default: /etc/modules-load.d/openstack-k8s.conf
  sysctl_file:
    description:
      - The file listing the sysctls for C(systemd-sysctl) at boot. Must end in C(.conf).
    type: path
    default: /etc/sysctl.d/90-openstack-k8s.conf
  time_sync:
    description:
      - What to do when the clock is not synchronised. C(require) fails before any change,
        C(warn) reports a warning, C(ignore) only reports the state.
      - The time source is asked in this order, with C(LANG=C) - C(chronyc -n tracking),
        C(timedatectl show --property=NTPSynchronized --value), the C(/run/systemd/timesync/synchronized)
        flag file, and on a real root the kernel clock status (C(adjtimex)).
    type: str
    choices: [require, warn, ignore]
    default: warn
  virtualization:
    description:
      - What to do on a C(compute) host without usable hardware virtualization (no C(/dev/kvm)).
        C(require) fails, C(warn) reports a warning, C(ignore) skips the check and the
        C(kvm_intel)/C(kvm_amd) module.
    type: str
    choices: [require, warn, ignore]
    default: require
  root:
    description:
      - The directory every host path is read and written under; C(/) on a real host.
      - Any other value points the module at a fake host (a directory with C(proc/), C(lib/modules/),
        C(etc/) and its own C(usr/sbin/modprobe)) as used by the tests and the sandbox demo. Commands
        are then looked up only under that root, and modprobe gets C(--dirname ROOT --set-version KERNEL).
    type: path
    default: /
attributes:
  check_mode:
    description: Plans the same changes as a real run and reports them without making them.
    support: full
  diff_mode:
    description: Shows the changes as before/after text.
    support: full
notes:
  - Sysctls are set by writing their C(/proc/sys) entries, which is what C(sysctl -w) does, so that
    the same code path works under O(root).
  - On a kernel without loadable module support (no C(/proc/modules)) a module exists only if it is
    built in; it is recognised from C(modules.builtin) or C(/sys/module).
'''

EXAMPLES = r'''
- name: Prepare a compute host
  openstack_k8s.deploy.node_prep:
    roles: [compute]
    time_sync: require

- name: Prepare a network host with an extra module and one sysctl changed
  openstack_k8s.deploy.node_prep:
    roles: [network]
    extra_modules: [8021q]
    sysctls:
      net.netfilter.nf_conntrack_max: 2097152
      net.ipv4.conf.all.rp_filter: null
'''

RETURN = r'''
ansible_facts:
  description: Facts about the host's preparation.
  returned: always
  type: dict
  contains:
    node_prep:
      description: What node_prep found and did.
      returned: always
      type: dict
      contains:
        kernel:
          description: The running kernel release.
          type: str
          sample: 6.1.0-27-amd64
        roles:
          description: The roles the host was prepared for.
          type: list
          elements: str
        modules:
          description: Each wanted module and its state - C(loaded), C(builtin), C(loaded_now) or C(would_load) (check mode).
          type: dict
          sample: {openvswitch: loaded_now, br_netfilter: builtin}
        modules_loaded:
          description: Modules this run loaded.
          type: list
          elements: str
        kernel_module_support:
          description: Whether the kernel can load modules (it has C(/proc/modules)).
          type: bool
        persisted_files:
          description: The paths of the modules-load.d and sysctl.d files.
          type: dict
          sample: {modules_load: /etc/modules-load.d/openstack-k8s.conf, sysctl: /etc/sysctl.d/90-openstack-k8s.conf}
        sysctls:
          description: The wanted sysctls.
          type: dict
          sample: {net.ipv4.ip_forward: "1"}
        sysctls_changed:
          description: The sysctls this run changed (or would change), with before and after values.
          type: dict
          sample: {net.ipv4.ip_forward: {before: "0", after: "1"}}
        time_sync:
          description: C(synchronized) (bool), C(source) (chrony, systemd-timesyncd, kernel or null) and C(detail).
          type: dict
        virtualization:
          description: C(checked), and on compute hosts C(kvm_device), C(cpu_flag) (vmx, svm or null) and
            C(supported) (null in check mode while the module that creates /dev/kvm is not loaded yet).
          type: dict
        root:
          description: The O(root) the host was read under.
          type: str
commands:
  description: The commands run on the host, in order.
  returned: always
  type: list
  elements: list
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep import defaults
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep.runner import NodePrepError, run


def argument_spec():
    return dict(
        roles=dict(type='list', elements='str', choices=list(defaults.ROLES), default=[], aliases=['role']),
        modules=dict(type='list', elements='str'),
        extra_modules=dict(type='list', elements='str', default=[]),
        sysctls=dict(type='dict', default={}),
        modules_load_file=dict(type='path', default=defaults.MODULES_LOAD_FILE),
        sysctl_file=dict(type='path', default=defaults.SYSCTL_FILE),
        time_sync=dict(type='str', choices=['require', 'warn', 'ignore'], default='warn'),
        virtualization=dict(type='str', choices=['require', 'warn', 'ignore'], default='require'),
        root=dict(type='path', default='/'),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module, module.params, module.check_mode, module._diff)
    except NodePrepError as exc:
        for warning in exc.result.pop('warnings', []):
            module.warn(warning)
        module.fail_json(msg=exc.message, **exc.result)
    for warning in result.pop('warnings'):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
