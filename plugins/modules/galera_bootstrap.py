#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: galera_bootstrap
short_description: Bootstrap, recover, rejoin and scale a MariaDB Galera cluster without ever starting a second Primary Component
version_added: 0.1.0
description:
  - Every member runs the collection's start script C(galera-start.sh) (the Galera StatefulSet's
    container command in Kubernetes; a small daemon started by this module on hosts). The script
    never bootstraps on its own; it waits until this module, which sees every member, tells it
    to C(bootstrap) or C(join).
  - First deployment (no member has data) - the first member bootstraps a new cluster, the others join.
  - Full outage (no member runs) - reads every member's C(grastate.dat); where seqno is -1 it runs
    C(mariadbd --wsrep-recover) for the recovered position; bootstraps the member with the highest
    seqno (ties go to the member marked safe_to_bootstrap, then to the first in O(members) order),
    then joins the others one at a time. RV(reason) and RV(positions) say which member and why.
  - If any member runs in a Primary Component, nothing is bootstrapped, ever - the stopped members are
    joined to it (partial outage, scale up). Members beyond O(replicas) that run are stopped gracefully
    one at a time (scale down).
  - Members with different cluster uuids, a member that cannot be read, or a member running outside a
    Primary Component stop the run before any change, with a message saying what to do. The first two
    can be overridden with O(force).
  - Check mode reads and decides (including C(--wsrep-recover) where needed) and reports the decision
    without starting anything.
  - The module returns when O(replicas) members are C(Synced) in one Primary Component of that size.
  - See the collection's C(docs/galera.md) for the runbook.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
requirements:
  - C(kubernetes) Python library with O(transport=kubernetes).
