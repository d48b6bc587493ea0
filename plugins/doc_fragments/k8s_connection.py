# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options shared by every module that talks to the Kubernetes API."""

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - When neither O(kubeconfig) nor O(host) is set, the E(K8S_AUTH_KUBECONFIG) environment
        variable, then E(KUBECONFIG), then C(~/.kube/config), then the in-cluster service account are tried.
    type: path
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's current context.
      - Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Overrides the kubeconfig's server.
      - Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token used to authenticate to the API server.
      - Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  ca_cert:
    description:
      - Path to a CA certificate used to verify the API server.
      - Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ ssl_ca_cert ]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [ verify_ssl ]
  api_timeout:
    description:
      - Seconds to wait for one API request (connect and read) before it counts as failed.
      - Failed requests that are safe to retry (429, 500, 502, 503, 504, connection errors)
        are retried with exponential backoff, honouring C(Retry-After), up to O(api_retries) times.
    type: float
    default: 20
  api_retries:
    description:
      - How many times a retryable API request is retried before the module fails.
    type: int
    default: 5
requirements:
  - kubernetes >= 33 (the official Kubernetes Python client)
'''
