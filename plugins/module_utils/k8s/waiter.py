# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness of Kubernetes objects, and waiting for it with watches.

The predicates at the top are pure: each takes one object as the API server returns it
and answers with a :class:`Readiness` (ready, failed, the condition it checks, and what
it saw). :func:`wait_for` drives them with one GET and then watch streams per object, so
it never polls with sleeps; it reports each change of state to a ``progress`` callback
and raises :class:`WaitTimeout` naming the object, the condition and the last status.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time
from collections import namedtuple

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError


class Readiness(namedtuple('Readiness', 'ready failed condition detail')):
    """``condition`` is what ready means for the kind; ``detail`` what the object shows now."""

    __slots__ = ()


def _status(obj):
    return (obj or {}).get('status') or {}


def _spec(obj):
    return (obj or {}).get('spec') or {}


def _generation_observed(obj):
    """(observed, detail): has the controller seen the newest spec?"""
    generation = ((obj or {}).get('metadata') or {}).get('generation')
    observed = _status(obj).get('observedGeneration')
    if generation is None:
        return True, ''
    if observed is None or observed < generation:
        return False, 'observedGeneration %s < generation %s' % (observed, generation)
    return True, ''


def _condition(obj, cond_type):
    for cond in _status(obj).get('conditions') or []:
        if cond.get('type') == cond_type:
            return cond
    return None


def _replicas(obj):
    value = _spec(obj).get('replicas')
    return 1 if value is None else int(value)


def deployment_ready(obj):
    condition = 'Deployment rolled out: updatedReplicas == availableReplicas == replicas == spec.replicas'
    seen, detail = _generation_observed(obj)
    if not seen:
        return Readiness(False, False, condition, detail)
    status = _status(obj)
    want = _replicas(obj)
    counts = dict((k, int(status.get(k) or 0)) for k in ('replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'))
    detail = 'spec.replicas=%d replicas=%d updated=%d ready=%d available=%d' % (
        want, counts['replicas'], counts['updatedReplicas'], counts['readyReplicas'], counts['availableReplicas'])
    progressing = _condition(obj, 'Progressing')
    if progressing and progressing.get('reason') == 'ProgressDeadlineExceeded':
        detail += '; Progressing=False ProgressDeadlineExceeded: %s' % progressing.get('message', '')
    ready = counts['updatedReplicas'] == want and counts['replicas'] == want and counts['availableReplicas'] == want
    return Readiness(ready, False, condition, detail)


def statefulset_ready(obj):
    condition = 'StatefulSet rolled out: readyReplicas == updatedReplicas == spec.replicas, currentRevision == updateRevision'
    seen, detail = _generation_observed(obj)
    if not seen:
        return Readiness(False, False, condition, detail)
    status = _status(obj)
    want = _replicas(obj)
    ready_n = int(status.get('readyReplicas') or 0)
    updated = int(status.get('updatedReplicas') or 0)
    current_rev, update_rev = status.get('currentRevision'), status.get('updateRevision')
    detail = 'spec.replicas=%d ready=%d updated=%d currentRevision=%s updateRevision=%s' % (
        want, ready_n, updated, current_rev, update_rev)
    strategy = (_spec(obj).get('updateStrategy') or {}).get('type') or 'RollingUpdate'
    ready = ready_n == want
    if strategy == 'RollingUpdate':
        ready = ready and updated == want and current_rev == update_rev
    return Readiness(ready, False, condition, detail)


def daemonset_ready(obj):
    condition = 'DaemonSet rolled out: numberReady == updatedNumberScheduled == desiredNumberScheduled'
    seen, detail = _generation_observed(obj)
    if not seen:
        return Readiness(False, False, condition, detail)
    status = _status(obj)
    desired = int(status.get('desiredNumberScheduled') or 0)
    ready_n = int(status.get('numberReady') or 0)
    updated = int(status.get('updatedNumberScheduled') or 0)
    available = int(status.get('numberAvailable') or 0)
    detail = 'desired=%d ready=%d updated=%d available=%d' % (desired, ready_n, updated, available)
    return Readiness(ready_n == desired and updated == desired and available == desired, False, condition, detail)


