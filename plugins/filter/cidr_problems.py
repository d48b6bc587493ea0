# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: cidr_problems
short_description: What is wrong with a list of CIDRs, one message per bad entry
version_added: 0.1.0
description:
  - Checks that the input is a list of IPv4 or IPv6 networks in CIDR notation (C(10.0.0.0/24),
    C(fd00::/64)) with no host bits set, and returns one message per problem, naming O(name) and
    the fix. An empty result means the list is valid.
  - Used by the validate_inputs role on C(openstack_node_cidrs) before anything is written.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
options:
  _input:
    description: The value to check.
    type: raw
    required: true
  name:
    description: The variable name the messages use.
    type: str
    default: cidrs
'''

EXAMPLES = r'''
- name: Refuse bad node CIDRs
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ openstack_node_cidrs | openstack_k8s.deploy.cidr_problems('openstack_node_cidrs') }}"
'''

RETURN = r'''
_value:
  description: One message per bad entry (empty when the list is valid).
  type: list
  elements: str
'''

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.netcheck import cidr_problems as _cidr_problems


def cidr_problems(value, name='cidrs'):
    """Messages about ``value`` (see DOCUMENTATION)."""
    return _cidr_problems(value, name)


class FilterModule(object):
    """The cidr_problems filter."""

    def filters(self):
        return {'cidr_problems': cidr_problems}
