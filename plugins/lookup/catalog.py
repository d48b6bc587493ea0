# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup plugin: load and validate the service catalog."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: catalog
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
short_description: Load and validate the OpenStack service catalog
version_added: 0.1.0
description:
  - Reads one YAML file per service from a directory (by default the collection's
    C(roles/catalog/files/services)), validates every entry against the catalog schema
    (see C(docs/catalog.md)) and the dependency graph, and returns one mapping of
    service name to entry.
  - Scripts an entry names under C(scripts) are read with it, so modules receive them
    with the entry.
  - With O(enabled), also checks that every enabled service is known and that every
    hard dependency is enabled, and fails on a cycle, before anything is changed.
options:
  dir:
    description: Directory holding one C(<service>.yml) per service.
    type: path
    required: true
  node_roles:
    description:
      - The node roles (content of C(roles/catalog/files/node_roles.yml) or
        C(openstack_node_roles)); every node role the catalog names must be one of them.
    type: dict
  enabled:
    description:
      - Service names to check against the catalog's dependency graph and order in waves.
      - Every service of the catalog when not given.
    type: list
    elements: str
  replicas:
    description:
      - Replica overrides by service and component, as C(openstack_replicas) gives them,
        checked for every enabled service before anything is deployed (odd counts for
        quorum services, none for DaemonSets).
    type: dict
  output:
    description:
      - C(catalog) returns the mapping of service name to entry.
      - C(waves) returns the enabled services as a list of waves (lists of names) in
        rollout order; services of one wave do not depend on each other.
      - C(secrets) returns credential name to type for the enabled services (what the
        credentials role must generate).
      - C(all) returns a mapping with the keys C(catalog), C(waves) and C(secrets).
    type: str
    default: catalog
    choices: [catalog, waves, secrets, all]
'''

EXAMPLES = r'''
- name: Load the catalog
  ansible.builtin.set_fact:
    openstack_catalog: >-
      {{ lookup('openstack_k8s.deploy.catalog', dir=catalog_dir, node_roles=openstack_node_roles) }}

- name: Order the enabled services in waves
  ansible.builtin.debug:
    msg: "{{ lookup('openstack_k8s.deploy.catalog', dir=catalog_dir, enabled=['mariadb', 'memcached', 'keystone'], output='waves') }}"
'''

RETURN = r'''
_raw:
  description: One element, as O(output) says.
  type: list
  elements: raw
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        directory = self.get_option('dir')
        output = self.get_option('output')
        try:
            entries = cat.load_directory(directory, self.get_option('node_roles'))
            enabled = self.get_option('enabled')
            if enabled is None:
                enabled = sorted(entries)
            waves = cat.waves(entries, enabled)
            replicas = self.get_option('replicas') or {}
            unknown = sorted(set(replicas) - set(entries))
            if unknown:
                raise cat.CatalogError('openstack_replicas names unknown services %s; known: %s'
                                       % (', '.join(unknown), ', '.join(sorted(entries))))
            for name in enabled:
                components = sorted(set(replicas.get(name) or {}) - set(entries[name]['components']))
                if components:
                    raise cat.CatalogError('openstack_replicas.%s names unknown components %s; %s has %s'
                                           % (name, ', '.join(components), name,
                                              ', '.join(sorted(entries[name]['components']))))
                cat.check_replicas(entries[name], replicas)
        except cat.CatalogError as exc:
            raise AnsibleLookupError(str(exc))
        result = {
            'catalog': entries,
            'waves': waves,
            'secrets': cat.secret_names(entries, [name for wave in waves for name in wave]),
        }
        return [result if output == 'all' else result[output]]
