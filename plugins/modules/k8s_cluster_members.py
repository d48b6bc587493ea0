#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_cluster_members
short_description: Take RabbitMQ or etcd members out of their cluster before their StatefulSet shrinks
version_added: 0.1.0
description:
  - A StatefulSet removes pods, not cluster members. This module makes the members whose pod ordinal is
    O(replicas) or higher leave the cluster, the highest ordinal first, one at a time, each checked before the
    next, so the cluster keeps its quorum at every step. C(scale.yml) runs it before the StatefulSet shrinks.
  - B(RabbitMQ) - through C(rabbitmqctl) and C(rabbitmq-queues) in the pods (the pod exec API) - the leaving
    node's quorum queue replicas move off it (C(rabbitmq-queues shrink)) while it still runs, its application
    stops (C(rabbitmqctl stop_app)), and a member that stays forgets it (C(rabbitmqctl forget_cluster_node));
    the node must then be gone from C(cluster_status).
  - B(etcd) - C(etcdctl member remove) through a member that stays; the member must then be gone from
    C(etcdctl member list). etcd itself refuses a removal that would cost the quorum; the removed member stops.
  - Every member that stays must be Ready first; otherwise nothing is changed and the message names the pods.
  - With O(volumes=delete), the PersistentVolumeClaims of the StatefulSet's claim templates for the ordinals
    O(replicas) and higher are then deleted, once the StatefulSet asks for no more than O(replicas) pods and
    those pods are gone (waited for, up to O(timeout)). A departed member must not find its old data on a later
    scale-up, a forgotten RabbitMQ node and a removed etcd member both refuse to start from it.
  - A second run finds nothing to do and reports no change.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
requirements:
  - C(kubernetes) Python library.
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
options:
  service:
    description:
      - Which cluster. Its StatefulSet is C(<service>-server) unless O(statefulset) is given.
    type: str
    required: true
    choices: [rabbitmq, etcd]
  replicas:
    description:
      - The member count that stays - pods C(<statefulset>-0) to C(<statefulset>-<replicas - 1>). Members of
        higher ordinals leave.
    type: int
    required: true
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
  volumes:
    description:
      - V(keep) leaves the departed members' claims alone (the step before the StatefulSet shrinks).
      - V(delete) deletes them once their pods are gone (the step after).
    type: str
    choices: [keep, delete]
    default: keep
  exec_timeout:
    description:
      - Seconds one command in a pod may take.
    type: int
    default: 120
  timeout:
    description:
      - With O(volumes=delete), seconds to wait for the departed pods to be gone.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details: >-
      Reads the cluster through the same commands (C(cluster_status), C(eval 'node().'), C(member list)) and
      reports which members would leave and which claims would be deleted; changes nothing.
  diff_mode:
    support: full
    details: The members (and with O(volumes=delete) the claims) before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: RabbitMQ from 5 to 3 members - rabbitmq-server-4, then -3, leave
  openstack_k8s.deploy.k8s_cluster_members:
    service: rabbitmq
    replicas: 3
    namespace: openstack

- name: After the StatefulSet shrank, delete the departed members' volumes
  openstack_k8s.deploy.k8s_cluster_members:
    service: rabbitmq
    replicas: 3
    namespace: openstack
    volumes: delete

- name: The in-cluster etcd from 5 to 3 members
  openstack_k8s.deploy.k8s_cluster_members:
    service: etcd
    replicas: 3
'''

RETURN = r'''
left:
  description: The members that left (or would leave in check mode), in order - RabbitMQ node names, etcd member names.
  returned: always
  type: list
  elements: str
  sample: [rabbit@rabbitmq-server-4.rabbitmq-nodes.openstack.svc.cluster.local]
members:
  description: The members before the change, as the cluster listed them, with the pod of each and whether it stays.
  returned: always
  type: list
  elements: dict
  sample: [{member: etcd-server-2, id: 8e9e05c52164694d, pod: etcd-server-2, learner: false, started: true, stays: false}]
deleted_claims:
  description: With O(volumes=delete), the claims deleted (or that would be deleted in check mode).
  returned: always
  type: list
  elements: str
  sample: [data-rabbitmq-server-4, data-rabbitmq-server-3]
steps:
  description: What was done, one line per command that changed something.
  returned: always
  type: list
  elements: str
requests:
  description: Kubernetes API requests made, by verb, and the pod execs.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.cluster_members import (
    Members, MembersError, delete_departed_claims, exec_runner)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)


def argument_spec():
    spec = dict(
        service=dict(type='str', required=True, choices=['rabbitmq', 'etcd']),
        replicas=dict(type='int', required=True),
        namespace=dict(type='str', default='openstack'),
        statefulset=dict(type='str'),
        container=dict(type='str', default='server'),
        volumes=dict(type='str', default='keep', choices=['keep', 'delete']),
        exec_timeout=dict(type='int', default=120),
        timeout=dict(type='int', default=300),
    )
    spec.update(K8S_CONNECTION_SPEC)
    return spec


def validate(params):
    if params['replicas'] < 1:
        return 'replicas must be 1 or more (the members that stay), got %d' % params['replicas']
    if params['exec_timeout'] < 1 or params['timeout'] < 1:
        return ('exec_timeout and timeout must be 1 or more seconds, got %d and %d'
                % (params['exec_timeout'], params['timeout']))
    if not params['namespace'].strip():
        return 'namespace must name the deployment namespace, for example openstack'
    return None


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    params = module.params
    problem = validate(params)
    if problem:
        module.fail_json(msg=problem)
    members = None
    try:
        client = K8sClient(params)
        members = Members(client, exec_runner(params, client), params['service'], params['namespace'],
                          statefulset=params['statefulset'], container=params['container'])
        result = members.leave(params['replicas'], check_mode=module.check_mode)
        deleted = []
        if params['volumes'] == 'delete':
            claims = delete_departed_claims(members, params['replicas'], timeout=params['timeout'],
                                            check_mode=module.check_mode)
            deleted = claims['deleted']
    except MembersError as exc:
        module.fail_json(msg=exc.message, steps=members.steps if members else [], **exc.details)
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason,
                         steps=members.steps if members else [])
    result.pop('asked', None)
    result.update(changed=bool(result['left'] or deleted), deleted_claims=deleted, steps=members.steps,
                  requests=dict(client.requests, exec=members.execs))
    if module._diff and result['changed']:
        before = [m['member'] or m.get('id') for m in result['members']]
        result['diff'] = {'before': {'members': before, 'claims': sorted(deleted)},
                          'after': {'members': [m for m in before if m not in result['left']], 'claims': []}}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
