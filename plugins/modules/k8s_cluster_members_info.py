#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_cluster_members_info
short_description: List the members of the RabbitMQ or etcd cluster, with the pod of each
version_added: 0.1.0
description:
  - Asks a Ready member, through the pod exec API, which members its cluster has - RabbitMQ with
    C(rabbitmqctl cluster_status) and C(rabbitmqctl eval 'node().') in each pod that stays, etcd with
    C(etcdctl member list) - and names the pod of each member.
  - With O(replicas), marks the members that M(openstack_k8s.deploy.k8s_cluster_members) would take out for that
    count (RV(leaving)) and lists the departed members' claims.
  - Changes nothing.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
requirements:
  - C(kubernetes) Python library.
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Reads only; there is nothing to diff.
    support: none
  platform:
    platforms: posix
options:
  service:
    description:
      - Which cluster. Its StatefulSet is C(<service>-server) unless O(statefulset) is given.
    type: str
    required: true
    choices: [rabbitmq, etcd]
  replicas:
    description:
      - A member count to compare with; default the StatefulSet's own count.
    type: int
  namespace:
    description:
      - Namespace of the deployment.
    type: str
    default: openstack
  statefulset:
    description:
      - The StatefulSet of the cluster; default C(<service>-server).
    type: str
  container:
    description:
      - The container the commands run in.
    type: str
    default: server
  exec_timeout:
    description:
      - Seconds one command in a pod may take.
    type: int
    default: 60
'''

EXAMPLES = r'''
- name: Which RabbitMQ nodes does the cluster still count
  openstack_k8s.deploy.k8s_cluster_members_info:
    service: rabbitmq
  register: mq

- name: What a scale of the in-cluster etcd to 3 would remove
  openstack_k8s.deploy.k8s_cluster_members_info:
    service: etcd
    replicas: 3
'''

RETURN = r'''
members:
  description:
    - Every member the cluster lists, with its pod (none when no pod of the StatefulSet holds it), whether it
      stays at O(replicas), and for RabbitMQ whether it runs, for etcd its hex id, whether it is a learner and
      whether it has started.
  returned: always
  type: list
  elements: dict
  sample: [{member: rabbit@rabbitmq-server-0.rabbitmq-nodes.openstack.svc.cluster.local, pod: rabbitmq-server-0,
            running: true, stays: true}]
leaving:
  description: The members above O(replicas), the highest ordinal first.
  returned: always
  type: list
  elements: str
departed_claims:
  description: The claims of the StatefulSet's ordinals at or above O(replicas).
  returned: always
  type: list
  elements: str
asked:
  description: The pod whose member was asked.
  returned: always
  type: str
  sample: rabbitmq-server-0
replicas:
  description: The count compared with.
  returned: always
  type: int
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.cluster_members import (
    Members, MembersError, departed_claims, exec_runner)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)


def main():
    spec = dict(
        service=dict(type='str', required=True, choices=['rabbitmq', 'etcd']),
        replicas=dict(type='int'),
        namespace=dict(type='str', default='openstack'),
        statefulset=dict(type='str'),
        container=dict(type='str', default='server'),
        exec_timeout=dict(type='int', default=60),
    )
    spec.update(K8S_CONNECTION_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    params = module.params
    if params['replicas'] is not None and params['replicas'] < 1:
        module.fail_json(msg='replicas must be 1 or more, got %d' % params['replicas'])
    if params['exec_timeout'] < 1:
        module.fail_json(msg='exec_timeout must be 1 or more seconds, got %d' % params['exec_timeout'])
    try:
        client = K8sClient(params)
        members = Members(client, exec_runner(params, client), params['service'], params['namespace'],
                          statefulset=params['statefulset'], container=params['container'])
        result = members.read(params['replicas'])
        result['departed_claims'] = departed_claims(client, params['namespace'], members.workload(),
                                                    result['replicas'])
    except MembersError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason)
    module.exit_json(changed=False, requests=dict(client.requests, exec=members.execs), **result)


if __name__ == '__main__':
    main()
