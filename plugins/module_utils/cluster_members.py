# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Members leaving the quorum clusters that run in StatefulSets: RabbitMQ and the in-cluster etcd.

A StatefulSet removes pods, not cluster members. Shrinking one without telling the cluster
leaves members that never answer again but still count: an etcd of 5 voters with 2 gone
needs 3 of the 3 left for every write, and RabbitMQ's quorum queues keep replicas on nodes
that are gone. So before ``scale.yml`` shrinks the StatefulSet, the members above the new
count leave, **the highest ordinal first, one at a time, each checked** before the next:

* **RabbitMQ** (``rabbitmqctl`` and ``rabbitmq-queues`` in the pods): the leaving node's quorum
  queue replicas are moved off it first (``rabbitmq-queues shrink <node>``, while it still
  runs, so every queue keeps its majority), then its application stops (``stop_app``), then a
  member that stays forgets it (``forget_cluster_node``), and ``cluster_status`` must no
  longer list it.
* **etcd** (``etcdctl`` in the pods): ``member remove`` through a member that stays; etcd
  itself refuses a removal that would cost the quorum (strict reconfiguration check), and the
  removed member stops by itself.

Every member that stays must be Ready first: a member leaves only from a healthy cluster.

After the StatefulSet shrank, :func:`departed_claims` / :func:`delete_departed_claims` remove
the data volumes of the ordinals above the count once their pods are gone: a volume of a
member that left must not come back on a later scale-up (a forgotten RabbitMQ node and a
removed etcd member both refuse to start from their old data).

Which member is which pod: RabbitMQ's node names come from ``rabbitmqctl eval 'node().'`` in
each pod; etcd's member names are the pod names (the start script's ``--name``), and a member
added but never started has no name yet, so its peer URL's host (``<pod>.<headless service>``)
names it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import info, podexec
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import build_api_client

SERVICES = ('rabbitmq', 'etcd')
CLAIM = ('v1', 'PersistentVolumeClaim')
POD = ('v1', 'Pod')
STATEFULSET = ('apps/v1', 'StatefulSet')
# etcdctl waits 5 s for an answer by default, short for a membership change on a busy node.
ETCD_TIMEOUTS = ['--dial-timeout=5s', '--command-timeout=30s']
# Answers after which a removal is asked again (the member list is read first: it may have been applied).
ETCD_TRANSIENT = ('unhealthy cluster', 'context deadline exceeded', 'leader changed', 'request timed out',
                  'too many requests')


class MembersError(Exception):
    """A refusal or a failed step; the message names the member, the step and what to do."""

    def __init__(self, message, **details):
        super(MembersError, self).__init__(message)
        self.message = message
        self.details = details


def ordinal_of(name, statefulset):
    """The ordinal of pod ``<statefulset>-<n>``, or None for any other name."""
    match = re.match(r'^%s-([0-9]+)$' % re.escape(statefulset), name or '')
    return int(match.group(1)) if match else None


def parse_node_name(text):
    """The node name ``rabbitmqctl eval 'node().'`` printed: an Erlang atom, quoted when it has dots or dashes."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    if not lines:
        return None
    atom = lines[-1]
    if len(atom) >= 2 and atom[0] == atom[-1] == "'":
        atom = atom[1:-1].replace("\\'", "'")
    return atom if '@' in atom else None


def parse_cluster_status(text):
    """(member nodes, running nodes) from ``rabbitmqctl cluster_status --formatter json``."""
    start = (text or '').find('{')
    try:
        data = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or 'running_nodes' not in data:
        raise MembersError('rabbitmqctl cluster_status printed no readable JSON: %r' % (text or '').strip()[-300:])
    running = set(data.get('running_nodes') or [])
    members = set(data.get('disk_nodes') or []) | set(data.get('ram_nodes') or []) | running
    return members, running


def parse_member_list(text):
    """``etcdctl member list -w json`` as [{id (hex), name, peer_urls, learner}]."""
    try:
        data = json.loads(text or '')
    except ValueError:
        raise MembersError('etcdctl member list printed no readable JSON: %r' % (text or '').strip()[-300:])
    members = []
    for member in (data or {}).get('members') or []:
        members.append(dict(id='%x' % int(member['ID']), name=member.get('name') or '',
                            peer_urls=list(member.get('peerURLs') or []), learner=bool(member.get('isLearner'))))
    return members


def etcd_member_pod(member, statefulset):
    """The pod a member belongs to: its name, or for a member not started yet the host of its peer URL."""
    if ordinal_of(member['name'], statefulset) is not None:
        return member['name']
    for url in member['peer_urls']:
        host = re.sub(r'^[a-z]+://', '', url).split(':')[0].split('.')[0]
        if ordinal_of(host, statefulset) is not None:
            return host
    return None


def exec_runner(params, client):
    """run_exec for :class:`Members`: one API client for every exec, opened through the client's retry policy."""
    api = []

    def run_exec(pod, argv, container):
        if not api:
            api.append(build_api_client(params))
        return info.pod_exec(api[0], params['namespace'], pod, argv, container, timeout=params['exec_timeout'],
                             retry=client.policy)
    return run_exec


