# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decision logic of galera_bootstrap: member states in, a plan out.

A *member state* is a dict (built by :mod:`.transport` from the start script's ``info``
output, plus the result of ``recover`` when it was run)::

    name            str
    error           None or str   the member could not be read at all (transport failure)
    running         bool          mariadbd is running
    status          None or dict  wsrep status variables (lower-case names) when it answers
    grastate        None or dict  parsed grastate.dat (None: no file, a fresh data directory)
    grastate_error  None or str   grastate.dat exists but cannot be parsed
    recovered       None or dict  {'uuid', 'seqno'} from ``mariadbd --wsrep-recover``
    recover_error   None or str   recovery was attempted and produced no position

:func:`decide` returns a plan dict:

    action     'none' | 'join' | 'bootstrap' | 'scale_down' | 'refuse'
    bootstrap  the member to start with --wsrep-new-cluster, or None
    join       members to start normally, in this order, one at a time
    leave      members to stop gracefully (scale down), in this order, one at a time
    reason     why, in one sentence, for the operator
    refusal    the message when action is 'refuse' (what is wrong and what to do)
    positions  one entry per member: name, uuid, seqno, source, safe_to_bootstrap,
               running, cluster_status, local_state, cluster_size, error
    warnings   things the operator should know that do not stop the run
    steps      for join/leave: the view size before and after each step and whether the
               remaining members keep a majority of the previous view

Rules, in priority order (safety first):

1. If any member runs in a Primary Component, nothing is ever bootstrapped: the stopped
   members are joined to it (``force`` is refused). Two Primary Components with different
   cluster uuids, or an unreadable member, stop the run.
2. Otherwise, a member that runs without a Primary Component (or whose status cannot be
   read) stops the run: its position is only safe once it is stopped gracefully.
3. Otherwise (full outage, or a fresh deployment) every member's position is compared:
   grastate.dat seqno, or the recovered seqno where grastate says -1. Unreadable members
   and members with different cluster uuids stop the run unless ``force`` names the member
   to bootstrap. The member with the highest seqno is chosen; ties go to the member marked
   safe_to_bootstrap, then to the first in member order. With no data anywhere (fresh), the
   first member bootstraps.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.grastate import ZERO_UUID


class DecisionInputError(ValueError):
    """Bad input (replicas, member names, force): the message names the field and the fix."""


def validate(replicas, member_names, force=None):
    """Raise :class:`DecisionInputError` for input no plan can be made from."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise DecisionInputError('galera replicas must be an odd integer (2n+1), got %r' % (replicas,))
    if replicas < 1 or replicas % 2 == 0:
        raise DecisionInputError('galera replicas must be odd (2n+1), got %d' % replicas)
    if not member_names:
        raise DecisionInputError('galera members must list at least one member, got none')
    seen = set()
    for name in member_names:
        if not name:
            raise DecisionInputError('galera members: every member needs a non-empty name')
        if name in seen:
            raise DecisionInputError('galera members: name %r appears twice; names must be unique' % name)
        seen.add(name)
    if replicas > len(member_names):
        raise DecisionInputError('galera replicas is %d but members lists only %d (%s); list every member, or lower replicas'
                                 % (replicas, len(member_names), ', '.join(member_names)))
    if force is not None and force not in seen:
        raise DecisionInputError('galera force names %r, which is not a member; use one of: %s' % (force, ', '.join(member_names)))


def _status(member, key):
    return (member.get('status') or {}).get(key)


def is_primary(member):
    return bool(member.get('running')) and _status(member, 'wsrep_cluster_status') == 'Primary'


def is_synced(member):
    return is_primary(member) and _status(member, 'wsrep_local_state_comment') == 'Synced'


def is_unreadable(member):
    return bool(member.get('error') or member.get('grastate_error') or member.get('recover_error'))


def _unreadable_reason(member):
    return member.get('error') or member.get('grastate_error') or member.get('recover_error')


def needs_recovery(member):
    """True when the member is stopped and grastate.dat does not hold its position (seqno -1)."""
    grastate = member.get('grastate')
    return (not member.get('running') and not is_unreadable(member) and grastate is not None
            and grastate['uuid'] != ZERO_UUID and grastate['seqno'] == -1 and member.get('recovered') is None)


def position(member):
    """The member's place in the cluster history, and where that knowledge came from."""
    grastate = member.get('grastate')
    entry = {
        'name': member['name'],
        'uuid': None,
        'seqno': None,
        'source': 'none',
        'safe_to_bootstrap': grastate.get('safe_to_bootstrap') if grastate else None,
        'running': bool(member.get('running')),
        'cluster_status': _status(member, 'wsrep_cluster_status'),
        'local_state': _status(member, 'wsrep_local_state_comment'),
        'cluster_size': _int_or_none(_status(member, 'wsrep_cluster_size')),
        'error': _unreadable_reason(member),
    }
    if entry['error']:
        entry['source'] = 'unreadable'
    elif member.get('running'):
        if member.get('status'):
            entry.update(uuid=_status(member, 'wsrep_cluster_state_uuid'),
                         seqno=_int_or_none(_status(member, 'wsrep_last_committed')), source='running')
    elif grastate is not None and grastate['uuid'] != ZERO_UUID:
        recovered = member.get('recovered')
        if grastate['seqno'] >= 0:
            entry.update(uuid=grastate['uuid'], seqno=grastate['seqno'], source='grastate')
        elif recovered is not None:
            uuid = recovered['uuid'] if recovered['uuid'] != ZERO_UUID else grastate['uuid']
            entry.update(uuid=uuid, seqno=recovered['seqno'], source='recovered')
        else:
            entry.update(uuid=grastate['uuid'], seqno=None, source='unknown')
    return entry


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def quorum_steps(view_size, joins, leaves):
    """Each join/leave as a step: view size before and after, and whether a majority survives.

    A graceful leave shrinks the view; Galera keeps the Primary Component as long as the
    members that remain are more than half of the previous view. Joins only grow it.
    """
    steps = []
    size = view_size
    for name in joins:
        steps.append({'action': 'join', 'member': name, 'size_before': size, 'size_after': size + 1, 'quorum_kept': True})
        size += 1
    for name in leaves:
        steps.append({'action': 'leave', 'member': name, 'size_before': size, 'size_after': size - 1,
                      'quorum_kept': (size - 1) * 2 > size})
        size -= 1
    return steps


