# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node roles: the one definition (roles/catalog/files/node_roles.yml, or the operator's
``openstack_node_roles``) of which inventory group puts a host in a role, which label its
Kubernetes node carries, and which taint keeps other pods off it.

Pure functions only: validating the definition and the inventory, the nodeSelector and
tolerations a workload of a role needs, and the label/taint changes of one Node. The
k8s_node_roles module reads and patches Nodes through plugins/module_utils/k8s/client.py.

Only *managed* labels and taints are ever touched: the label keys and the (key, effect)
taint pairs named by the definition. Everything else on a Node (the kubelet's labels, the
node lifecycle controller's taints, an operator's own) passes through unchanged.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re

TAINT_EFFECTS = ('NoSchedule', 'PreferNoSchedule', 'NoExecute')
_NAME = r'[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?'
_DNS_SUBDOMAIN = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'
QUALIFIED_NAME_RE = re.compile(r'^(%s/)?%s$' % (_DNS_SUBDOMAIN, _NAME))
LABEL_VALUE_RE = re.compile(r'^(%s)?$' % _NAME)
NODE_NAME_RE = re.compile(r'^%s$' % _DNS_SUBDOMAIN)


# -- the definition ------------------------------------------------------------------------
def validate_definition(definition):
    """Errors of a node roles definition, each naming the role, the field and the fix."""
    errors = []
    if not isinstance(definition, dict) or not definition:
        return ['node_roles must be a mapping of role name to {group, label, taint}, as in roles/catalog/files/node_roles.yml']
    groups = {}
    for role in sorted(definition):
        spec = definition[role]
        where = 'node_roles.%s' % role
        if not isinstance(spec, dict):
            errors.append('%s must be a mapping with group, label and taint' % where)
            continue
        unknown = sorted(set(spec) - set(['group', 'label', 'taint']))
        if unknown:
            errors.append('%s: unknown field(s) %s; the fields are group, label and taint' % (where, ', '.join(unknown)))
        group = spec.get('group')
        if not isinstance(group, str) or not group:
            errors.append('%s.group: give the inventory group whose hosts have this role' % where)
        elif group in groups:
            errors.append('%s.group: group %s is already the group of role %s; give each role its own group' % (where, group, groups[group]))
        else:
            groups[group] = role
        label = spec.get('label')
        if not isinstance(label, dict):
            errors.append('%s.label: give {key, value}, e.g. {key: openstack-k8s.io/%s, value: enabled}' % (where, role))
        else:
            errors.extend(_validate_key_value('%s.label' % where, label, ('key', 'value')))
        taint = spec.get('taint')
        if taint is not None:
            if not isinstance(taint, dict):
                errors.append('%s.taint: give null or {key, value, effect}' % where)
            else:
                errors.extend(_validate_key_value('%s.taint' % where, taint, ('key', 'value', 'effect')))
                if taint.get('effect') not in TAINT_EFFECTS:
                    errors.append('%s.taint.effect: %r is not one of %s' % (where, taint.get('effect'), ', '.join(TAINT_EFFECTS)))
    return errors


def _validate_key_value(where, item, fields):
    errors = []
    unknown = sorted(set(item) - set(fields))
    if unknown:
        errors.append('%s: unknown field(s) %s; the fields are %s' % (where, ', '.join(unknown), ', '.join(fields)))
    key = item.get('key')
    if not isinstance(key, str) or not QUALIFIED_NAME_RE.match(key) or len(key.split('/')[0]) > 253:
        errors.append('%s.key: %r is not a Kubernetes label/taint key (optional DNS prefix and "/", then up to 63 '
                      'letters, digits, "-", "_", "."), e.g. openstack-k8s.io/compute' % (where, key))
    value = item.get('value', '')
    if value is None:
        value = ''
    if isinstance(value, bool):
        errors.append('%s.value: %r must be a string; quote it ("true")' % (where, value))
    elif not isinstance(value, (str, int)) or not LABEL_VALUE_RE.match(str(value)):
        errors.append('%s.value: %r is not a Kubernetes label value (up to 63 letters, digits, "-", "_", ".")' % (where, value))
    return errors


def _taint(spec):
    taint = dict(key=spec['key'], effect=spec['effect'])
    value = spec.get('value')
    if value not in (None, ''):
        taint['value'] = str(value)
    return taint


def managed(definition):
    """(label keys, taint (key, effect) pairs) the definition manages."""
    labels = set(spec['label']['key'] for spec in definition.values())
    taints = set((spec['taint']['key'], spec['taint']['effect']) for spec in definition.values() if spec.get('taint'))
    return labels, taints


def node_selector(definition, role):
    """The nodeSelector that pins a workload to the nodes of ``role``."""
    label = definition[role]['label']
    return {label['key']: str(label.get('value') or '')}


