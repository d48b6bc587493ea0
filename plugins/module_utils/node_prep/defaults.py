# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host needs, by node role (the role names of roles/catalog/files/node_roles.yml).

Every Kubernetes node needs bridged traffic to reach iptables and IP forwarding
(kube-proxy, CNI), and the IPVS modules when kube-proxy runs in IPVS mode. Compute and
network hosts run Open vSwitch and the Neutron agents (ebtables for the security-group
bridge); compute hosts run KVM guests with vhost-net.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

ROLES = ('controller', 'compute', 'network', 'storage', 'baremetal')

_KUBERNETES_MODULES = ['br_netfilter', 'overlay', 'nf_conntrack', 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh']
_NEUTRON_MODULES = ['openvswitch', 'ebtables']
_HYPERVISOR_MODULES = ['vhost_net', 'kvm']

MODULES_BY_ROLE = {
    'controller': _KUBERNETES_MODULES,
    'storage': _KUBERNETES_MODULES,
    'baremetal': _KUBERNETES_MODULES,
    'network': _KUBERNETES_MODULES + _NEUTRON_MODULES,
    'compute': _KUBERNETES_MODULES + _NEUTRON_MODULES + _HYPERVISOR_MODULES,
}

# The module that drives hardware virtualization, chosen from the CPU flag that shows it.
KVM_VENDOR_MODULES = {'vmx': 'kvm_intel', 'svm': 'kvm_amd'}

_KUBERNETES_SYSCTLS = {
    'net.ipv4.ip_forward': '1',
    'net.bridge.bridge-nf-call-iptables': '1',
    'net.bridge.bridge-nf-call-ip6tables': '1',
    # Every pod watching its ConfigMaps/Secrets takes inotify instances; the kernel default (128) runs out.
    'fs.inotify.max_user_instances': '8192',
    'fs.inotify.max_user_watches': '524288',
}
_NEUTRON_SYSCTLS = {
    'net.netfilter.nf_conntrack_max': '1048576',
    # Many instances on one L2 segment overflow the default neighbour tables (ARP "table overflow").
    'net.ipv4.neigh.default.gc_thresh1': '4096',
    'net.ipv4.neigh.default.gc_thresh2': '8192',
    'net.ipv4.neigh.default.gc_thresh3': '16384',
}
_NETWORK_SYSCTLS = {
    # Router and DHCP namespaces answer for addresses that strict reverse-path filtering drops.
    'net.ipv4.conf.all.rp_filter': '0',
    'net.ipv4.conf.default.rp_filter': '0',
}


def _merged(*dicts):
    result = {}
    for item in dicts:
        result.update(item)
    return result


SYSCTLS_BY_ROLE = {
    'controller': _KUBERNETES_SYSCTLS,
    'storage': _KUBERNETES_SYSCTLS,
    'baremetal': _KUBERNETES_SYSCTLS,
    'network': _merged(_KUBERNETES_SYSCTLS, _NEUTRON_SYSCTLS, _NETWORK_SYSCTLS),
    'compute': _merged(_KUBERNETES_SYSCTLS, _NEUTRON_SYSCTLS),
}

# The module whose loading creates a /proc/sys subtree: used for ordering hints in messages.
SYSCTL_PROVIDERS = (
    ('net.bridge.', 'br_netfilter'),
    ('net.netfilter.nf_conntrack_', 'nf_conntrack'),
    ('net.ipv4.vs.', 'ip_vs'),
)

# A /proc/sys entry that exists only while the module is active: on a kernel without loadable
# module support (no modules.builtin to read, built-ins without parameters absent from
# /sys/module) it shows that the module is built in.
BUILTIN_EVIDENCE = {
    'br_netfilter': 'net/bridge/bridge-nf-call-iptables',
    'nf_conntrack': 'net/netfilter/nf_conntrack_max',
    'ip_vs': 'net/ipv4/vs',
}

MODULES_LOAD_FILE = '/etc/modules-load.d/openstack-k8s.conf'
SYSCTL_FILE = '/etc/sysctl.d/90-openstack-k8s.conf'
FILE_HEADER = '# Managed by openstack_k8s.deploy (node_prep); local changes are overwritten.\n'


def modules_for(roles):
    """The default modules of ``roles``, in a stable order, without duplicates."""
    result = []
    for role in roles:
        for name in MODULES_BY_ROLE[role]:
            if name not in result:
                result.append(name)
    return result


def sysctls_for(roles):
    result = {}
    for role in roles:
        result.update(SYSCTLS_BY_ROLE[role])
    return result


def provider_of(key):
    for prefix, module_name in SYSCTL_PROVIDERS:
        if key.startswith(prefix):
            return module_name
    return None
