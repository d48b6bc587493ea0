# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options shared by every module that talks to etcd."""

    DOCUMENTATION = r'''
options:
  endpoints:
    description:
      - etcd client URLs, for example V(https://etcd.openstack.svc:2379). All must use the same scheme.
      - The first reachable endpoint is used; reads fail over to the next one, writes never retry.
    type: list
    elements: str
    required: true
  ca_cert:
    description:
      - Path to the CA certificate that signed the etcd server certificates.
      - Only with V(https://) endpoints. Without it the system trust store is used.
    type: path
  client_cert:
    description:
      - Path to the client certificate, for etcd servers started with C(--client-cert-auth).
      - Requires O(client_key) and V(https://) endpoints.
    type: path
  client_key:
    description:
      - Path to the private key of O(client_cert).
    type: path
  username:
    description:
      - etcd user for password authentication. Requires O(password).
      - The user needs a role with C(readwrite) (C(read) for info modules) on the prefix.
    type: str
  password:
    description:
      - Password of O(username). Never logged.
      - Use V(https://) endpoints; over plain http the password travels unencrypted.
    type: str
  timeout:
    description:
      - Seconds to wait for each etcd request.
    type: float
    default: 10
requirements:
  - etcd-sdk-python >= 0.0.7 (imports as C(pyetcd); the etcd v3 gRPC stubs)
  - grpcio
  - protobuf >= 4.21
'''