def job_ready(obj):
    condition = 'Job condition Complete=True'
    for cond_type, failed in (('Failed', True), ('Complete', False)):
        cond = _condition(obj, cond_type)
        if cond and cond.get('status') == 'True':
            detail = '%s=True reason=%s message=%s' % (cond_type, cond.get('reason'), cond.get('message'))
            return Readiness(not failed, failed, condition, detail)
    status = _status(obj)
    detail = 'active=%d succeeded=%d failed=%d' % (int(status.get('active') or 0), int(status.get('succeeded') or 0),
                                                   int(status.get('failed') or 0))
    return Readiness(False, False, condition, detail)


def pdb_ready(obj):
    condition = 'PodDisruptionBudget observed by the disruption controller'
    seen, detail = _generation_observed(obj)
    status = _status(obj)
    if seen and not status:
        seen, detail = False, 'no status yet'
    if seen:
        detail = 'currentHealthy=%s desiredHealthy=%s disruptionsAllowed=%s' % (
            status.get('currentHealthy'), status.get('desiredHealthy'), status.get('disruptionsAllowed'))
    return Readiness(seen, False, condition, detail)


def service_ready(obj):
    spec = _spec(obj)
    if spec.get('type') == 'LoadBalancer':
        ingress = (_status(obj).get('loadBalancer') or {}).get('ingress') or []
        return Readiness(bool(ingress), False, 'Service has a load balancer ingress', 'ingress=%s' % ingress)
    return Readiness(True, False, 'Service exists', 'type=%s clusterIP=%s' % (spec.get('type') or 'ClusterIP', spec.get('clusterIP')))


def exists_ready(obj):
    return Readiness(obj is not None, False, 'object exists', 'present' if obj is not None else 'absent')


PREDICATES = {
    'Deployment': deployment_ready,
    'StatefulSet': statefulset_ready,
    'DaemonSet': daemonset_ready,
    'Job': job_ready,
    'PodDisruptionBudget': pdb_ready,
    'Service': service_ready,
}


def readiness(obj):
    """The readiness of any object; kinds without a controller are ready once they exist."""
    if obj is None:
        return Readiness(False, False, 'object exists', 'absent')
    return PREDICATES.get(obj.get('kind'), exists_ready)(obj)


def pod_summary(pods):
    """One line on why pods are not ready: counts by phase, then the distinct reasons.

    ``Pending(Unschedulable: 0/5 nodes match ...)``, ``ImagePullBackOff``, ``CrashLoopBackOff``...
    """
    if not pods:
        return 'no pods'
    phases = {}
    reasons = []
    for pod in pods:
        status = pod.get('status') or {}
        phase = status.get('phase') or 'Unknown'
        phases[phase] = phases.get(phase, 0) + 1
        for cond in status.get('conditions') or []:
            if cond.get('status') == 'False' and cond.get('reason') in ('Unschedulable',):
                reasons.append('%s: %s' % (cond['reason'], cond.get('message') or ''))
        for container in (status.get('containerStatuses') or []) + (status.get('initContainerStatuses') or []):
            waiting = (container.get('state') or {}).get('waiting') or {}
            terminated = (container.get('lastState') or {}).get('terminated') or {}
            if waiting.get('reason') and waiting['reason'] not in ('ContainerCreating', 'PodInitializing'):
                reasons.append('%s %s: %s' % (container.get('name'), waiting['reason'], waiting.get('message') or ''))
            elif terminated.get('reason'):
                reasons.append('%s last exit %s (%s)' % (container.get('name'), terminated.get('exitCode'), terminated['reason']))
    seen = []
    for reason in reasons:
        reason = reason.strip().rstrip(':')
        if reason not in seen:
            seen.append(reason)
    text = ', '.join('%d %s' % (count, phase) for phase, count in sorted(phases.items()))
    if seen:
        text += '; ' + '; '.join(seen[:3])
    return 'pods: ' + text


