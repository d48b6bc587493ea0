#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_openstack_upgrade
short_description: Upgrade OpenStack on Kubernetes from one release series to the next, resumably
version_added: 0.1.0
description:
  - The deployed release and the progress of an upgrade live in the ConfigMap C(openstack-release)
    of O(namespace) (keys C(release); during an upgrade also C(target), C(from), C(completed) and
    C(failed)).
  - O(mode=upgrade) moves the O(services), one after the other in the given order, to O(release).
    Each service runs the steps of its catalog entry's C(upgrade.order) - database Jobs
    (C(upgrade-expand), C(upgrade-migrate), C(upgrade-contract) phases, or deploy Jobs such as
    Heat's C(db-sync)) rendered with the new images, and rolling updates of the named components,
    each waited for - and finally C(converge), which applies the whole service as C(site.yml)
    renders it at the new release and prunes the stale Jobs.
  - Every finished step is recorded before the next starts. A failed step stops the upgrade, is
    recorded with its error, and the message says how to resume; a later run with the same
    O(release) skips the finished steps and runs the failed one again (a failed Job is deleted and
    re-created). Once every step is done the record holds only C(release=<release>), and a re-run
    makes no write request.
  - Refused before any write - no recorded release, a downgrade, a release not in O(releases), a
    skip the target does not support (N to N+1 always; a SLURP release to the next SLURP release),
    or another upgrade in progress.
  - O(mode=info) only reads the record and says what an upgrade to O(release) would do.
  - O(mode=record) (C(site.yml)) records O(release) as the deployed release when none is recorded
    and fails when the record names another release or an upgrade in progress; it never changes
    the release of a deployed cloud.
  - O(etcd) is required with O(mode=upgrade), since the Jobs and workloads are rendered from the configuration tree.
author:
  - openstack_k8s.deploy developers (@openstack-k8s)
options:
  mode:
    description:
      - V(upgrade) runs (or resumes) the upgrade; V(info) reads only; V(record) records the release
        a converged deployment runs.
    type: str
    choices: [upgrade, info, record]
    default: upgrade
  release:
    description:
      - The release series to upgrade to (V(upgrade), V(info)) or to record (V(record)), e.g. C(2026.2).
    type: str
    required: true
  releases:
    description:
      - The supported release series, oldest first, as C(roles/catalog/files/releases.yml) lists them
        (C(name), C(slurp)). Required with O(mode=upgrade) and O(mode=info).
    type: list
    elements: dict
    default: []
  services:
    description:
      - The catalog entries to upgrade, in upgrade order (O(mode=upgrade)).
    type: list
    elements: dict
    default: []
  namespace:
    description:
      - Namespace of the deployment.
    type: str
    default: openstack
  variables:
    description:
      - Deployment variables of the renderer, as for M(openstack_k8s.deploy.k8s_openstack_service);
        C(release) is replaced by O(release).
    type: dict
    default: {}
  replicas:
    description:
      - "Replica overrides, C({service: {component: count}})."
    type: dict
    default: {}
  credentials_secret:
    description:
      - Name of the credentials Secret in O(namespace).
    type: str
    default: openstack-credentials
  force_conflicts:
    description:
      - When another field manager owns a field this module sets, take the field over instead of failing.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds each step may take, waits included. On timeout the step fails naming the object, the
        condition and its last status, and the upgrade stops there (resumable).
    type: int
    default: 600
extends_documentation_fragment:
  - openstack_k8s.deploy.etcd_tree
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - O(mode=upgrade) reads the record, etcd and the credentials, renders every step and reports the
        steps it would run (RV(steps)); nothing is sent. O(mode=record) sends a C(dryRun=All) apply.
  diff_mode:
    support: full
    details: The record before and after (no secret is ever in it).
  platform:
    platforms: posix
notes:
  - Take a backup first (C(playbooks/backup.yml)); C(playbooks/upgrade.yml) does so unless told not to.
requirements:
  - kubernetes
  - etcd-sdk-python
'''

EXAMPLES = r'''
- name: Upgrade to 2026.2, service by service in the upstream order
  openstack_k8s.deploy.k8s_openstack_upgrade:
    release: "2026.2"
    releases: "{{ (lookup('ansible.builtin.file', 'releases.yml') | from_yaml).releases }}"
    services: "{{ ['keystone', 'glance', 'placement', 'nova'] | map('extract', openstack_catalog) | list }}"
    etcd:
      endpoints: ["http://etcd.openstack.svc:2379"]

- name: What would an upgrade to 2026.2 do
  openstack_k8s.deploy.k8s_openstack_upgrade:
    mode: info
    release: "2026.2"
    releases: "{{ releases }}"
  register: upgrade_info

- name: Record the release site.yml deployed
  openstack_k8s.deploy.k8s_openstack_upgrade:
    mode: record
    release: "{{ openstack_release }}"
'''

RETURN = r'''
deployed:
  description: The release the cloud runs (recorded), after this run.
  returned: always
  type: str
  sample: "2026.2"
record:
  description: The record as read (O(mode=info)) or written (O(mode=record)) - C(release), C(target), C(from), C(completed), C(failed).
  returned: when O(mode) is V(info) or V(record)
  type: dict
decision:
  description: What an upgrade to O(release) does - C(action) (V(none), V(upgrade), V(resume), V(refused)) and C(message).
  returned: when O(mode=info)
  type: dict
action:
  description: What O(mode=upgrade) did - V(none) (already there), V(upgrade) or V(resume).
  returned: when O(mode=upgrade)
  type: str
plan:
  description: Every step of the upgrade, C(<service>/<step>), in order.
  returned: when O(mode=upgrade) has something to do
  type: list
  elements: str
steps:
  description: Each step with C(action) (V(run), V(skip) - finished before, V(failed)) and C(changed).
  returned: when O(mode=upgrade)
  type: list
  elements: dict
failed_step:
  description: The step that failed; the next run resumes there.
  returned: failure
  type: str
progress:
  description: Time-stamped lines of what was applied and waited for.
  returned: when O(mode=upgrade)
  type: list
  elements: str
wait:
  description: On a wait that timed out or failed, the object, the condition and its last status.
  returned: failure
  type: dict
requests:
  description: Kubernetes API requests made, by verb.
  returned: always
  type: dict
write_requests:
  description: Number of write requests sent.
  returned: always
  type: int
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
        mode=dict(type='str', choices=['upgrade', 'info', 'record'], default='upgrade'),
        release=dict(type='str', required=True),
        releases=dict(type='list', elements='dict', default=[]),
        services=dict(type='list', elements='dict', default=[]),
        namespace=dict(type='str', default='openstack'),
        variables=dict(type='dict', default={}),
        replicas=dict(type='dict', default={}),
        credentials_secret=dict(type='str', default='openstack-credentials', no_log=False),
        etcd=dict(type='dict', options=ETCD_TREE_SPEC),
        force_conflicts=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=600),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    mode = params['mode']
    if mode == 'upgrade' and not params['etcd']:
        module.fail_json(msg='etcd is required with mode=upgrade: give the endpoints and prefix of the config tree')
    if mode in ('upgrade', 'info') and not params['releases']:
        module.fail_json(msg='releases is required with mode=%s: pass the releases of roles/catalog/files/releases.yml' % mode)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        if mode == 'info':
            result = runner.release_info(params)
        elif mode == 'record':
            result = runner.record_release(params, check_mode=module.check_mode)
        else:
            result = runner.run_upgrade(params, check_mode=module.check_mode)
    except (runner.RolloutError, K8sError) as exc:
        module.fail_json(msg=exc.message, **getattr(exc, 'details', {}))
    diff = result.pop('diff', None)
    if module._diff and diff is not None and result.get('changed'):
        result['diff'] = diff
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
