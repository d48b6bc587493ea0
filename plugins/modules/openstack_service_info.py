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
  - Reads only; never changes anything.
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
  cluster_domain:
    description:
      - DNS domain of the cluster, used to build the endpoint host names.
    type: str
    default: cluster.local
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
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
  sample:
    keystone:
      ready: true
      replicas_ready: 3
      replicas_desired: 3
      images: [quay.io/openstack.kolla/keystone:2026.2-ubuntu-noble]
      endpoints: [{service: keystone-api, port: 5000, host: keystone-api.openstack.svc.cluster.local}]
requests:
  description: API requests made, by verb.
  returned: always
  type: dict
'''

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import info


def main():
    spec = copy.deepcopy(K8S_CONNECTION_SPEC)
    spec.update(namespace=dict(type='str', default='openstack'),
                services=dict(type='list', elements='str', default=[]),
                cluster_domain=dict(type='str', default='cluster.local'))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        client = K8sClient(module.params)
        objects = info.collect(client, module.params['namespace'])
    except K8sError as exc:
        module.fail_json(msg='cannot read the deployment: %s' % exc.message, status=exc.status)
    services = info.summarize(objects, module.params['namespace'], module.params['cluster_domain'],
                              only=module.params['services'] or None)
    module.exit_json(changed=False, services=services, requests=client.requests)


if __name__ == '__main__':
    main()
