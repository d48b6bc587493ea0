# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Options of modules that wait for Kubernetes objects to become ready."""

    DOCUMENTATION = r'''
options:
  wait:
    description:
      - Wait for each phase's objects to be ready (Jobs complete, workloads rolled out) before
        the next phase, using watches on the objects rather than polling.
      - When V(false), every phase is applied at once and nothing is waited for.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole rollout of one service may take, waits included.
      - On timeout the module fails naming the object, the condition it waited for and the
        last status it observed.
    type: int
    default: 600
'''
