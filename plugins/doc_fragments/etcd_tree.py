# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The ``etcd`` option of the modules that read the configuration tree to render services."""

    DOCUMENTATION = r'''
options:
  etcd:
    description:
      - Where the configuration tree lives, and how to connect to it (the options of the
        M(openstack_k8s.deploy.etcd_config_tree) module, under one key).
    type: dict
    suboptions:
      endpoints:
        description: etcd client URLs, all with the same scheme.
        type: list
        elements: str
        required: true
      prefix:
        description: Root of the config tree.
        type: str
        default: /openstack
      ca_cert:
        description: CA certificate of the etcd servers (https endpoints).
        type: path
      client_cert:
        description: Client certificate, for etcd with client certificate authentication.
        type: path
      client_key:
        description: Key of O(etcd.client_cert).
        type: path
      username:
        description: etcd user; needs O(etcd.password).
        type: str
      password:
        description: Password of O(etcd.username). Never logged.
        type: str
      timeout:
        description: Seconds per etcd request.
        type: float
        default: 10
'''
