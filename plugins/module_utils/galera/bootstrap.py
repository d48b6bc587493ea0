# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Orchestration of galera_bootstrap and galera_info: read, decide, then act (or not).

1. read every member through the transport (``info``);
2. when no member runs in a Primary Component, recover the position of stopped members
   whose grastate.dat says seqno -1 (``mariadbd --wsrep-recover``, read-only for the
   cluster position; check mode does it too, or it could not report a decision);
3. :func:`~.decision.decide`;
4. check mode, ``none`` or ``refuse``: return / raise here;
5. act: start the members' run processes (host transport), re-read every member and
   abort if a Primary Component appeared meanwhile, hand ``bootstrap`` to the chosen member
   and wait until it is Primary and Synced, then hand ``join`` to the others one at a
   time, each waited for; scale-down stops members gracefully one at a time;
6. wait until ``replicas`` members are Synced in one Primary Component of that size.

Functions return result dicts; failures raise :class:`GaleraError` (its ``result`` holds
the positions and everything done so far). Nothing here exits.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera import decision
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.transport import TransportError, is_waiting

MEMBER_SPEC = dict(
    name=dict(type='str', required=True),
    defaults_file=dict(type='path'),
    control_dir=dict(type='path'),
    env=dict(type='dict', default={}),
    pod=dict(type='str'),
)

CONNECTION_SPEC = dict(
    members=dict(type='list', elements='dict', required=True, options=MEMBER_SPEC),
    transport=dict(type='str', default='host', choices=['host', 'kubernetes']),
    start_script=dict(type='path', default='/usr/local/bin/galera-start.sh'),
    script_env=dict(type='dict', default={}),
    namespace=dict(type='str'),
    container=dict(type='str'),
    kubeconfig=dict(type='path'),
    context=dict(type='str'),
)

BOOTSTRAP_SPEC = dict(
    CONNECTION_SPEC,
    replicas=dict(type='int', required=True),
    force=dict(type='str'),
    timeout=dict(type='int', default=600),
    poll_interval=dict(type='float', default=0.5),
)

INFO_SPEC = dict(
    CONNECTION_SPEC,
    replicas=dict(type='int'),
    recover_positions=dict(type='bool', default=False),
)


class GaleraError(RuntimeError):
    """The run stopped: refused, timed out or a member failed. ``result`` says how far it got."""

    def __init__(self, msg, result=None):
        super(GaleraError, self).__init__(msg)
        self.result = result or {}


def validate_connection(params):
    """Input checks that need no member: raise ValueError naming the field and the fix."""
    members = params['members']
    if params['transport'] == 'kubernetes':
        if not params.get('namespace'):
            raise ValueError('galera namespace is required with transport=kubernetes (the namespace of the Galera pods)')
    else:
        for member in members:
            missing = [k for k in ('defaults_file', 'control_dir') if not member.get(k)]
            if missing:
                raise ValueError('galera members[%s] needs %s with transport=host (its my.cnf and its control directory)'
                                 % (member.get('name'), ' and '.join(missing)))


def read_members(transport, names):
    return [transport.info(name) for name in names]


def recover_positions(transport, states):
    """Fill ``recovered``/``recover_error`` where the position is not in grastate.dat."""
    recovered = {}
    for state in states:
        if decision.needs_recovery(state):
            try:
                state['recovered'] = transport.recover(state['name'])
                recovered[state['name']] = '%(uuid)s:%(seqno)d' % state['recovered']
            except TransportError as exc:
                state['recover_error'] = str(exc)
    return recovered


def summarize(state):
    status = state.get('status') or {}
    return {
        'name': state['name'],
        'running': state['running'],
        'waiting': is_waiting(state) if not state.get('error') else False,
        'cluster_status': status.get('wsrep_cluster_status'),
        'local_state': status.get('wsrep_local_state_comment'),
        'cluster_size': int(status['wsrep_cluster_size']) if status.get('wsrep_cluster_size', '').isdigit() else None,
        'cluster_uuid': status.get('wsrep_cluster_state_uuid'),
        'last_committed': int(status['wsrep_last_committed']) if status.get('wsrep_last_committed', '').isdigit() else None,
        'grastate': state.get('grastate'),
        'error': state.get('error') or state.get('grastate_error') or state.get('recover_error') or state.get('status_error'),
    }


def describe_state(state):
    """One line per member for diff mode; the prediction (check mode) uses the same words."""
    if state.get('error'):
        return 'unreadable'
    if state['running']:
        status = state.get('status') or {}
        return 'running, %s, %s, size %s' % (status.get('wsrep_local_state_comment'), status.get('wsrep_cluster_status'),
                                             status.get('wsrep_cluster_size'))
    grastate = state.get('grastate')
    return 'stopped, %s' % ('seqno %s' % grastate['seqno'] if grastate else 'no data')


