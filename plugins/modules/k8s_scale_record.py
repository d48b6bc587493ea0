#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_scale_record
short_description: Record (or read) the replica counts set by scale.yml in a ConfigMap
version_added: 0.1.0
description:
  - "Keeps the replica counts chosen with C(playbooks/scale.yml) in the ConfigMap O(name) of O(namespace),
    one entry per component, C(<service>.<component>: '<replicas>'), so that the next C(site.yml) run
    rolls out the recorded count instead of reverting the scale."
  - The effective replicas of a component are, from weakest to strongest, the catalog default, the
    recorded scale, and the inventory (C(openstack_replicas), C(galera_replicas)).
  - With O(service), O(component) and O(replicas) the entry is set (O(state=present)) or removed
    (O(state=absent)); without O(service) the module only reads the record and returns it as RV(records).
  - One read; at most one write. A new record is created with its labels; an existing one gets a JSON merge
    patch of the one entry carrying the C(resourceVersion) it was planned from, so a concurrent change fails
    with a conflict instead of being lost. Setting the value already recorded makes no request but the read.
  - A missing ConfigMap (or namespace) reads as an empty record.
  - A malformed entry in the ConfigMap fails, naming the entry and the fix.
  - This module does not check the count against the catalog (odd counts of quorum services, DaemonSets);
    the C(scale) role does that before calling it.
author:
  - openstack_k8s.deploy developers (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
options:
  namespace:
    description:
      - Namespace of the deployment.
    type: str
    required: true
  name:
    description:
      - Name of the ConfigMap holding the record.
    type: str
    default: openstack-scale
  service:
    description:
      - Catalog name of the service whose entry is set or removed. Omit it to only read the record.
    type: str
  component:
    description:
      - Component of O(service). Required with O(service).
    type: str
  replicas:
    description:
      - The replica count to record. Required with O(service) and O(state=present).
    type: int
  state:
    description:
      - V(present) records O(replicas); V(absent) removes the entry, so the inventory or the catalog
        default applies again at the next C(site.yml) run.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    details: Reads the record and reports the change it would make; writes nothing.
  diff_mode:
    support: full
    details: Shows the entries of the record before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Record three keystone API replicas
  openstack_k8s.deploy.k8s_scale_record:
    namespace: openstack
    service: keystone
    component: api
    replicas: 3
    kubeconfig: ~/.kube/config

- name: Read every recorded scale
  openstack_k8s.deploy.k8s_scale_record:
    namespace: openstack
  register: scale_record

- name: Forget the recorded scale of nova api (the catalog default or the inventory applies again)
  openstack_k8s.deploy.k8s_scale_record:
    namespace: openstack
    service: nova
    component: api
    state: absent
'''

RETURN = r'''
records:
  description: "The record after the change (predicted in check mode), C({service: {component: replicas}})."
  returned: always
  type: dict
  sample: {keystone: {api: 3}, mariadb: {server: 5}}
name:
  description: Name of the ConfigMap.
  returned: always
  type: str
  sample: openstack-scale
namespace:
  description: Its namespace.
  returned: always
  type: str
  sample: openstack
requests:
  description: The Kubernetes API requests made, by verb.
  returned: always
  type: dict
  sample: {discovery: 2, get: 1, patch: 1}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.scale import (
    DEFAULT_NAME, ScaleRecordError, ensure_record, validate)


def argument_spec():
    spec = dict(
        namespace=dict(type='str', required=True),
        name=dict(type='str', default=DEFAULT_NAME),
        service=dict(type='str'),
        component=dict(type='str'),
        replicas=dict(type='int'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    spec.update(K8S_CONNECTION_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    client = None
    try:
        validate(module.params)
        client = K8sClient(module.params)
        result = ensure_record(client, module.params, check_mode=module.check_mode)
    except ScaleRecordError as exc:
        module.fail_json(msg=str(exc), requests=client.requests if client else {})
    except K8sError as exc:
        hint = ''
        if exc.status == 409:
            hint = '; the record changed while this run planned its change (another scale?): re-run'
        module.fail_json(msg='Kubernetes API: %s%s' % (exc.message, hint), status=exc.status, reason=exc.reason,
                         requests=client.requests if client else {})
    diff = result.pop('diff')
    if module._diff and result['changed']:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