def _plan(action, positions, reason='', bootstrap=None, join=(), leave=(), refusal=None, warnings=(), steps=()):
    return {'action': action, 'bootstrap': bootstrap, 'join': list(join), 'leave': list(leave), 'reason': reason,
            'refusal': refusal, 'positions': positions, 'warnings': list(warnings), 'steps': list(steps)}


def _describe(entry):
    if entry['source'] == 'unreadable':
        return '%s: unreadable (%s)' % (entry['name'], entry['error'])
    if entry['source'] == 'none':
        return '%s: no data (fresh)' % entry['name']
    text = '%s: %s:%s from %s' % (entry['name'], entry['uuid'], entry['seqno'], entry['source'])
    if entry['safe_to_bootstrap']:
        text += ', safe_to_bootstrap'
    return text


def describe_positions(positions):
    return '; '.join(_describe(p) for p in positions)


def decide(members, replicas, force=None):
    """Plan for ``members`` (member states, in ordinal order) so that ``replicas`` run Synced."""
    names = [m['name'] for m in members]
    validate(replicas, names, force)
    positions = [position(m) for m in members]
    by_name = dict((m['name'], m) for m in members)
    desired = names[:replicas]
    extras = names[replicas:]
    primary = [m for m in members if is_primary(m)]
    unreadable = [m['name'] for m in members if is_unreadable(m)]

    if primary:
        return _decide_with_primary(members, positions, primary, unreadable, desired, extras, force)

    running = [m['name'] for m in members if m.get('running')]
    if running:
        states = ', '.join('%s (wsrep_cluster_status=%s)' % (n, _status(by_name[n], 'wsrep_cluster_status') or 'unreadable')
                           for n in running)
        return _plan('refuse', positions, refusal=(
            'no Primary Component, but member(s) %s still run; their position is only safe to compare once they are '
            'stopped. Stop them gracefully (galera-start.sh stop, or delete the pod) and re-run; nothing was changed. '
            'Positions: %s' % (states, describe_positions(positions))))
    return _decide_outage(positions, unreadable, desired, force)