def _selector_string(obj):
    labels = (((obj or {}).get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
    return ','.join('%s=%s' % item for item in sorted(labels.items())) or None


def ref_of(obj):
    meta = obj.get('metadata') or {}
    return dict(apiVersion=obj.get('apiVersion'), kind=obj.get('kind'), name=meta.get('name'), namespace=meta.get('namespace'))


def describe_ref(ref):
    where = '%s/' % ref['namespace'] if ref.get('namespace') else ''
    return '%s %s%s' % (ref['kind'], where, ref['name'])


class WaitError(Exception):
    """A wait ended without the object becoming ready."""

    def __init__(self, message, ref, condition, last_status, elapsed):
        super(WaitError, self).__init__(message)
        self.message = message
        self.ref = ref
        self.condition = condition
        self.last_status = last_status
        self.elapsed = elapsed

    def to_dict(self):
        return dict(object=self.ref, condition=self.condition, last_status=self.last_status,
                    elapsed=round(self.elapsed, 1), message=self.message)


class WaitTimeout(WaitError):
    pass


class WaitFailed(WaitError):
    pass


class Waiter(object):
    """Waits for objects with GET + watch; ``clock`` is injectable for tests."""

    def __init__(self, client, progress=None, clock=time.monotonic, watch_chunk=60):
        self.client = client
        self.progress = progress or (lambda message: None)
        self.clock = clock
        self.watch_chunk = watch_chunk

    def wait_for(self, refs, timeout):
        """Wait until every object in ``refs`` is ready, all within ``timeout`` seconds."""
        start = self.clock()
        deadline = start + float(timeout)
        waited = []
        for ref in refs:
            waited.append(self.wait_one(ref, deadline, start))
        return waited

    def wait_one(self, ref, deadline, start=None):
        start = self.clock() if start is None else start
        label = describe_ref(ref)
        obj = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'))
        state = readiness(obj)
        if not state.ready and not state.failed:
            self.progress('waiting for %s: %s; now %s' % (label, state.condition, state.detail))
        while True:
            if state.failed:
                raise WaitFailed('%s failed: %s; last status: %s' % (label, state.condition, state.detail),
                                 ref, state.condition, state.detail, self.clock() - start)
            if state.ready:
                self.progress('%s ready after %.1fs: %s' % (label, self.clock() - start, state.detail))
                return dict(object=ref, condition=state.condition, status=state.detail, elapsed=round(self.clock() - start, 1))
            remaining = deadline - self.clock()
            if remaining <= 0:
                detail = state.detail
                pods = self._pods_of(obj)
                if pods:
                    detail = '%s; %s' % (detail, pods)
                raise WaitTimeout('timed out after %.0fs waiting for %s: %s; last status: %s'
                                  % (self.clock() - start, label, state.condition, detail),
                                  ref, state.condition, detail, self.clock() - start)
            obj, state = self._watch_until_ready(ref, obj, state, remaining)

    def _pods_of(self, obj):
        """Why a workload is not ready, from its pods (one list call, only on a timeout)."""
        if (obj or {}).get('kind') not in ('Deployment', 'StatefulSet', 'DaemonSet', 'Job'):
            return None
        selector = _selector_string(obj)
        if obj.get('kind') == 'Job':
            selector = 'batch.kubernetes.io/job-name=%s' % obj['metadata']['name']
        if not selector:
            return None
        try:
            pods, _version = self.client.list('v1', 'Pod', namespace=(obj.get('metadata') or {}).get('namespace'),
                                              label_selector=selector)
        except K8sError:
            return None
        return pod_summary(pods)

    def _watch_until_ready(self, ref, obj, state, remaining):
        """Follow the object's watch stream until it is ready/failed or the stream ends.

        The client opens the watch through its retry policy (backoff, Retry-After) and ends
        the stream quietly when it times out, is cut, or expires (410); a watch that could
        not be opened after the retries raises, as any other request would.
        """
        version = ((obj or {}).get('metadata') or {}).get('resourceVersion')
        seconds = max(1, min(int(remaining + 0.999), self.watch_chunk))
        events = self.client.watch(ref['apiVersion'], ref['kind'], namespace=ref.get('namespace'), name=ref['name'],
                                   resource_version=version, timeout=seconds)
        for event_type, event_obj in events:
            if event_type == 'DELETED':
                obj = None
            elif event_type in ('ADDED', 'MODIFIED'):
                obj = event_obj
            else:
                continue
            previous, state = state, readiness(obj)
            if state.ready or state.failed:
                return obj, state
            if state.detail != previous.detail:
                self.progress('waiting for %s: %s; now %s' % (describe_ref(ref), state.condition, state.detail))
        # The stream ended (its timeout, a cut connection, history compacted): read afresh and go on.
        obj = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'))
        return obj, readiness(obj)