def tolerations(definition, role):
    """The tolerations a workload needs to run on the (tainted) nodes of ``role``."""
    taint = definition[role].get('taint')
    if not taint:
        return []
    toleration = dict(key=taint['key'], effect=taint['effect'])
    if taint.get('value') not in (None, ''):
        toleration.update(operator='Equal', value=str(taint['value']))
    else:
        toleration['operator'] = 'Exists'
    return [toleration]


# -- the inventory ---------------------------------------------------------------------------
def hosts_by_node(definition, inventory_groups, node_names):
    """({node: {'hosts': [...], 'roles': [...]}}, errors) from the inventory groups."""
    errors = []
    roles_of_host = {}
    for role in sorted(definition):
        for host in inventory_groups.get(definition[role]['group']) or []:
            roles_of_host.setdefault(host, []).append(role)
    nodes = {}
    for host in sorted(roles_of_host):
        node = (node_names or {}).get(host) or host
        if not NODE_NAME_RE.match(node) or len(node) > 253:
            errors.append('host %s: %r is not a Kubernetes node name (lower-case DNS name); set k8s_node_name for the host '
                          'to its node name as `kubectl get nodes` shows it' % (host, node))
            continue
        entry = nodes.setdefault(node, dict(hosts=[], roles=[]))
        if entry['hosts']:
            errors.append('hosts %s and %s both map to Kubernetes node %s; fix k8s_node_name of one of them'
                          % (entry['hosts'][0], host, node))
        entry['hosts'].append(host)
        entry['roles'] = sorted(set(entry['roles']) | set(roles_of_host[host]))
    for node in sorted(nodes):
        for message in desired(definition, nodes[node]['roles'])[2]:
            errors.append('host %s: %s' % (nodes[node]['hosts'][0], message))
    return nodes, errors


def desired(definition, roles):
    """(labels, taints, conflicts) a node of ``roles`` must carry."""
    labels, taints, conflicts = {}, [], []
    owner = {}
    for role in sorted(roles):
        label = definition[role]['label']
        value = str(label.get('value') or '')
        if label['key'] in labels and labels[label['key']] != value:
            conflicts.append('roles %s and %s both set label %s (to %s and %s); a node cannot have both roles'
                             % (owner[label['key']], role, label['key'], labels[label['key']], value))
            continue
        labels[label['key']] = value
        owner[label['key']] = role
        if definition[role].get('taint'):
            taint = _taint(definition[role]['taint'])
            same = [t for t in taints if (t['key'], t['effect']) == (taint['key'], taint['effect'])]
            if same and same[0] != taint:
                conflicts.append('role %s taints %s:%s with a different value than another role of the node'
                                 % (role, taint['key'], taint['effect']))
            elif not same:
                taints.append(taint)
    return labels, taints, conflicts


# -- one node --------------------------------------------------------------------------------
def _same_taint(current, wanted):
    return (current.get('key'), current.get('effect'), current.get('value') or '') == \
        (wanted['key'], wanted['effect'], wanted.get('value') or '')


def plan_node(node, labels, taints, managed_labels, managed_taints):
    """The change of one Node (a dict as the API returns it), or None.

    Returns {'labels': merge-patch labels ({key: value} to set, {key: None} to remove),
    'taints': the complete new taint list, or None when the taints do not change,
    'labels_set', 'labels_removed', 'taints_added', 'taints_removed'}."""
    current_labels = (node.get('metadata') or {}).get('labels') or {}
    current_taints = (node.get('spec') or {}).get('taints') or []
    label_patch = {}
    for key in sorted(managed_labels):
        if key in labels:
            if current_labels.get(key) != labels[key]:
                label_patch[key] = labels[key]
        elif key in current_labels:
            label_patch[key] = None

    new_taints, added, removed = [], [], []
    wanted = dict(((t['key'], t['effect']), t) for t in taints)
    kept = set()
    for taint in current_taints:
        identity = (taint.get('key'), taint.get('effect'))
        if identity not in managed_taints:
            new_taints.append(taint)
        elif identity in wanted and identity not in kept and _same_taint(taint, wanted[identity]):
            new_taints.append(taint)
            kept.add(identity)
        else:
            removed.append(_describe(taint))
    for taint in taints:
        if (taint['key'], taint['effect']) not in kept:
            new_taints.append(copy.deepcopy(taint))
            added.append(_describe(taint))
    taint_change = new_taints if (added or removed) else None
    if not label_patch and taint_change is None:
        return None
    return dict(labels=label_patch, taints=taint_change,
                labels_set=dict((k, v) for k, v in label_patch.items() if v is not None),
                labels_removed=sorted(k for k, v in label_patch.items() if v is None),
                taints_added=added, taints_removed=removed)


