#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_openstack_data
short_description: Delete the data volumes (PersistentVolumeClaims) of removed OpenStack services
version_added: 0.1.0
description:
  - Deletes the PersistentVolumeClaims the collection's workloads created (the MariaDB Galera and RabbitMQ
    data, for example), found by the labels C(app.kubernetes.io/managed-by=openstack_k8s.deploy) and
    C(app.kubernetes.io/name=<service>). Claims of anything else are never touched.
  - A rollout never deletes a claim, not even with O(state=absent) of
    M(openstack_k8s.deploy.k8s_openstack_service); this module is the one deliberate path that does, used by
    C(destroy.yml) when the operator confirms data deletion.
  - Refuses, before any delete, while a StatefulSet, Deployment, DaemonSet, Job or CronJob of the same
    services still exists, naming them; remove the services first.
  - Whether the volumes behind the claims are deleted too follows their StorageClass reclaim policy
    (C(Delete) or C(Retain)), as with any claim.
  - A second run finds nothing to delete and reports no change.
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
  services:
    description:
      - Catalog names of the services whose claims are deleted, for example V(mariadb) and V(rabbitmq).
      - Empty means every claim the collection labelled in O(namespace).
    type: list
    elements: str
    default: []
  state:
    description:
      - Only V(absent), which deletes the claims. Claims are created by the workloads, never by this module.
    type: str
    choices: [absent]
    default: absent
attributes:
  check_mode:
    support: full
    details: >-
      Lists what would be deleted and deletes nothing. Workloads that still exist are a warning rather than a
      refusal, since in a check-mode run of C(destroy.yml) the tasks before would have removed them.
  diff_mode:
    support: full
    details: The claim names before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Delete the database and queue data of the removed deployment
  openstack_k8s.deploy.k8s_openstack_data:
    namespace: openstack
    services: [mariadb, rabbitmq]
    kubeconfig: ~/.kube/config

- name: Delete every claim the collection created in the namespace
  openstack_k8s.deploy.k8s_openstack_data:
    namespace: openstack
'''

RETURN = r'''
removed:
  description: Names of the claims deleted (or that would be deleted in check mode).
  returned: always
  type: list
  elements: str
  sample: [data-mariadb-server-0, data-mariadb-server-1, data-mariadb-server-2]
requests:
  description: Kubernetes API requests made, by verb.
  returned: always
  type: dict
  sample: {list: 6, delete: 3}
'''

import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.data import DataError, remove_claims

# A label value, which is what a service name is matched against.
_LABEL_VALUE = re.compile(r'^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$')


def argument_spec():
    spec = dict(
        namespace=dict(type='str', required=True),
        services=dict(type='list', elements='str', default=[]),
        state=dict(type='str', default='absent', choices=['absent']),
    )
    spec.update(K8S_CONNECTION_SPEC)
    return spec


def validate(params):
    bad = [name for name in params['services'] if not _LABEL_VALUE.match(name or '')]
    if bad:
        return ('services: %s are not catalog service names (lower-case letters, digits and -), '
                'for example mariadb' % ', '.join(repr(name) for name in bad))
    if not params['namespace'].strip():
        return 'namespace must name the deployment namespace, for example openstack'
    return None


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    problem = validate(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        client = K8sClient(module.params)
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason)
    try:
        result = remove_claims(client, module.params['namespace'], sorted(set(module.params['services'])),
                               check_mode=module.check_mode)
    except DataError as exc:
        module.fail_json(msg=str(exc), requests=client.requests)
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason,
                         requests=client.requests)
    for warning in result.pop('warnings'):
        module.warn(warning)
    before = result.pop('before')
    if module._diff:
        result['diff'] = {'before': {'claims': before},
                          'after': {'claims': [name for name in before if name not in result['removed']]}}
    result['requests'] = client.requests
    module.exit_json(**result)


if __name__ == '__main__':
    main()
