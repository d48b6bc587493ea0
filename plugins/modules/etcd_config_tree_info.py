#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_config_tree_info
short_description: Read the OpenStack configuration tree back from etcd
version_added: 0.1.0
description:
  - Reads every key under C(<prefix>/<path>/) at one revision and returns it as a nested dict,
    the same shape M(openstack_k8s.deploy.etcd_config_tree) takes.
  - Values of secret-named keys that are not C($VAR) references (written by something else than
    this collection) are masked and listed in RV(masked).
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.etcd_connection
options:
  prefix:
    description:
      - Root of the configuration tree.
    type: str
    default: /openstack
  path:
    description:
      - Subtree to read, relative to O(prefix), for example V(controller/glance) or V(general).
      - Empty reads the whole tree.
    type: str
    default: ''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying etcd.
    support: full
    details: The module only reads.
'''

EXAMPLES = r'''
- name: Read Glance's configuration back
  openstack_k8s.deploy.etcd_config_tree_info:
    endpoints: [https://etcd.openstack.svc:2379]
    ca_cert: /etc/openstack-k8s/etcd-ca.crt
    prefix: /openstack
    path: controller/glance
  register: glance_config

- name: Show the database connection template
  ansible.builtin.debug:
    msg: "{{ glance_config.tree['glance-api.conf'].database.connection }}"
'''

RETURN = r'''
tree:
  description: The subtree as a nested dict; leaves are strings.
  returned: always
  type: dict
  sample: {"glance-api.conf": {"database": {"connection": "mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST/glance"}}}
count:
  description: Number of keys read.
  returned: always
  type: int
  sample: 1
revision:
  description: The etcd revision the tree was read at.
  returned: always
  type: int
  sample: 42
masked:
  description: Keys (relative to O(prefix)/O(path)) whose plaintext secret value was masked.
  returned: always
  type: list
  elements: str
  sample: []
requests:
  description: etcd requests made, by RPC name.
  returned: always
  type: dict
  sample: {Range: 1}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import (
    HAS_ETCD, ETCD_IMPORT_ERROR, ETCD_LIBRARY, EtcdError)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import (
    CONFIG_TREE_INFO_SPEC, run_config_tree_info)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import TreeError


def main():
    module = AnsibleModule(argument_spec=CONFIG_TREE_INFO_SPEC, supports_check_mode=True,
                           required_together=[('username', 'password'), ('client_cert', 'client_key')])
    if not HAS_ETCD:
        module.fail_json(msg=missing_required_lib(ETCD_LIBRARY), exception=str(ETCD_IMPORT_ERROR))
    try:
        result = run_config_tree_info(module.params)
    except TreeError as exc:
        module.fail_json(msg=str(exc), errors=exc.errors)
    except EtcdError as exc:
        module.fail_json(msg=exc.message, reason=exc.code)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
