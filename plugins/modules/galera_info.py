#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: galera_info
short_description: Read the state of every MariaDB Galera member - grastate, running, wsrep status
version_added: 0.1.0
description:
  - Reads each member through the same start script and transports as
    M(openstack_k8s.deploy.galera_bootstrap) - whether mariadbd runs, whether the start script
    waits for a command, C(grastate.dat) (uuid, seqno, safe_to_bootstrap) and the C(wsrep%) status
    variables of running members.
  - With O(replicas), also reports the plan M(openstack_k8s.deploy.galera_bootstrap) would follow.
  - Changes nothing. With O(recover_positions=true) it runs C(mariadbd --wsrep-recover) on stopped
    members whose C(grastate.dat) says seqno -1, which reads InnoDB (and may run its crash recovery)
    but leaves the cluster position untouched.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
requirements:
  - C(kubernetes) Python library with O(transport=kubernetes).
options:
  replicas:
    description:
      - The intended cluster size; when set, RV(plan) is returned. Must be odd (2n+1).
    type: int
  recover_positions:
    description:
      - Run C(mariadbd --wsrep-recover) where C(grastate.dat) holds no position (seqno -1), when no
        member runs in a Primary Component.
    type: bool
    default: false
  members:
    description:
      - Every member, in ordinal order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Unique member name.
        type: str
        required: true
      defaults_file:
        description:
          - O(transport=host) - the member's my.cnf. Required with that transport.
        type: path
      control_dir:
        description:
          - O(transport=host) - the member's control directory. Required with that transport.
        type: path
      env:
        description:
          - O(transport=host) - extra environment for the start script for this member.
        type: dict
        default: {}
      pod:
        description:
          - O(transport=kubernetes) - the member's pod name (default O(members[].name)).
        type: str
  transport:
    description:
      - How members are reached, see M(openstack_k8s.deploy.galera_bootstrap).
    type: str
    choices: [host, kubernetes]
    default: host
  start_script:
    description:
      - Path of C(galera-start.sh) on the host or inside the container.
    type: path
    default: /usr/local/bin/galera-start.sh
  script_env:
    description:
      - O(transport=host) - environment for the start script for every member.
    type: dict
    default: {}
  namespace:
    description:
      - O(transport=kubernetes) - namespace of the Galera pods. Required with that transport.
    type: str
  container:
    description:
      - O(transport=kubernetes) - container that runs the start script.
    type: str
  kubeconfig:
    description:
      - O(transport=kubernetes) - kubeconfig file.
    type: path
  context:
    description:
      - O(transport=kubernetes) - kubeconfig context.
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the cluster.
    support: full
    details: Read-only module; check mode changes nothing about what it does.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Read the Galera members' state in Kubernetes
  openstack_k8s.deploy.galera_info:
    transport: kubernetes
    namespace: openstack
    replicas: 3
    members: [{name: galera-0}, {name: galera-1}, {name: galera-2}]
  register: galera

- name: Show what a recovery would do
  ansible.builtin.debug:
    var: galera.plan
'''

RETURN = r'''
members:
  description:
    - One entry per member - C(name), C(running), C(waiting), C(cluster_status), C(local_state), C(cluster_size),
      C(cluster_uuid), C(last_committed), C(grastate) (uuid, seqno, safe_to_bootstrap, version) and C(error).
  returned: always
  type: list
  elements: dict
positions:
  description: Each member's position as M(openstack_k8s.deploy.galera_bootstrap) compares them.
  returned: always
  type: list
  elements: dict
recovered:
  description: Positions obtained with C(--wsrep-recover) (O(recover_positions=true)), as C(uuid:seqno).
  returned: always
  type: dict
primary:
  description: Whether any member runs in a Primary Component.
  returned: always
  type: bool
cluster_size:
  description: Size of the Primary Component (0 when there is none).
  returned: always
  type: int
all_synced:
  description: Every member runs, Synced, in a Primary Component.
  returned: always
  type: bool
plan:
  description: What M(openstack_k8s.deploy.galera_bootstrap) would do - C(action), C(bootstrap), C(join), C(leave), C(reason), C(refusal), C(advisories).
  returned: when O(replicas) is set
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.bootstrap import INFO_SPEC, info, validate_connection
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.decision import DecisionInputError, validate
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.transport import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, KUBERNETES_LIBRARY, HostTransport, KubernetesTransport, TransportError)


def main():
    module = AnsibleModule(argument_spec=INFO_SPEC, supports_check_mode=True)
    params = module.params
    names = [m['name'] for m in params['members']]
    try:
        validate(params['replicas'] if params['replicas'] is not None else 1, names)
        validate_connection(params)
    except (DecisionInputError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    if params['transport'] == 'kubernetes':
        if not HAS_KUBERNETES:
            module.fail_json(msg=missing_required_lib(KUBERNETES_LIBRARY), exception=str(KUBERNETES_IMPORT_ERROR))
        try:
            transport = KubernetesTransport(params['members'], params['start_script'], params['namespace'],
                                            container=params['container'], kubeconfig=params['kubeconfig'], context=params['context'])
        except Exception as exc:  # kubeconfig / in-cluster config problems come as several exception types
            module.fail_json(msg='galera transport=kubernetes: cannot set up: %s' % exc)
    else:
        def runner(args, environ_update):
            return module.run_command(args, environ_update=environ_update)
        transport = HostTransport(params['members'], params['start_script'], runner, env=params['script_env'])
    try:
        result = info(transport, names, replicas=params['replicas'], recover=params['recover_positions'])
    except TransportError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
