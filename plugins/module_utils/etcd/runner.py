# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Orchestration for the etcd modules: validate, read once, plan, then simulate or apply.

Check mode runs the same read and plan as a real run and stops before :meth:`EtcdClient.apply`,
so what check mode predicts is what a real run does. Functions return result dicts and
raise :class:`~.tree.TreeError` (bad input, before any connection) or
:class:`~.client.EtcdError`; they never exit.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd import tree as tree_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import EtcdClient, ETCD_CONNECTION_SPEC
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import is_secret_name, MASK

CONFIG_TREE_SPEC = dict(
    prefix=dict(type='str', default='/openstack'),
    tree=dict(type='dict'),
    prune=dict(type='bool', default=False),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    max_txn_ops=dict(type='int', default=128),
)
CONFIG_TREE_SPEC.update(ETCD_CONNECTION_SPEC)

CONFIG_TREE_INFO_SPEC = dict(
    prefix=dict(type='str', default='/openstack'),
    path=dict(type='str', default=''),
)
CONFIG_TREE_INFO_SPEC.update(ETCD_CONNECTION_SPEC)


def client_from_params(params):
    return EtcdClient(endpoints=params['endpoints'], ca_cert=params.get('ca_cert'),
                      client_cert=params.get('client_cert'), client_key=params.get('client_key'),
                      username=params.get('username'), password=params.get('password'),
                      timeout=params.get('timeout') or 10, max_txn_ops=params.get('max_txn_ops') or 128)


def _diff_text(mapping):
    return ''.join('%s = %s\n' % (key, mapping[key]) for key in sorted(mapping))


def run_config_tree(params, check_mode=False, want_diff=False, client_factory=client_from_params):
    """Reconcile the tree under ``params['prefix']``; returns the module result dict."""
    prefix = tree_lib.validate_prefix(params['prefix'])
    state = params.get('state') or 'present'
    tree = params.get('tree')
    if state == 'present' and tree is None:
        raise tree_lib.TreeError(['tree is required with state=present (use {} with prune=true to empty the prefix)'])
    desired = tree_lib.flatten(tree) if tree is not None else {}
    base = prefix + '/'
    with client_factory(params) as client:
        found, revision = client.read_prefix(base)
        read_revision = revision
        current = dict((key[len(base):], value) for key, (value, _mod) in found.items())
        observed = dict((key, mod) for key, (_value, mod) in found.items())
        plan = tree_lib.plan(desired, current, prune=bool(params.get('prune')), state=state,
                             remove_all=(state == 'absent' and tree is None))
        if plan.changed and not check_mode:
            revision = client.apply(base, dict((base + k, v) for k, v in plan.puts.items()),
                                    [base + k for k in plan.deletes], observed, revision)
        result = dict(changed=plan.changed, added=plan.added, updated=plan.updated, removed=plan.removed,
                      revision=revision, requests=dict(client.requests), writes=client.writes)
    if want_diff:
        diff = plan.diff()
        result['diff'] = dict(before=_diff_text(diff['before']), after=_diff_text(diff['after']),
                              before_header='%s (revision %d)' % (prefix, read_revision), after_header=prefix)
    return result


def run_config_tree_info(params, client_factory=client_from_params):
    """The subtree under ``prefix``/``path`` as a nested dict (plaintext secret-named values masked)."""
    prefix = tree_lib.validate_prefix(params['prefix'])
    path = (params.get('path') or '').strip('/')
    if path and any(segment == '' for segment in path.split('/')):
        raise tree_lib.TreeError(['path %r has an empty segment; write it like controller/glance' % params['path']])
    base = '%s/%s/' % (prefix, path) if path else prefix + '/'
    with client_factory(params) as client:
        found, revision = client.read_prefix(base)
        requests = dict(client.requests)
    flat = {}
    masked = []
    for key, (value, _mod) in found.items():
        relative = key[len(base):]
        if is_secret_name(relative) and value and not tree_lib.is_reference(value):
            value = MASK
            masked.append(relative)
        flat[relative] = value
    return dict(changed=False, tree=tree_lib.unflatten(flat), count=len(flat), revision=revision,
                masked=sorted(masked), requests=requests)
