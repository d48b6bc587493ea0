#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_openstack_service
short_description: Roll out OpenStack services on Kubernetes from their catalog entries
version_added: 0.1.0
description:
  - Renders every object an OpenStack (or infrastructure) service needs from its service
    catalog entry and its configuration subtree in etcd, and applies them with server-side
    apply under the field manager C(openstack-k8s-deploy).
  - The service's INI files are rendered with C($VAR) references substituted from the general
    keys in etcd and from the credentials Secret, into a Secret; pod templates carry the
    checksum of that config, so a config change rolls the pods by itself.
  - Objects are applied phase by phase (config, database and Keystone registration Jobs,
    workloads, Services, PodDisruptionBudgets, NetworkPolicies, RBAC), waiting between phases
    with watches. Objects the service owned before but no longer renders are deleted
    (found by the labels C(app.kubernetes.io/managed-by=openstack_k8s.deploy) and
    C(app.kubernetes.io/name=<service>)); PersistentVolumeClaims are never deleted.
  - An object is only sent when it would change; a second run over an unchanged deployment
    makes no write request.
  - Several services given together are scheduled by their dependencies - the C(depends_on) and
    C(after) lists of their catalog entries, counting only the services given (an edge to a service
    not given is ignored). Each service starts, on its own thread, as soon as every service it
    waits for is ready; services that do not wait for each other roll out concurrently. Within a
    service the phases keep their order. So one call can roll out a whole deployment, with no
    barrier between waves. A dependency cycle among the services given fails before any write.
  - When a service fails (for example never becomes ready), nothing new starts - neither the
    services that depend on it nor independent ones that had not started yet; services already
    running finish their rollout. The result names the failed service, the object, the condition
    and its last status, and lists the services not started (RV(not_started)).
  - O(etcd) is needed with O(state=present) only, since it holds the configuration the services are rendered from.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
options:
  services:
    description:
      - The catalog entries of the services to roll out, as the C(openstack_k8s.deploy.catalog)
        role sets them in C(openstack_catalog). Each needs at least C(name) and C(components).
      - They are started in dependency order (C(depends_on) and C(after) among the services given),
        each as soon as the services it waits for are ready; with O(state=absent) all are removed concurrently.
    type: list
    elements: dict
    required: true
  namespace:
    description:
      - Namespace of the deployment.
    type: str
    default: openstack
  state:
    description:
      - V(present) renders, applies, waits and prunes.
      - V(absent) deletes every object labelled as the service's (PersistentVolumeClaims excepted).
    type: str
    choices: [present, absent]
    default: present
  variables:
    description:
      - Deployment variables the renderer uses besides the config tree, for example
        C(release), C(image) settings, C(node_roles), C(public_domain).
    type: dict
    default: {}
  replicas:
    description:
      - "Replica overrides, C({service: {component: count}}); components not named keep the
        catalog's count."
    type: dict
    default: {}
  credentials_secret:
    description:
      - Name of the credentials Secret (made by the C(credentials) role) in O(namespace).
      - Needed with O(state=present) only.
    type: str
    default: openstack-credentials
  render_dir:
    description:
      - Do not touch any cluster or etcd; write the manifests to this directory instead, one
        folder per service, one file per object named C(<NN>-<phase>-<kind>-<name>.yaml) in apply order.
      - Credentials stay C($NAME) placeholders and the config Secrets say so in an annotation;
        such manifests are for review and GitOps pipelines that fill in secrets, not to apply as they are.
      - The configuration comes from O(config_tree) instead of etcd.
    type: path
  config_tree:
    description:
      - The configuration tree as the C(openstack_k8s.deploy.config_tree) filter builds it (what the
        config role writes to etcd).
      - Used instead of etcd with O(render_dir), and in check mode, where etcd still holds the tree
        the config role only predicted to change. Otherwise etcd is the source of truth and this is ignored.
    type: dict
  force_conflicts:
    description:
      - When another field manager owns a field this module sets, take the field over instead
        of failing. The failure message names the fields and the other manager.
    type: bool
    default: false
extends_documentation_fragment:
  - openstack_k8s.deploy.etcd_tree
  - openstack_k8s.deploy.k8s_connection
  - openstack_k8s.deploy.wait
attributes:
  check_mode:
    description: Objects are sent with C(dryRun=All); nothing is persisted and nothing is waited for.
    support: full
  diff_mode:
    description: The fields the module sends, before and after; Secret data is masked.
    support: full
notes:
  - Jobs are named after a checksum of their spec (C(keystone-db-sync-1a2b3c4d)); a changed
    Job is a new Job, and the old one is pruned once the rollout succeeded.
requirements:
  - kubernetes
  - etcd-sdk-python
'''

EXAMPLES = r'''
- name: Roll out Keystone
  openstack_k8s.deploy.k8s_openstack_service:
    services:
      - "{{ openstack_catalog.keystone }}"
    namespace: openstack
    etcd:
      endpoints: ["http://etcd.openstack.svc:2379"]
      prefix: /openstack
    replicas:
      keystone: {api: 3}
    kubeconfig: ~/.kube/config