options:
  replicas:
    description:
      - The cluster size to reach. Must be odd (2n+1).
      - The first O(replicas) entries of O(members) are the cluster; any further entries are members to
        scale down (stopped gracefully if they run).
    type: int
    required: true
  members:
    description:
      - Every member, in ordinal order (the StatefulSet's pod order).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Unique member name, used in messages and results.
        type: str
        required: true
      defaults_file:
        description:
          - O(transport=host) - the member's my.cnf (datadir, socket and pid-file are read from it). Required with that transport.
        type: path
      control_dir:
        description:
          - O(transport=host) - the member's control directory for the start script's protocol. Required with that transport.
        type: path
      env:
        description:
          - O(transport=host) - extra environment for the start script for this member (C(GALERA_*) variables).
        type: dict
        default: {}
      pod:
        description:
          - O(transport=kubernetes) - the member's pod name (default O(members[].name)).
        type: str
  transport:
    description:
      - How members are reached. V(host) runs the start script on the managed host with each member's
        environment; V(kubernetes) runs it in each member's pod through the pod exec API.
    type: str
    choices: [host, kubernetes]
    default: host
  start_script:
    description:
      - Path of C(galera-start.sh) on the host (V(host)) or inside the container (V(kubernetes)).
    type: path
    default: /usr/local/bin/galera-start.sh
  script_env:
    description:
      - O(transport=host) - environment for the start script for every member (for example C(GALERA_MARIADBD)).
    type: dict
    default: {}
  namespace:
    description:
      - O(transport=kubernetes) - namespace of the Galera pods. Required with that transport.
    type: str
  container:
    description:
      - O(transport=kubernetes) - container of the pods that runs the start script (default - the pod's only container).
    type: str
  kubeconfig:
    description:
      - O(transport=kubernetes) - kubeconfig file. Without it and O(context), the in-cluster config is tried, then the default kubeconfig.
    type: path
  context:
    description:
      - O(transport=kubernetes) - kubeconfig context.
    type: str
  force:
    description:
      - Name of the member to bootstrap when the module refuses because members belong to different clusters
        or cannot be read. Transactions that only other members had are lost.
      - Never overrides the Primary Component rule - with any member running in a Primary Component, O(force) is refused.
    type: str
  timeout:
    description:
      - Seconds the whole run may take. On timeout the module fails naming the member, the condition and its last observed status.
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two looks at a member while waiting.
    type: float
    default: 0.5
notes:
  - The V(kubernetes) transport is written against the official client's C(kubernetes.stream.stream) and
    C(connect_get_namespaced_pod_exec) but has not run against a real cluster; the V(host) transport and the
    start script are exercised against real MariaDB 10.11 and galera-4 in the collection's tests.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the cluster.
    support: full
    details: Reads every member and decides exactly like a real run (C(--wsrep-recover) included), and starts or stops nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Each member's state before and after (running and Synced in a Primary Component of a size, or stopped with its position).
'''

EXAMPLES = r'''
- name: Recover the Galera cluster in Kubernetes after an outage
  openstack_k8s.deploy.galera_bootstrap:
    transport: kubernetes
    namespace: openstack
    container: galera
    start_script: /scripts/galera-start.sh
    replicas: 3
    members:
      - name: galera-0
      - name: galera-1
      - name: galera-2

- name: Galera on hosts, one my.cnf and control directory per member
  openstack_k8s.deploy.galera_bootstrap:
    replicas: 3
    start_script: /usr/local/bin/galera-start.sh
    members:
      - {name: db1, defaults_file: /etc/mysql/db1.cnf, control_dir: /var/lib/galera-control/db1}
      - {name: db2, defaults_file: /etc/mysql/db2.cnf, control_dir: /var/lib/galera-control/db2}
      - {name: db3, defaults_file: /etc/mysql/db3.cnf, control_dir: /var/lib/galera-control/db3}

- name: Bootstrap db2 although members disagree on the cluster uuid (read docs/galera.md first)
  openstack_k8s.deploy.galera_bootstrap:
    replicas: 3
    force: db2
    members:
      - {name: db1, defaults_file: /etc/mysql/db1.cnf, control_dir: /var/lib/galera-control/db1}
      - {name: db2, defaults_file: /etc/mysql/db2.cnf, control_dir: /var/lib/galera-control/db2}
      - {name: db3, defaults_file: /etc/mysql/db3.cnf, control_dir: /var/lib/galera-control/db3}
'''

RETURN = r'''
action:
  description: What was decided - V(none), V(join), V(bootstrap), V(scale_down) or V(refuse).
  returned: always
  type: str
  sample: bootstrap
reason:
  description: Why, with every member's position when a member was chosen (the refusal message on refusal).
  returned: always
  type: str
  sample: "full outage: node3 bootstraps (highest seqno 1711 in cluster 9831284b-...); positions: ..."
bootstrapped:
  description: The member started with C(--wsrep-new-cluster), or null.
  returned: always
  type: str
  sample: node3
joined:
  description: Members joined, in order.
  returned: always
  type: list
  elements: str
  sample: [node1, node2]
left:
  description: Members stopped gracefully (scale down), in order.
  returned: always
  type: list
  elements: str
  sample: []
plan:
  description: The decision - C(bootstrap), C(join) and C(leave) - also in check mode.
  returned: when a decision was made
  type: dict
  sample: {bootstrap: node3, join: [node1, node2], leave: []}
positions:
  description:
    - One entry per member - C(name), C(uuid), C(seqno), C(source) (running, grastate, recovered, unknown, none, unreadable),
      C(safe_to_bootstrap), C(running), C(cluster_status), C(local_state), C(cluster_size), C(error).
  returned: always
  type: list
  elements: dict
recovered:
  description: Positions obtained with C(mariadbd --wsrep-recover), as C(uuid:seqno) per member.
  returned: always
  type: dict
  sample: {node1: "9831284b-e76b-11f1-9982-5f25257f8ea1:1709"}
advisories:
  description:
    - Things that did not stop the run (members ahead of a forced member, members outside the Primary Component).
    - Each is also shown as an Ansible warning.
  returned: always
  type: list
  elements: str
steps:
  description: Joins and leaves with the view size before and after each and whether a majority was kept.
  returned: always
  type: list
  elements: dict
events:
  description: Timestamped log of what the module did.
  returned: always
  type: list
  elements: str
members:
  description: Final state of every member (C(running), C(cluster_status), C(local_state), C(cluster_size), C(last_committed), ...).
  returned: success
  type: list
  elements: dict
cluster_size:
  description: Size of the Primary Component reached.
  returned: when members were started or stopped
  type: int
  sample: 3
diff:
  description: Each member's state before and after (predicted in check mode), e.g. C(running, Synced, Primary, size 3) or C(stopped, seqno 17).
  returned: when a decision was made
  type: dict
after:
  description: The C(after) half of RV(diff) (predicted in check mode, observed otherwise), also without diff mode.
  returned: when a decision was made
  type: dict
  sample: {node1: "running, Synced, Primary, size 3", node2: "running, Synced, Primary, size 3", node3: "running, Synced, Primary, size 3"}
elapsed:
  description: Seconds from module start to the end of the run.
  returned: always
  type: float
  sample: 9.4
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.bootstrap import (
    BOOTSTRAP_SPEC, GaleraError, Runner, validate_connection)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.decision import DecisionInputError, validate
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.transport import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, KUBERNETES_LIBRARY, HostTransport, KubernetesTransport, TransportError)


def make_transport(module):
    params = module.params
    if params['transport'] == 'kubernetes':
        if not HAS_KUBERNETES:
            module.fail_json(msg=missing_required_lib(KUBERNETES_LIBRARY), exception=str(KUBERNETES_IMPORT_ERROR))
        return KubernetesTransport(params['members'], params['start_script'], params['namespace'], container=params['container'],
                                   kubeconfig=params['kubeconfig'], context=params['context'])

    def runner(args, environ_update):
        return module.run_command(args, environ_update=environ_update)
    return HostTransport(params['members'], params['start_script'], runner, env=params['script_env'])


def main():
    module = AnsibleModule(argument_spec=BOOTSTRAP_SPEC, supports_check_mode=True)
    params = module.params
    names = [m['name'] for m in params['members']]
    try:
        validate(params['replicas'], names, params['force'])
        validate_connection(params)
        if params['timeout'] < 1:
            raise ValueError('galera timeout must be at least 1 second, got %d' % params['timeout'])
    except (DecisionInputError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    try:
        transport = make_transport(module)
    except Exception as exc:  # kubeconfig / in-cluster config problems come as several exception types
        module.fail_json(msg='galera transport=%s: cannot set up: %s' % (params['transport'], exc))
    runner = Runner(transport, names, params['replicas'], force=params['force'], check_mode=module.check_mode,
                    timeout=params['timeout'], poll_interval=params['poll_interval'])
    try:
        result = runner.run()
    except GaleraError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except TransportError as exc:
        module.fail_json(msg=str(exc), **runner.result)
    for advisory in result['advisories']:
        module.warn(advisory)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
