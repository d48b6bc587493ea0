# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: config_tree
short_description: Build the OpenStack configuration tree from the catalog and the overrides
version_added: 0.1.0
description:
  - Takes the service catalog's configuration defaults of the enabled services, merges the
    operator's overrides over them, adds the general values, validates the result, and returns
    the nested tree that M(openstack_k8s.deploy.etcd_config_tree) writes to etcd.
  - "Fails naming the path and the fix when: an override names an unknown or disabled service, a node
    role or file the service does not have, the tree has the wrong shape (anything but
    C(general/KEY) and C(node-role/service/file/section/key)), a secret-named option would hold a
    plaintext value instead of a C($VAR) reference, a URL (a database C(connection), a C(transport_url))
    carries a literal password instead of a C($VAR) in C(scheme://user:$VAR@host), or a C($NAME) reference
    is neither a general key nor a credential of an enabled service. Values are never quoted in messages."
  - A V(null) override value removes that option from the catalog defaults.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
options:
  _input:
    description:
      - The service catalog, service name to entry (C(openstack_catalog) from the catalog role). Each
        entry may have C(config) (node role, file, section, key, value) and C(secrets) (list of C(name), C(type)).
    type: dict
    required: true
  enabled_services:
    description:
      - Services whose configuration goes into the tree. Empty means every catalog service.
    type: list
    elements: str
    default: []
  overrides:
    description:
      - The operator's overrides (C(openstack_config_overrides)), shaped like the tree.
    type: dict
    default: {}
  general:
    description:
      - The environment-wide values, C(KEY -> value), stored under C(<prefix>/general/).
    type: dict
    default: {}
'''

EXAMPLES = r'''
- name: Build the tree
  ansible.builtin.set_fact:
    config_tree: >-
      {{ openstack_catalog | openstack_k8s.deploy.config_tree(
           ['keystone', 'glance'],
           {'controller': {'glance': {'glance-api.conf': {'DEFAULT': {'debug': true}}}}},
           {'REGION_NAME': 'RegionOne', 'DB_HOST': 'mariadb.openstack.svc'}) }}
'''

RETURN = r'''
_value:
  description:
    - "The tree: C(general -> KEY -> value) and C(node-role -> service -> file -> section -> key -> value)."
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.build import build_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import TreeError


def config_tree(catalog, enabled_services=None, overrides=None, general=None):
    """The configuration tree (see DOCUMENTATION)."""
    try:
        return build_config_tree(catalog, enabled_services, overrides, general)
    except TreeError as exc:
        raise AnsibleFilterError('config_tree: %s' % exc)


class FilterModule(object):
    """The config_tree filter."""

    def filters(self):
        return {'config_tree': config_tree}