- name: Roll out independent services concurrently
  openstack_k8s.deploy.k8s_openstack_service:
    services: "{{ ['glance', 'placement'] | map('extract', openstack_catalog) | list }}"
    etcd: "{{ openstack_etcd }}"
    wait_timeout: 900

- name: Roll out every OpenStack service, each as soon as its dependencies are ready
  openstack_k8s.deploy.k8s_openstack_service:
    services: "{{ openstack_service_waves | flatten | map('extract', openstack_catalog)
                  | selectattr('kind', 'eq', 'openstack') | list }}"
    etcd: "{{ openstack_etcd }}"

- name: Remove Heat
  openstack_k8s.deploy.k8s_openstack_service:
    services:
      - "{{ openstack_catalog.heat }}"
    state: absent
'''

RETURN = r'''
services:
  description: One result per service, keyed by service name.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether an object of the service was created, updated, re-created or pruned.
      type: bool
    checksum:
      description: Checksum of the service's rendered config (the Secrets and ConfigMaps its pods read).
      type: str
    objects:
      description: Every rendered object with the action taken (create, update, recreate, noop) and why.
      type: list
      elements: dict
    pruned:
      description: Objects deleted because the service no longer renders them.
      type: list
      elements: dict
    waited:
      description: The objects waited for, the condition and their final status.
      type: list
      elements: dict
    progress:
      description: Time-stamped lines of what was applied and waited for.
      type: list
      elements: str
  sample:
    keystone:
      changed: true
      checksum: 3f0c...
      objects:
        - {kind: Deployment, name: keystone-api, namespace: openstack, action: update, reason: differs at spec.template}
requests:
  description: API requests made, by verb (get, list, watch, apply, delete, discovery...).
  returned: always
  type: dict
  sample: {get: 14, list: 15, apply: 0}
write_requests:
  description: Number of write requests (apply, create, update, patch, delete) sent.
  returned: always
  type: int
etcd_requests:
  description: etcd requests made, by RPC.
  returned: always
  type: dict
elapsed:
  description: Seconds the rollout took.
  returned: always
  type: float
schedule:
  description:
    - One entry per service, in start order - C(name), C(waits_for) (the services it waited for),
      C(state) (V(ready), V(failed), V(waiting) when never started), C(start) and C(end) in seconds since the rollout began.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: keystone, waits_for: [], state: ready, start: 0.0, end: 3.1}
    - {name: glance, waits_for: [keystone], state: ready, start: 3.1, end: 5.4}
schedule_progress:
  description: Time-stamped lines of which service started when, and which became ready or failed.
  returned: always
  type: list
  elements: str
not_started:
  description:
    - The services not started because a service failed; empty when none failed. The message
      says for each whether it needs the failed service or was held back.
  returned: always
  type: list
  elements: str
wait:
  description: On a wait that timed out or failed, the object, the condition and its last status.
  returned: failure
  type: dict
conflicts:
  description: On a server-side apply conflict, the fields and the field managers owning them.
  returned: failure
  type: list
  elements: dict
failed_services:
  description: The error of each service that failed.
  returned: failure
  type: dict
'''

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import ETCD_TREE_SPEC
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner


def argument_spec():
    spec = copy.deepcopy(K8S_CONNECTION_SPEC)
    spec.update(
        services=dict(type='list', elements='dict', required=True),
        namespace=dict(type='str', default='openstack'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        variables=dict(type='dict', default={}),
        replicas=dict(type='dict', default={}),
        credentials_secret=dict(type='str', default='openstack-credentials', no_log=False),
        etcd=dict(type='dict', options=ETCD_TREE_SPEC),
        force_conflicts=dict(type='bool', default=False),
        render_dir=dict(type='path'),
        config_tree=dict(type='dict'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=600),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_by={'render_dir': ('config_tree',)})
    if module.params['render_dir']:
        try:
            module.exit_json(**runner.render_to_directory(module.params, check_mode=module.check_mode))
        except runner.RolloutError as exc:
            module.fail_json(msg=exc.message)
    if module.params['state'] == 'present' and not module.params['etcd']:
        module.fail_json(msg='etcd is required with state=present: give the endpoints and prefix of the config tree')
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        result = runner.run(module.params, check_mode=module.check_mode)
    except (runner.RolloutError, K8sError) as exc:
        module.fail_json(msg=exc.message, **getattr(exc, 'details', {}))
    diff = result.pop('diff', None)
    for service in result['services'].values():
        service_diff = service.pop('diff', None)
        if module._diff and service['changed']:
            diff = diff or dict(before={}, after={})
            diff['before'][service['name']] = service_diff['before']
            diff['after'][service['name']] = service_diff['after']
    if diff:
        result['diff'] = diff
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
