# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of network inputs (CIDRs), shared by the validate_inputs role and the renderer."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress


def cidr_problems(value, name='cidrs'):
    """One message per problem of ``value`` as a list of CIDRs; [] when it is valid."""
    if not isinstance(value, (list, tuple)):
        kind = 'string' if isinstance(value, str) else 'mapping' if isinstance(value, dict) else type(value).__name__
        return ['%s must be a list of CIDRs (e.g. [10.0.0.0/24, fd00::/64]), got a %s' % (name, kind)]
    problems = []
    for index, item in enumerate(value):
        where = '%s[%d]' % (name, index)
        if not isinstance(item, str) or '/' not in item:
            problems.append('%s must be a network in CIDR notation such as 10.0.0.0/24 or fd00::/64, got %r'
                            % (where, item))
            continue
        try:
            ipaddress.ip_network(item, strict=True)
        except ValueError as exc:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                problems.append('%s is not a valid CIDR (%s): write it as 10.0.0.0/24 or fd00::/64' % (where, exc))
            else:
                problems.append('%s %s has host bits set: write the network, %s' % (where, item, network))
    return problems
