#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: openstack_service_info
short_description: Report the OpenStack services deployed on Kubernetes
version_added: 0.1.0
description:
  - Lists every object labelled C(app.kubernetes.io/managed-by=openstack_k8s.deploy) in the
    namespace and reports, per service, its objects, its workloads with ready/desired replicas
    and images, its Service endpoints, its Jobs and the checksum of the config its pods run.
  - With O(pods=true), also reports every pod of the deployment that is Pending, not Ready,
    crash-looping or failed, with its last Events.
  - With O(rabbitmq=true), also asks one Ready RabbitMQ pod for the cluster state
    (C(rabbitmqctl cluster_status --formatter json) through the pod exec API). Where the command
    cannot run, the state is C(unknown) with the reason, never C(healthy).
  - Reads only; never changes anything (a pod exec runs a read-only command).
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
options:
  namespace:
    description:
      - Namespace of the deployment.
    type: str
    default: openstack
  services:
    description:
      - Report only these services. A named service with no object is reported with C(missing=true).
      - By default every service found is reported.
    type: list
    elements: str
    default: []
  expected_services:
    description:
      - Services that should exist. One without objects is reported with C(missing=true); services
        found but not listed are still reported (unlike O(services)).
    type: list
    elements: str
    default: []
  cluster_domain:
    description:
      - DNS domain of the cluster, used to build the endpoint host names.
    type: str
    default: cluster.local
  pods:
    description:
      - Report the pods that are not Running and Ready (RV(problem_pods)), each with its last Events.
    type: bool
    default: false
  events_per_pod:
    description:
      - How many of the most recent Events to report per problem pod.
    type: int
    default: 3
  rabbitmq:
    description:
      - Report the RabbitMQ cluster state (RV(rabbitmq)) through a pod exec of C(rabbitmqctl).
    type: bool
    default: false
  rabbitmq_service:
    description:
      - Catalog name of the RabbitMQ service.
    type: str
    default: rabbitmq
  rabbitmq_container:
    description:
      - Container of the RabbitMQ pods that has C(rabbitmqctl); by default the pod's only container.
    type: str
  exec_timeout:
    description:
      - Seconds a pod exec may take before the probe gives up (the state is then C(unknown)).
    type: int
    default: 30
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
requirements:
  - kubernetes
'''

EXAMPLES = r'''
- name: Read the state of every service
  openstack_k8s.deploy.openstack_service_info:
    namespace: openstack
  register: deployed

- name: Fail unless Keystone is ready
  ansible.builtin.assert:
    that: deployed.services.keystone.ready
'''

RETURN = r'''
services:
  description: One report per service, keyed by service name.
  returned: always
  type: dict
  contains:
    ready:
      description: Every workload rolled out and no Job failed.
      type: bool
    replicas_ready:
      description: Ready pods summed over the workloads.
      type: int
    replicas_desired:
      description: Desired pods summed over the workloads.
      type: int
    images:
      description: The container images the workloads run.
      type: list
      elements: str
    config_checksum:
      description: The config checksum annotated on the pod templates (a list when workloads disagree).
      type: raw
    workloads:
      description: Each Deployment, StatefulSet and DaemonSet with desired, ready, rolled_out, status, images, config_checksum.
      type: list
      elements: dict
    endpoints:
      description: Each Service port as C(host), C(port) and C(url).
      type: list
      elements: dict
    jobs:
      description: Each Job with complete, failed and status.
      type: list
      elements: dict
    objects:
      description: Kind and name of every object of the service.
      type: list
      elements: dict
    problem_pods:
      description: Names of the service's pods that are not Running and Ready (with O(pods=true)).
      type: list
      elements: str
    missing:
      description: Present and true when a service named in O(services) or O(expected_services) has no object.
      type: bool
  sample:
    keystone:
      ready: true
      replicas_ready: 3
      replicas_desired: 3
      images: [quay.io/openstack.kolla/keystone:2026.2-ubuntu-noble]
      endpoints: [{service: keystone-api, port: 5000, host: keystone-api.openstack.svc.cluster.local}]
problem_pods:
  description:
    - Pods that are Pending, not Ready, crash-looping or failed - C(name), C(service), C(component),
      C(phase), C(reason), C(message), C(restarts), C(node) and C(events) (the last O(events_per_pod),
      oldest first, each C(type), C(reason), C(message), C(count), C(time)). Each service report also
      lists the names of its problem pods in C(problem_pods) and is not C(ready) while it has one.
  returned: when O(pods=true)
  type: list
  elements: dict
rabbitmq:
  description:
    - The RabbitMQ cluster state - C(state) (C(healthy), C(degraded) or C(unknown)), C(healthy)
      (null when unknown), C(reason), C(pod) (the pod asked), C(running_nodes), C(nodes),
      C(partitions), C(alarms), C(versions), C(expected_nodes).
  returned: when O(rabbitmq=true)
  type: dict
requests:
  description: API requests made, by verb.
  returned: always
  type: dict
'''

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError, build_api_client)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import info


def main():
    spec = copy.deepcopy(K8S_CONNECTION_SPEC)
    spec.update(namespace=dict(type='str', default='openstack'),
                services=dict(type='list', elements='str', default=[]),
                expected_services=dict(type='list', elements='str', default=[]),
                cluster_domain=dict(type='str', default='cluster.local'),
                pods=dict(type='bool', default=False),
                events_per_pod=dict(type='int', default=3),
                rabbitmq=dict(type='bool', default=False),
                rabbitmq_service=dict(type='str', default='rabbitmq'),
                rabbitmq_container=dict(type='str'),
                exec_timeout=dict(type='int', default=30))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    params = module.params
    if params['events_per_pod'] < 0 or params['exec_timeout'] < 1:
        module.fail_json(msg='events_per_pod must be 0 or more and exec_timeout 1 or more, got %s and %s'
                         % (params['events_per_pod'], params['exec_timeout']))
    namespace = params['namespace']
    result = dict(changed=False)
    try:
        client = K8sClient(params)
        objects = info.collect(client, namespace)
        services = info.summarize(objects, namespace, params['cluster_domain'], only=params['services'] or None,
                                  expected=params['expected_services'])
        pods = info.collect_pods(client, namespace) if params['pods'] or params['rabbitmq'] else []
        if params['pods']:
            finished = [j['name'] for report in services.values() for j in report['jobs'] if j['complete']]
            problems = info.problem_pods(pods, finished)
            if params['services']:
                problems = [p for p in problems if p['service'] in params['services']]
            for problem in problems:
                problem['events'] = info.last_events(info.collect_events(client, namespace, problem['name']),
                                                     params['events_per_pod'])
            info.attach_pods(services, problems)
            result['problem_pods'] = problems
    except K8sError as exc:
        module.fail_json(msg='cannot read the deployment: %s' % exc.message, status=exc.status)
    if params['rabbitmq']:
        exec_client = []

        def run_exec(pod, command, container):
            client.requests['exec'] = client.requests.get('exec', 0) + 1
            if not exec_client:
                exec_client.append(build_api_client(params))
            return info.pod_exec(exec_client[0], namespace, pod, command, container, timeout=params['exec_timeout'])
        result['rabbitmq'] = info.rabbitmq_status(services, pods, run_exec, service=params['rabbitmq_service'],
                                                  container=params['rabbitmq_container'])
    module.exit_json(services=services, requests=client.requests, **result)


if __name__ == '__main__':
    main()
