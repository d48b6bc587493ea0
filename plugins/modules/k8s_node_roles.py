#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_node_roles
short_description: Label and taint Kubernetes nodes by the node roles of their inventory hosts
version_added: 0.1.0
description:
  - Gives each Kubernetes Node the label of every node role its inventory host has, and the taint of
    the roles that have one (dedicated network and hypervisor nodes carry C(NoSchedule) taints), as the
    node roles definition says (the collection's C(roles/catalog/files/node_roles.yml) by default).
  - Removes a managed label or taint from a Node whose host left the role's group. Managed means the
    label keys and the taint key/effect pairs the definition names; every other label and taint of a
    Node is left as it is.
  - Reads all Nodes with one list request, plans every change, and fails before any change when the
    definition or the inventory is wrong or a host has no Node.
  - Each changed Node gets one JSON merge patch carrying the C(resourceVersion) it was planned from; if
    the Node changed in between (409 Conflict) it is read again and planned again. Server-side apply is
    not used; see the collection's C(docs/host-prep.md) for why.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
options:
  node_roles:
    description:
      - The node roles definition, a mapping of role name to C(group) (the inventory group),
        C(label) (C(key), C(value)) and C(taint) (null, or C(key), C(value), C(effect)).
    type: dict
    required: true
  inventory_groups:
    description:
      - The inventory groups, as the C(groups) magic variable has them. Only the groups named in
        O(node_roles) are read.
    type: dict
    required: true
  node_names:
    description:
      - Kubernetes node name by inventory host name, for hosts whose node is not named like the host
        (the C(k8s_node_name) host variable in the roles of this collection).
    type: dict
    default: {}
  prune:
    description:
      - Also remove managed labels and taints from Nodes that belong to no host of a role group.
    type: bool
    default: true
attributes:
  check_mode:
    description: Plans the same changes as a real run and reports them without making them.
    support: full
  diff_mode:
    description: Shows the changes as before/after text.
    support: full
requirements:
  - kubernetes >= 33
'''

EXAMPLES = r'''
- name: Label and taint the nodes of the compute and network hosts
  openstack_k8s.deploy.k8s_node_roles:
    node_roles: "{{ lookup('ansible.builtin.file', 'node_roles.yml') | ansible.builtin.from_yaml }}"
    inventory_groups: "{{ groups }}"
    node_names:
      compute-01.example.org: compute-01
    kubeconfig: ~/.kube/config
'''

RETURN = r'''
nodes:
  description:
    - The Nodes of role hosts, and the Nodes this run changed, by node name.
    - Each has C(hosts), C(roles), C(changed) and, when changed, C(labels_set), C(labels_removed),
      C(taints_added), C(taints_removed) (taints as C(key=value:Effect)).
  returned: always
  type: dict
  sample: {compute-01: {hosts: [compute-01.example.org], roles: [compute], changed: true,
           labels_set: {openstack-k8s.io/compute: enabled}, labels_removed: [],
           taints_added: ["openstack-k8s.io/compute=true:NoSchedule"], taints_removed: []}}
requests:
  description: The Kubernetes API requests made, by verb.
  returned: always
  type: dict
  sample: {discovery: 2, list: 1, patch: 1}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_roles import NodeRolesError, reconcile, validate_request


def argument_spec():
    spec = dict(
        node_roles=dict(type='dict', required=True),
        inventory_groups=dict(type='dict', required=True),
        node_names=dict(type='dict', default={}),
        prune=dict(type='bool', default=True),
    )
    spec.update(K8S_CONNECTION_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    errors = validate_request(module.params['node_roles'], module.params['inventory_groups'], module.params['node_names'])
    if errors:
        module.fail_json(msg='; '.join(errors))
    client = None
    try:
        client = K8sClient(module.params)
        changed, nodes, diff = reconcile(client, module.params['node_roles'], module.params['inventory_groups'],
                                         module.params['node_names'], module.params['prune'], module.check_mode,
                                         lambda exc: isinstance(exc, K8sError) and exc.status == 409)
    except NodeRolesError as exc:
        module.fail_json(msg=exc.message, requests=client.requests if client else {})
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason,
                         requests=client.requests if client else {})
    result = dict(changed=changed, nodes=nodes, requests=client.requests)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
