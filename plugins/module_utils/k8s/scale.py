# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of day-2 scales: one ConfigMap, ``<service>.<component>: "<replicas>"``.

``scale.yml`` writes here and ``site.yml`` (the validate_inputs role) reads it, so a scale
is not reverted by the next converge. Precedence of a component's replicas: the catalog
default < the recorded scale < the inventory (``openstack_replicas``, ``galera_replicas``).

:func:`parse_records` and :func:`plan_record` are pure; :func:`read_record` and
:func:`ensure_record` make the requests (one read; at most one write).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.prune import MANAGED_BY, MANAGED_BY_VALUE, NAME_LABEL

DEFAULT_NAME = 'openstack-scale'
FIELD_MANAGER = 'openstack-k8s-deploy'
_PART = r'[a-z][a-z0-9-]{0,40}[a-z0-9]'
KEY_RE = re.compile(r'^(%s)\.(%s)$' % (_PART, _PART))
NAME_RE = re.compile(_PART + '$')


class ScaleRecordError(Exception):
    """Bad input or a record that cannot be read; the message names the fix."""


def key_of(service, component):
    return '%s.%s' % (service, component)


def parse_records(data, name=DEFAULT_NAME):
    """``{service: {component: replicas}}`` from a ConfigMap's data; a bad entry fails naming it."""
    records = {}
    for key in sorted(data or {}):
        match = KEY_RE.match(key)
        value = str((data or {})[key]).strip()
        if not match or not re.match(r'^[0-9]+$', value) or int(value) < 1:
            raise ScaleRecordError('ConfigMap %s holds %s: %r; each entry must be <service>.<component>: "<replicas>" '
                                   '(a whole number of at least 1). Fix or delete the entry (kubectl edit configmap %s)'
                                   % (name, key, (data or {})[key], name))
        records.setdefault(match.group(1), {})[match.group(2)] = int(value)
    return records


def validate(params):
    """Fail before any request on bad options."""
    if not NAME_RE.match(params.get('name') or ''):
        raise ScaleRecordError('name must be a ConfigMap name (lower-case letters, digits, dashes), got %r' % params.get('name'))
    service, component, replicas = params.get('service'), params.get('component'), params.get('replicas')
    if service is None:
        if component is not None or replicas is not None:
            raise ScaleRecordError('component and replicas need service: give service, component and replicas to record '
                                   'a scale, or none of them to read the record')
        return
    for option, value in (('service', service), ('component', component)):
        if not value or not NAME_RE.match(value):
            raise ScaleRecordError('%s must be a catalog name (lower-case letters, digits, dashes), got %r' % (option, value))
    if params.get('state') == 'present':
        if replicas is None or isinstance(replicas, bool) or replicas < 1:
            raise ScaleRecordError('replicas must be a whole number of at least 1 with state=present, got %r' % (replicas,))
    elif replicas is not None:
        raise ScaleRecordError('state=absent removes the entry %s; do not give replicas' % key_of(service, component))


def plan_record(data, service, component, replicas, state='present'):
    """The ConfigMap data after recording (``state=present``) or forgetting (``absent``) one entry."""
    after = dict(data or {})
    key = key_of(service, component)
    if state == 'present':
        after[key] = str(int(replicas))
    else:
        after.pop(key, None)
    return after


def _diff(name, before, after):
    def text(data):
        return ''.join('%s: "%s"\n' % (k, data[k]) for k in sorted(data))
    return dict(before_header='ConfigMap %s' % name, after_header='ConfigMap %s' % name,
                before=text(before), after=text(after))


def read_record(client, namespace, name=DEFAULT_NAME):
    """(the ConfigMap or None, its data)."""
    live = client.get('v1', 'ConfigMap', name, namespace)
    return live, dict(((live or {}).get('data') or {}))


def ensure_record(client, params, check_mode=False):
    """Read the record, change one entry if asked and needed; return the result dict."""
    namespace, name = params['namespace'], params.get('name') or DEFAULT_NAME
    live, before = read_record(client, namespace, name)
    parse_records(before, name)
    after = before
    changed = False
    if params.get('service') is not None:
        after = plan_record(before, params['service'], params['component'], params.get('replicas'),
                            params.get('state') or 'present')
        changed = after != before
    if changed and not check_mode:
        if live is None:
            client.create({'apiVersion': 'v1', 'kind': 'ConfigMap',
                           'metadata': {'name': name, 'namespace': namespace,
                                        'labels': {MANAGED_BY: MANAGED_BY_VALUE, NAME_LABEL: name,
                                                   'app.kubernetes.io/part-of': 'openstack'}},
                           'data': after}, field_manager=FIELD_MANAGER)
        else:
            # A merge patch of the one key, guarded by the version it was planned from: a
            # concurrent scale of another component gets a 409 instead of being lost.
            key = key_of(params['service'], params['component'])
            client.patch('v1', 'ConfigMap', name, {'metadata': {'resourceVersion': live['metadata']['resourceVersion']},
                                                   'data': {key: after.get(key)}},
                         namespace=namespace, field_manager=FIELD_MANAGER)
    return dict(changed=changed, name=name, namespace=namespace, records=parse_records(after, name),
                diff=_diff(name, before, after), requests=dict(client.requests))