def _describe(taint):
    value = taint.get('value')
    return '%s%s:%s' % (taint.get('key'), '=%s' % value if value not in (None, '') else '', taint.get('effect'))


def merge_patch(change, resource_version):
    """A JSON merge patch (RFC 7386) for ``change``. The resourceVersion makes the API server
    reject it with 409 when the Node changed since it was read, because the taint list is
    replaced as a whole."""
    patch = dict(metadata=dict(resourceVersion=resource_version))
    if change['labels']:
        patch['metadata']['labels'] = change['labels']
    if change['taints'] is not None:
        patch['spec'] = dict(taints=change['taints'] or None)
    return patch


def node_view(node, managed_labels):
    """What the diff shows of a Node: its managed labels and all its taints."""
    labels = (node.get('metadata') or {}).get('labels') or {}
    return dict(labels=dict((k, v) for k, v in sorted(labels.items()) if k in managed_labels),
                taints=[_describe(t) for t in (node.get('spec') or {}).get('taints') or []])


def apply_change(node, change):
    """The Node as it will be after ``change`` (for check mode and diffs)."""
    result = copy.deepcopy(node)
    labels = result.setdefault('metadata', {}).setdefault('labels', {}) or {}
    for key, value in change['labels'].items():
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
    result['metadata']['labels'] = labels
    if change['taints'] is not None:
        result.setdefault('spec', {})['taints'] = change['taints']
    return result


def validate_request(definition, inventory_groups, node_names):
    """Every error of the definition and the inventory, before anything is read or changed."""
    errors = validate_definition(definition)
    if not errors:
        errors = hosts_by_node(definition, inventory_groups, node_names)[1]
    return errors


# -- reconcile -------------------------------------------------------------------------------
CONFLICT_RETRIES = 5


class NodeRolesError(Exception):
    def __init__(self, message, result=None):
        super(NodeRolesError, self).__init__(message)
        self.message = message
        self.result = result or {}


def reconcile(client, definition, inventory_groups, node_names, prune, check_mode, conflict_error):
    """Label and taint the Nodes; returns (changed, per-node report, diff).

    ``client`` is a plugins/module_utils/k8s/client.K8sClient; ``conflict_error(exc)`` tells
    whether an exception of the client is a 409 Conflict (the Node changed since it was read),
    after which the Node is read again and the change planned again."""
    errors = validate_request(definition, inventory_groups, node_names)
    if errors:
        raise NodeRolesError('; '.join(errors))
    wanted = hosts_by_node(definition, inventory_groups, node_names)[0]
    managed_labels, managed_taints = managed(definition)

    items, dummy = client.list('v1', 'Node')
    nodes = dict((item['metadata']['name'], item) for item in items)
    absent = [(entry['hosts'][0], node) for node, entry in sorted(wanted.items()) if node not in nodes]
    if absent:
        raise NodeRolesError('; '.join('host %s has no Kubernetes node named %s: join it to the cluster, or set k8s_node_name '
                                       'for the host to its node name (kubectl get nodes)' % pair for pair in absent))

    report, before_view, after_view = {}, {}, {}
    changed = False
    for name in sorted(nodes):
        if name in wanted:
            labels, taints, dummy = desired(definition, wanted[name]['roles'])
            entry = dict(hosts=wanted[name]['hosts'], roles=wanted[name]['roles'])
        elif prune:
            labels, taints = {}, []
            entry = dict(hosts=[], roles=[])
        else:
            continue
        node = nodes[name]
        change = plan_node(node, labels, taints, managed_labels, managed_taints)
        attempt = 0
        while change is not None and not check_mode:
            attempt += 1
            try:
                node = client.patch('v1', 'Node', name, merge_patch(change, node['metadata'].get('resourceVersion')))
                break
            except Exception as exc:  # pylint: disable=broad-except
                if not conflict_error(exc) or attempt >= CONFLICT_RETRIES:
                    raise
            node = client.get('v1', 'Node', name)
            if node is None:
                raise NodeRolesError('Kubernetes node %s disappeared while it was being labelled' % name)
            change = plan_node(node, labels, taints, managed_labels, managed_taints)
        if change is None and name not in wanted:
            continue
        if change is not None:
            changed = True
            entry.update(labels_set=change['labels_set'], labels_removed=change['labels_removed'],
                         taints_added=change['taints_added'], taints_removed=change['taints_removed'])
            before_view[name] = node_view(nodes[name], managed_labels)
            after_view[name] = node_view(apply_change(nodes[name], change) if check_mode else node, managed_labels)
        entry['changed'] = change is not None
        report[name] = entry
    return changed, report, dict(before=before_view, after=after_view)
