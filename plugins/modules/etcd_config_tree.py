#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_config_tree
short_description: Seed the OpenStack configuration tree in etcd
version_added: 0.1.0
description:
  - Makes the keys under O(prefix) in etcd match O(tree). Keys follow one scheme, exactly
    C(<prefix>/general/<KEY>) for environment-wide values and
    C(<prefix>/<node-role>/<service>/<file>/<section>/<key>) for one oslo.config option,
    for example C(/openstack/controller/glance/glance-api.conf/database/connection).
  - The whole tree is validated before etcd is contacted. A branch of any other depth, an empty
    segment, a segment containing C(/), a null, mapping or nested-list leaf, a lower-case general
    key, a secret-named general key, a secret-named option (password, secret, key, token,
    credential) whose value is not a C($VAR) reference, or a URL value with a literal password
    (C(scheme://user:password@host) where the password is not a C($VAR)) fails naming every offending
    path and the fix.
  - Plans first (reads every key under the prefix once, at one revision), then writes only new and
    changed keys in transactions guarded by that revision, so a concurrent writer makes the run fail
    with the keys it changed instead of losing its update. Unchanged keys are never written; a second
    run with the same tree makes no write request and reports RV(ignore:changed=false).
  - Values are strings. Booleans become C(True)/C(False), numbers their decimal form, and lists are
    joined with commas, the way oslo.config reads them.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.etcd_connection
options:
  prefix:
    description:
      - Root of the managed tree. Every key under C(<prefix>/) is managed by this module.
    type: str
    default: /openstack
  tree:
    description:
      - The desired tree, nested as C(general -> KEY -> value) and
        C(node-role -> service -> file -> section -> key -> value).
      - Secrets appear only as references such as C($GLANCE_DB_PASSWORD); they are substituted when a
        service's files are rendered into its Kubernetes Secret, never stored in etcd.
      - Required with O(state=present). With O(state=absent) only the keys of O(tree) are removed;
        without it every key under the prefix is.
    type: dict
  prune:
    description:
      - With O(state=present), also delete every key under the prefix that is not in O(tree).
      - Keys outside C(<prefix>/) are never touched.
    type: bool
    default: false
  state:
    description:
      - V(present) writes the tree; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  max_txn_ops:
    description:
      - Most operations per etcd transaction; the server's C(--max-txn-ops) (etcd default 128).
        Larger plans are split into several guarded transactions.
    type: int
    default: 128
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying etcd.
    support: full
    details: Reads and plans exactly like a real run, and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before and after of every changed key; values of secret-named keys that are not references are masked.
notes:
  - A plan larger than one transaction is applied in several; if another writer interferes between
    them, the keys already written stay written and the run fails naming the conflicting keys.
    Re-running converges.
seealso:
  - module: openstack_k8s.deploy.etcd_config_tree_info
'''

EXAMPLES = r'''
- name: Seed the configuration tree
  openstack_k8s.deploy.etcd_config_tree:
    endpoints: [https://etcd.openstack.svc:2379]
    ca_cert: /etc/openstack-k8s/etcd-ca.crt
    username: openstack-config
    password: "{{ vault_etcd_password }}"
    prefix: /openstack
    prune: true
    tree:
      general:
        REGION_NAME: RegionOne
        DB_HOST: mariadb.openstack.svc
      controller:
        glance:
          glance-api.conf:
            database:
              connection: mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance
            DEFAULT:
              debug: false
              enabled_backends: [file:file]

- name: Remove everything under a prefix
  openstack_k8s.deploy.etcd_config_tree:
    endpoints: [http://127.0.0.1:2379]
    prefix: /openstack-old
    state: absent
'''

RETURN = r'''
added:
  description: Keys created, relative to the prefix.
  returned: always
  type: list
  elements: str
  sample: [controller/glance/glance-api.conf/database/connection]
updated:
  description: Keys whose value changed, relative to the prefix.
  returned: always
  type: list
  elements: str
  sample: [general/REGION_NAME]
removed:
  description: Keys deleted (O(prune) or O(state=absent)), relative to the prefix.
  returned: always
  type: list
  elements: str
  sample: []
revision:
  description: The etcd revision after the run (the read revision when nothing was written).
  returned: always
  type: int
  sample: 42
requests:
  description: etcd requests made by this run, by RPC name.
  returned: always
  type: dict
  sample: {Range: 1, Txn: 1}
writes:
  description: Keys written or deleted by this run (0 in check mode and when nothing changed).
  returned: always
  type: int
  sample: 12
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import (
    HAS_ETCD, ETCD_IMPORT_ERROR, ETCD_LIBRARY, EtcdError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import CONFIG_TREE_SPEC, run_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import TreeError


def main():
    module = AnsibleModule(argument_spec=CONFIG_TREE_SPEC, supports_check_mode=True,
                           required_together=[('username', 'password'), ('client_cert', 'client_key')])
    if not HAS_ETCD:
        module.fail_json(msg=missing_required_lib(ETCD_LIBRARY), exception=str(ETCD_IMPORT_ERROR))
    try:
        result = run_config_tree(module.params, check_mode=module.check_mode, want_diff=module._diff)
    except TreeError as exc:
        # A refused plaintext secret must not come back in the echoed module arguments.
        module.no_log_values.update(exc.secret_values)
        module.fail_json(msg='invalid tree, nothing was written: %s' % exc, errors=exc.errors)
    except EtcdError as exc:
        module.fail_json(msg=exc.message, reason=exc.code, conflicting_keys=getattr(exc, 'keys', []))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
