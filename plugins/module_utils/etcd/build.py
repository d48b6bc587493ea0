# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration tree of a deployment: catalog defaults, merged with the operator's overrides.

Pure. :func:`build_config_tree` takes the service catalog (service name -> entry, where an
entry has ``config: {<node-role>: {<file>: {<section>: {<key>: value}}}}`` and
``secrets: [{name, type}]``), the enabled services, the overrides (same shape as the tree)
and the general values, and returns the tree :mod:`.tree` validates and the
``etcd_config_tree`` module writes. Every problem is collected and raised at once as a
:class:`~.tree.TreeError` naming the path and the fix; values are never quoted.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import GENERAL, TreeError, flatten

OVERRIDES = 'openstack_config_overrides'
# $NAME / ${NAME} with an upper-case name is ours; lower-case ($my_ip) is oslo.config's own interpolation.
UPPER_REFERENCE_RE = re.compile(r'\$(?:\{([A-Z][A-Z0-9_]*)\}|([A-Z][A-Z0-9_]*))')


def _without_nulls(node):
    """``node`` without null leaves (deletion markers) and without mappings left empty by them."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = _without_nulls(value)
            if not value and node[key]:
                continue
        out[key] = value
    return out


def _names(items):
    return ', '.join(sorted(str(item) for item in items)) or 'none'


def _check_overrides(catalog, enabled, overrides):
    errors = []
    for top in sorted(overrides, key=str):
        if top == GENERAL:
            continue
        services = overrides[top]
        if not isinstance(services, dict):
            continue  # shape errors come from flatten()
        for service in sorted(services, key=str):
            where = '%s: %s/%s' % (OVERRIDES, top, service)
            if service not in catalog:
                errors.append('%s: unknown service %r (catalog services: %s); fix the name or remove the override'
                              % (where, service, _names(catalog)))
                continue
            if service not in enabled:
                errors.append('%s: service %s is not enabled; add it to openstack_enabled_services or remove the override'
                              % (where, service))
                continue
            roles = (catalog[service].get('config') or {})
            if top not in roles:
                errors.append('%s: %s has no configuration on node role %s (it has: %s); move the override under one '
                              'of those' % (where, service, top, _names(roles)))
                continue
            files = services[service]
            if not isinstance(files, dict):
                continue
            for conf in sorted(files, key=str):
                if conf not in roles[top]:
                    errors.append('%s/%s: %s writes no file %s on %s (files: %s); use one of those names'
                                  % (where, conf, service, conf, top, _names(roles[top])))
    return errors


def _merge(target, override):
    """Deep-merge ``override`` into ``target``; a null leaf removes the key."""
    for key, value in override.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _drop_empty(node):
    for key in list(node):
        if isinstance(node[key], dict):
            _drop_empty(node[key])
            if not node[key]:
                del node[key]


def build_config_tree(catalog, enabled=None, overrides=None, general=None):
    """The nested config tree; raises TreeError listing every problem."""
    catalog = catalog or {}
    if not isinstance(catalog, dict):
        raise TreeError(['the catalog must be a mapping of service name to entry (openstack_catalog from the catalog role)'])
    enabled = sorted(enabled) if enabled else sorted(catalog)
    overrides = overrides if overrides is not None else {}
    general = general or {}
    errors = ['enabled service %r is not in the catalog (catalog services: %s)' % (s, _names(catalog))
              for s in enabled if s not in catalog]
    if not isinstance(overrides, dict):
        raise TreeError(errors + ['%s must be a mapping shaped like the tree (general: {KEY: value}, '
                                  '<node-role>: {<service>: {<file>: {<section>: {<key>: value}}}})' % OVERRIDES])
    if not isinstance(general, dict):
        raise TreeError(errors + ['general values must be a mapping of KEY: value'])
    try:
        flatten(_without_nulls(overrides))
    except TreeError as exc:
        errors.extend('%s: %s' % (OVERRIDES, error) for error in exc.errors)
    errors.extend(_check_overrides(catalog, enabled, overrides))
    if errors:
        raise TreeError(errors)

    tree = {GENERAL: copy.deepcopy(general)}
    secret_names = set()
    for service in enabled:
        entry = catalog[service] or {}
        secret_names.update(item.get('name') for item in entry.get('secrets') or [] if isinstance(item, dict))
        # The RabbitMQ user names that go with the passwords ($NOVA_RABBITMQ_USER, see service_users.py).
        secret_names.update(service_users.user_values(entry, {}))
        config = entry.get('config') or {}
        if not isinstance(config, dict):
            errors.append('catalog entry %s: config must be a mapping of node role to files' % service)
            continue
        for role, files in config.items():
            if role == GENERAL:
                errors.append('catalog entry %s: "general" is not a node role; general values come from the config role'
                              % service)
                continue
            tree.setdefault(role, {})[service] = copy.deepcopy(files)
    if errors:
        raise TreeError(errors)
    _merge(tree, overrides)
    _drop_empty(tree)
    flat = flatten(tree)

    known = set(tree.get(GENERAL) or {}) | secret_names
    for key in sorted(flat):
        for match in UPPER_REFERENCE_RE.finditer(flat[key]):
            name = match.group(1) or match.group(2)
            if name not in known:
                errors.append('%s: $%s is neither a general key nor a credential of an enabled service; define it under '
                              '%s.general or add it to the secrets of the service in the catalog' % (key, name, OVERRIDES))
    if errors:
        raise TreeError(errors)
    return tree