def _decide_with_primary(members, positions, primary, unreadable, desired, extras, force):
    uuids = sorted(set(_status(m, 'wsrep_cluster_state_uuid') for m in primary))
    names = ', '.join(m['name'] for m in primary)
    if len(uuids) > 1:
        return _plan('refuse', positions, refusal=(
            'members %s run in Primary Components of different clusters (%s); this needs a person: '
            'decide which cluster is authoritative, stop the other one. Nothing was changed.' % (names, ', '.join(uuids))))
    if force is not None:
        return _plan('refuse', positions, refusal=(
            'force=%s refused: member(s) %s already run in a Primary Component (cluster %s, size %s); bootstrapping '
            'would create a second one. Remove force: the module joins the stopped members to the running cluster.'
            % (force, names, uuids[0], _status(primary[0], 'wsrep_cluster_size'))))
    if unreadable:
        return _plan('refuse', positions, refusal=(
            'member(s) %s cannot be read (%s); the running cluster (%s) is untouched. Fix access to them and re-run.'
            % (', '.join(unreadable), describe_positions([p for p in positions if p['name'] in unreadable]), names)))
    by_name = dict((m['name'], m) for m in members)
    join = [n for n in desired if not by_name[n].get('running')]
    leave = [n for n in reversed(extras) if by_name[n].get('running')]
    warnings = ['member %s runs but is not in the Primary Component (wsrep_cluster_status=%s); it is left alone'
                % (n, _status(by_name[n], 'wsrep_cluster_status')) for n in desired + extras
                if by_name[n].get('running') and not is_primary(by_name[n])]
    view = max(_int_or_none(_status(m, 'wsrep_cluster_size')) or 0 for m in primary)
    steps = quorum_steps(view, join, leave)
    if join:
        reason = 'member(s) %s run in a Primary Component; joining %s to it, one at a time; nothing is bootstrapped' % (
            names, ', '.join(join))
        action = 'join'
    elif leave:
        reason = 'scaling down: stopping %s gracefully, one at a time' % ', '.join(leave)
        action = 'scale_down'
    else:
        reason = 'all %d desired members run in the Primary Component' % len(desired)
        action = 'none'
    return _plan(action, positions, reason=reason, join=join, leave=leave, warnings=warnings, steps=steps)


def _decide_outage(positions, unreadable, desired, force):
    with_data = [p for p in positions if p['source'] in ('grastate', 'recovered', 'unknown')]
    unknown = [p['name'] for p in positions if p['source'] == 'unknown']
    problems = []
    if unreadable:
        problems.append('member(s) %s cannot be read' % ', '.join(unreadable))
    if unknown:
        problems.append('member(s) %s have seqno -1 and no recovered position' % ', '.join(unknown))
    uuids = sorted(set(p['uuid'] for p in with_data))
    if len(uuids) > 1:
        problems.append('members belong to different clusters: %s' % ', '.join(
            '%s=%s' % (p['name'], p['uuid']) for p in with_data))
    table = describe_positions(positions)

    if force is not None:
        forced = [p for p in positions if p['name'] == force][0]
        if forced['source'] == 'unreadable':
            return _plan('refuse', positions, refusal='force=%s refused: that member itself cannot be read (%s)' % (
                force, forced['error']))
        warnings = ['force=%s overrides: %s' % (force, '; '.join(problems))] if problems else []
        ahead = [p['name'] for p in with_data if forced['seqno'] is not None and p['seqno'] is not None and
                 p['uuid'] == forced['uuid'] and p['seqno'] > forced['seqno']]
        if ahead:
            warnings.append('member(s) %s are ahead of %s: their transactions after seqno %s will be lost and they will '
                            'refuse to join until their grastate.dat is removed (full SST)' % (', '.join(ahead), force, forced['seqno']))
        return _plan('bootstrap', positions, bootstrap=force, join=[n for n in desired if n != force],
                     reason='force: the operator named %s; positions: %s' % (force, table), warnings=warnings)
    if problems:
        return _plan('refuse', positions, refusal=(
            'refusing to bootstrap: %s. Nothing was started. Positions: %s. Fix the cause (see docs/galera.md), or re-run '
            'with force=<member> naming the member whose data must win.' % ('; '.join(problems), table)))
    if not with_data:
        first = desired[0]
        return _plan('bootstrap', positions, bootstrap=first, join=desired[1:],
                     reason='fresh deployment: no member has data; %s bootstraps the new cluster' % first)

    order = dict((p['name'], i) for i, p in enumerate(positions))
    best = max(with_data, key=lambda p: (p['seqno'], 1 if p['safe_to_bootstrap'] else 0, -order[p['name']]))
    tied = [p['name'] for p in with_data if p['seqno'] == best['seqno']]
    if len(tied) == 1:
        why = 'highest seqno %d in cluster %s' % (best['seqno'], best['uuid'])
    elif best['safe_to_bootstrap'] and len([n for n in tied if positions[order[n]]['safe_to_bootstrap']]) == 1:
        why = 'seqno %d shared by %s; %s is marked safe_to_bootstrap' % (best['seqno'], ', '.join(tied), best['name'])
    else:
        why = 'seqno %d shared by %s; first in member order' % (best['seqno'], ', '.join(tied))
    return _plan('bootstrap', positions, bootstrap=best['name'], join=[n for n in desired if n != best['name']],
                 reason='full outage: %s bootstraps (%s); positions: %s' % (best['name'], why, table))