def predict_after(states, plan, replicas):
    after = dict((s['name'], describe_state(s)) for s in states)
    for name in ([plan['bootstrap']] if plan['bootstrap'] else []) + plan['join']:
        after[name] = 'running, Synced, Primary, size %d' % replicas
    if plan['join'] or plan['leave'] or plan['bootstrap']:
        for state in states:
            if state['running'] and state['name'] not in plan['leave']:
                after[state['name']] = 'running, Synced, Primary, size %d' % replicas
    for name in plan['leave']:
        after[name] = 'stopped'
    return after


def _last_seen(state):
    status = state.get('status') or {}
    return 'running=%s, control=%s (pid %s, alive %s, since %s), wsrep_local_state_comment=%s, wsrep_cluster_status=%s, wsrep_cluster_size=%s%s' % (
        state['running'], state['control'].get('state'), state['control'].get('pid'), state['control'].get('alive'),
        state['control'].get('since'), status.get('wsrep_local_state_comment'),
        status.get('wsrep_cluster_status'), status.get('wsrep_cluster_size'),
        ', error=%s' % state['error'] if state.get('error') else '')


class Runner(object):
    """One galera_bootstrap run over a transport."""

    def __init__(self, transport, names, replicas, force=None, check_mode=False, timeout=600, poll_interval=0.5,
                 clock=time.monotonic, sleep=time.sleep):
        self.transport = transport
        self.names = list(names)
        self.replicas = replicas
        self.force = force
        self.check_mode = check_mode
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        self.deadline = self.started + timeout
        self.events = []
        self.result = {'changed': False, 'action': None, 'bootstrapped': None, 'joined': [], 'left': [], 'reason': None,
                       'advisories': [], 'positions': [], 'recovered': {}, 'steps': [], 'events': self.events}

    def event(self, text):
        self.events.append('%6.1fs %s' % (self.clock() - self.started, text))

    def fail(self, msg):
        self.result['elapsed'] = round(self.clock() - self.started, 2)
        raise GaleraError(msg, self.result)

    def decide(self):
        decision.validate(self.replicas, self.names, self.force)
        states = read_members(self.transport, self.names)
        if not any(decision.is_primary(s) for s in states):
            self.result['recovered'] = recover_positions(self.transport, states)
            for name, pos in sorted(self.result['recovered'].items()):
                self.event('recovered %s: %s' % (name, pos))
        plan = decision.decide(states, self.replicas, self.force)
        self.result.update(action=plan['action'], reason=plan['reason'] or plan['refusal'], positions=plan['positions'],
                           advisories=plan['warnings'], steps=plan['steps'], plan={
                               'bootstrap': plan['bootstrap'], 'join': plan['join'], 'leave': plan['leave']})
        return plan, states

    def run(self):
        plan, states = self.decide()
        if plan['action'] == 'refuse':
            self.fail(plan['refusal'])
        self.result['changed'] = plan['action'] != 'none'
        before = dict((st['name'], describe_state(st)) for st in states)
        self.result['diff'] = {'before': before, 'after': predict_after(states, plan, self.replicas)}
        self.result['after'] = self.result['diff']['after']
        if self.check_mode or plan['action'] == 'none':
            self.result['members'] = [summarize(s) for s in states]
            self.result['elapsed'] = round(self.clock() - self.started, 2)
            return self.result
        if plan['action'] == 'bootstrap':
            self._bootstrap(plan)
        for name in plan['join']:
            self._join(name)
        for step in plan['steps']:
            if step['action'] == 'leave':
                self._leave(step['member'], step['size_after'])
        final = self._wait_all_synced(self.names[:self.replicas])
        self.result['members'] = [summarize(s) for s in final]
        self.result['diff']['after'] = dict(before, **dict((st['name'], describe_state(st)) for st in final))
        for name in plan['leave']:
            self.result['diff']['after'][name] = 'stopped'
        self.result['after'] = self.result['diff']['after']
        self.result['cluster_size'] = self.replicas
        self.result['elapsed'] = round(self.clock() - self.started, 2)
        self.event('%d members Synced in one Primary Component' % self.replicas)
        return self.result

    # -- acting ----------------------------------------------------------------------
    def _remaining(self):
        return max(1.0, self.deadline - self.clock())

    def _bootstrap(self, plan):
        chosen = plan['bootstrap']
        for name in [chosen] + plan['join']:
            try:
                self.transport.ensure_waiting(name, timeout=min(120.0, self._remaining()))
            except TransportError as exc:
                self.fail('before bootstrapping %s: %s' % (chosen, exc))
        # the decision is minutes old at worst: look again right before the one irreversible step
        fresh = read_members(self.transport, self.names)
        appeared = [s['name'] for s in fresh if s['running']]
        if appeared:
            self.fail('aborted before bootstrapping %s: member(s) %s started meanwhile (%s); re-run to decide again'
                      % (chosen, ', '.join(appeared), '; '.join(_last_seen(s) for s in fresh if s['running'])))
        self.transport.command(chosen, 'bootstrap')
        self.result['bootstrapped'] = chosen
        self.event('bootstrap handed to %s' % chosen)
        self._wait_member_synced(chosen, None)
        self.event('%s is Primary and Synced' % chosen)

    def _join(self, name):
        try:
            state = self.transport.ensure_waiting(name, timeout=min(120.0, self._remaining()))
        except TransportError as exc:
            self.fail('joining %s: %s' % (name, exc))
        if not state['running']:
            self.transport.command(name, 'join')
            self.event('join handed to %s' % name)
        self._wait_member_synced(name, state['control'].get('since'))
        self.result['joined'].append(name)
        self.event('%s joined and is Synced' % name)

    def _leave(self, name, size_after):
        self.transport.stop(name)
        self.result['left'].append(name)
        self.event('%s stopped gracefully' % name)
        # the next member leaves only once the others installed the smaller view
        witness = self.names[0]
        while True:
            state = self.transport.info(witness)
            if decision.is_primary(state) and (state.get('status') or {}).get('wsrep_cluster_size') == str(size_after):
                break
            if self.clock() > self.deadline:
                self.fail('timed out after %ds waiting for a Primary Component of %d after %s left; last seen on %s: %s'
                          % (self.timeout, size_after, name, witness, _last_seen(state)))
            self.sleep(self.poll_interval)
        self.event('view of %d members installed' % size_after)

    # -- waiting ---------------------------------------------------------------------
    def _wait_member_synced(self, name, since_before):
        state = None
        stopped_reads = 0
        while True:
            state = self.transport.info(name)
            if decision.is_synced(state):
                return state
            control = state['control']
            gone = not state['running'] and not control['alive']
            restarted = is_waiting(state) and since_before is not None and control.get('since') != since_before
            # three reads in a row, so one unlucky read (a process between states) cannot fail the run
            stopped_reads = stopped_reads + 1 if not state.get('error') and (gone or restarted) else 0
            if stopped_reads >= 3:
                self.fail('%s stopped while starting (its mariadbd exited; see its error log and %s start.log); last seen: %s'
                          % (name, self.transport.where(name), _last_seen(state)))
            if self.clock() > self.deadline:
                self.fail('timed out after %ds waiting for %s to be Synced in a Primary Component; last seen: %s'
                          % (self.timeout, name, _last_seen(state)))
            self.sleep(self.poll_interval)

    def _wait_all_synced(self, names):
        while True:
            states = read_members(self.transport, names)
            bad = [s for s in states if not decision.is_synced(s) or
                   (s.get('status') or {}).get('wsrep_cluster_size') != str(self.replicas)]
            if not bad:
                return states
            if self.clock() > self.deadline:
                self.fail('timed out after %ds waiting for %d members Synced in one Primary Component; not there: %s'
                          % (self.timeout, self.replicas, '; '.join('%s (%s)' % (s['name'], _last_seen(s)) for s in bad)))
            self.sleep(self.poll_interval)


def info(transport, names, replicas=None, recover=False):
    """galera_info: every member's state and, with ``replicas``, what galera_bootstrap would do."""
    states = read_members(transport, names)
    result = {'changed': False, 'recovered': {}}
    if recover and not any(decision.is_primary(s) for s in states):
        result['recovered'] = recover_positions(transport, states)
    result['members'] = [summarize(s) for s in states]
    result['positions'] = [decision.position(s) for s in states]
    primary = [s for s in states if decision.is_primary(s)]
    result['primary'] = bool(primary)
    result['cluster_size'] = max([int(s['status']['wsrep_cluster_size']) for s in primary] or [0])
    result['all_synced'] = bool(states) and all(decision.is_synced(s) for s in states)
    if replicas is not None:
        plan = decision.decide(states, replicas)
        result['plan'] = dict((k, plan[k]) for k in ('action', 'bootstrap', 'join', 'leave', 'reason', 'refusal'))
        result['plan']['advisories'] = plan['warnings']
    return result