class Members(object):
    """The members of one quorum StatefulSet, read and changed through the pod exec API.

    ``run_exec(pod, argv, container)`` returns (exit code, stdout, stderr) and raises
    :class:`podexec.ExecError` when the command cannot run; the module passes the real one,
    unit tests a table.
    """

    def __init__(self, client, run_exec, service, namespace, statefulset=None, container='server',
                 clock=time.monotonic, sleep=time.sleep):
        if service not in SERVICES:
            raise MembersError('service must be one of %s, got %s' % (', '.join(SERVICES), service))
        self.client = client
        self.run_exec = run_exec
        self.service = service
        self.namespace = namespace
        self.statefulset = statefulset or '%s-server' % service
        self.container = container
        self.clock = clock
        self.sleep = sleep
        self.execs = 0
        self.steps = []

    # ------------------------------------------------------------------ the Kubernetes side
    def workload(self):
        sts = self.client.get(STATEFULSET[0], STATEFULSET[1], self.statefulset, self.namespace)
        if sts is None:
            raise MembersError('StatefulSet %s/%s does not exist: %s is not deployed there (run site.yml first, '
                               'or name the StatefulSet)' % (self.namespace, self.statefulset, self.service))
        return sts

    def pods(self, sts=None):
        """{ordinal: pod} of the StatefulSet's pods."""
        sts = sts or self.workload()
        labels = ((sts.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
        items, _version = self.client.list(POD[0], POD[1], namespace=self.namespace,
                                           label_selector=','.join('%s=%s' % kv for kv in sorted(labels.items())))
        found = {}
        for pod in items:
            number = ordinal_of(pod['metadata']['name'], self.statefulset)
            if number is not None:
                found[number] = pod
        return found

    def _staying(self, pods, replicas):
        """The pods that stay, every one Ready, else a refusal naming those that are not."""
        missing = ['%s-%d' % (self.statefulset, n) for n in range(replicas) if n not in pods]
        unready = ['%s-%d' % (self.statefulset, n) for n in range(replicas) if n in pods and not info.pod_ready(pods[n])]
        if missing or unready:
            raise MembersError(
                'the %s members that stay must all be Ready before any member leaves, and %s %s: bring them back '
                'first (kubectl -n %s get pods; for a stopped cluster see docs/operations.md), then re-run '
                '(nothing was changed)' % (self.service, ', '.join(missing + unready),
                                           'is not' if len(missing + unready) == 1 else 'are not', self.namespace),
                missing=missing, not_ready=unready)
        return ['%s-%d' % (self.statefulset, n) for n in range(replicas)]

    # ------------------------------------------------------------------ exec
    def _exec(self, pod, argv, check=True):
        self.execs += 1
        try:
            code, out, err = self.run_exec(pod, argv, self.container)
        except podexec.ExecError as exc:
            raise MembersError('pod %s/%s: %s could not run: %s' % (self.namespace, pod, ' '.join(argv[:2]), exc))
        if code != 0 and check:
            detail = (err or out).strip()[-400:]
            raise MembersError('pod %s/%s: %s exited %d: %s' % (self.namespace, pod, ' '.join(argv[:2]), code, detail))
        return code, out, err

    def note(self, text):
        self.steps.append(text)

    # ------------------------------------------------------------------ RabbitMQ
    def _node_of(self, pod):
        _code, out, _err = self._exec(pod, ['rabbitmqctl', '--quiet', 'eval', 'node().'])
        node = parse_node_name(out)
        if node is None:
            raise MembersError('pod %s/%s: rabbitmqctl eval printed no node name: %r' % (self.namespace, pod, out[-200:]))
        return node

    def _rabbit_status(self, anchor):
        _code, out, _err = self._exec(anchor, ['rabbitmqctl', '--quiet', 'cluster_status', '--formatter', 'json'])
        return parse_cluster_status(out)

    def _rabbit_view(self, replicas):
        sts = self.workload()
        pods = self.pods(sts)
        staying = self._staying(pods, replicas)
        anchor = staying[0]
        nodes, running = self._rabbit_status(anchor)
        staying_nodes = dict((pod, self._node_of(pod)) for pod in staying)
        leaving_pods = {}
        for number in sorted((n for n in pods if n >= replicas), reverse=True):
            pod = pods[number]
            if (pod.get('status') or {}).get('phase') != 'Running' or (pod['metadata']).get('deletionTimestamp'):
                continue
            try:
                leaving_pods[self._node_of(pod['metadata']['name'])] = pod['metadata']['name']
            except MembersError as exc:
                self.note('%s: node name unknown (%s)' % (pod['metadata']['name'], exc.message))
        departing = sorted(nodes - set(staying_nodes.values()))
        # The highest ordinal first; nodes without a running pod (already gone) after, by name.
        known = [n for n in sorted(leaving_pods, key=lambda n: -ordinal_of(leaving_pods[n], self.statefulset))
                 if n in departing]
        order = known + sorted((n for n in departing if n not in leaving_pods), reverse=True)
        members = [dict(member=node, pod=pod, running=node in running, stays=True) for pod, node in staying_nodes.items()]
        members += [dict(member=node, pod=leaving_pods.get(node), running=node in running, stays=False)
                    for node in order]
        return anchor, order, leaving_pods, running, members

    def _rabbit_leave(self, anchor, node, pod, running):
        self._exec(anchor, ['rabbitmq-queues', '--quiet', 'shrink', node])
        self.note('%s: quorum queue replicas moved off %s' % (anchor, node))
        if node in running:
            if pod is None:
                raise MembersError('RabbitMQ node %s still runs but no pod of StatefulSet %s/%s holds it: stop it, '
                                   'then re-run' % (node, self.namespace, self.statefulset))
            self._exec(pod, ['rabbitmqctl', '--quiet', 'stop_app'])
            self.note('%s: stop_app' % pod)
        code, out, err = self._exec(anchor, ['rabbitmqctl', '--quiet', 'forget_cluster_node', node], check=False)
        nodes, _running = self._rabbit_status(anchor)
        if node in nodes:
            raise MembersError('pod %s/%s: rabbitmqctl forget_cluster_node %s exited %d and the node is still a '
                               'member: %s' % (self.namespace, anchor, node, code, (err or out).strip()[-400:]))
        self.note('%s: forget_cluster_node %s' % (anchor, node))

    # ------------------------------------------------------------------ etcd
    def _etcd_list(self, anchor):
        _code, out, _err = self._exec(anchor, ['etcdctl', 'member', 'list', '-w', 'json'] + ETCD_TIMEOUTS)
        return parse_member_list(out)

    def _etcd_view(self, replicas):
        sts = self.workload()
        pods = self.pods(sts)
        staying = self._staying(pods, replicas)
        anchor = staying[0]
        listed = self._etcd_list(anchor)
        members, order = [], []
        for member in listed:
            pod = etcd_member_pod(member, self.statefulset)
            number = ordinal_of(pod, self.statefulset) if pod else None
            stays = number is None or number < replicas
            members.append(dict(member=member['name'] or None, id=member['id'], pod=pod, learner=member['learner'],
                                started=bool(member['name']), stays=stays))
            if not stays:
                order.append((number, member))
        order = [member for _number, member in sorted(order, key=lambda item: -item[0])]
        return anchor, order, members

    def _etcd_leave(self, anchor, member, settle=60.0):
        # etcd refuses any reconfiguration for a few seconds after a member (re)started ("unhealthy
        # cluster"), and on a busy machine a removal can outlast etcdctl's wait ("context deadline
        # exceeded") yet still be applied: after a failure the member list decides, and a transient
        # refusal is asked again for a while.
        deadline = self.clock() + settle
        while True:
            code, out, err = self._exec(anchor, ['etcdctl', 'member', 'remove', member['id']] + ETCD_TIMEOUTS,
                                        check=False)
            if code == 0 or member['id'] not in [m['id'] for m in self._etcd_list(anchor)]:
                break
            if not any(text in (err or '') for text in ETCD_TRANSIENT) or self.clock() > deadline:
                break
            self.sleep(2)
        remaining = [m['id'] for m in self._etcd_list(anchor)]
        if member['id'] in remaining:
            raise MembersError('pod %s/%s: etcdctl member remove %s (%s) exited %d and it is still a member: %s'
                               % (self.namespace, anchor, member['id'], member['name'] or 'not started', code,
                                  (err or out).strip()[-400:]))
        self.note('%s: member remove %s (%s)' % (anchor, member['id'], member['name'] or 'not started'))

    # ------------------------------------------------------------------ the two entry points
    def read(self, replicas=None):
        """The members as the cluster lists them; with ``replicas``, which of them would leave."""
        sts = self.workload()
        count = replicas if replicas is not None else int((sts.get('spec') or {}).get('replicas') or 0)
        if self.service == 'rabbitmq':
            anchor, order, _pods, _running, members = self._rabbit_view(count)
            leaving = order
        else:
            anchor, order, members = self._etcd_view(count)
            leaving = [m['name'] or m['id'] for m in order]
        return dict(members=members, leaving=leaving, asked=anchor, replicas=count)

    def leave(self, replicas, check_mode=False):
        """Take every member above ``replicas`` out of the cluster, the highest ordinal first, one at a time.

        :returns: ``{'changed', 'left': [member], 'members': [before]}``
        :raises MembersError: a member that stays is not Ready, or a step failed (the earlier
            members have left; a re-run continues with the rest).
        """
        if replicas < 1:
            raise MembersError('replicas must be 1 or more, got %s' % replicas)
        if self.service == 'rabbitmq':
            anchor, order, pods, running, members = self._rabbit_view(replicas)
            if not check_mode:
                for node in order:
                    self._rabbit_leave(anchor, node, pods.get(node), running)
            left = list(order)
        else:
            anchor, order, members = self._etcd_view(replicas)
            if not check_mode:
                for member in order:
                    self._etcd_leave(anchor, member)
            left = [m['name'] or m['id'] for m in order]
        return dict(changed=bool(left), left=left, members=members, asked=anchor)


# --------------------------------------------------------------------------- the departed members' volumes

def departed_claims(client, namespace, sts, replicas):
    """Names of the claims of ordinals at or above ``replicas``, from the StatefulSet's claim templates."""
    templates = [t['metadata']['name'] for t in (sts.get('spec') or {}).get('volumeClaimTemplates') or []]
    if not templates:
        return []
    name = sts['metadata']['name']
    items, _version = client.list(CLAIM[0], CLAIM[1], namespace=namespace)
    found = []
    for claim in items:
        claim_name = claim['metadata']['name']
        for template in templates:
            number = ordinal_of(claim_name[len(template) + 1:], name) if claim_name.startswith(template + '-') else None
            if number is not None and number >= replicas:
                found.append((number, claim_name))
    return [claim_name for _number, claim_name in sorted(found, reverse=True)]


def delete_departed_claims(members, replicas, timeout=300.0, check_mode=False):
    """Delete the departed members' claims once their pods are gone (waited for, up to ``timeout``).

    A claim is deleted only when the StatefulSet asks for fewer pods than its ordinal and
    that pod no longer exists, so a volume is never pulled from under a running member.
    """
    sts = members.workload()
    wanted = int((sts.get('spec') or {}).get('replicas') or 0)
    if wanted > replicas and not check_mode:
        raise MembersError('StatefulSet %s/%s still asks for %d pods, more than %d: its departed members\' '
                           'volumes are deleted only after it shrank (roll out the new count first)'
                           % (members.namespace, members.statefulset, wanted, replicas))
    claims = departed_claims(members.client, members.namespace, sts, replicas)
    if not claims or check_mode:
        return dict(changed=bool(claims), deleted=claims)
    deadline = members.clock() + timeout
    while True:
        lingering = sorted('%s-%d' % (members.statefulset, n) for n in members.pods(sts) if n >= replicas)
        if not lingering:
            break
        if members.clock() > deadline:
            raise MembersError('pods %s of StatefulSet %s/%s are still there after %ss; their volumes were not '
                               'deleted (kubectl -n %s get pods), re-run once they are gone'
                               % (', '.join(lingering), members.namespace, members.statefulset, timeout,
                                  members.namespace))
        members.sleep(2)
    for claim in claims:
        members.client.delete(CLAIM[0], CLAIM[1], claim, members.namespace)
        members.note('deleted PersistentVolumeClaim %s' % claim)
    return dict(changed=True, deleted=claims)
