# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is deployed: each service's objects, readiness, images, endpoints and config checksum.

:func:`summarize` is pure (live objects in, report out); :func:`collect` lists the objects.
:func:`problem_pods` finds pods that are Pending, not Ready, crash-looping or failed (with their
last Events from :func:`collect_events`); :func:`rabbitmq_status` asks a RabbitMQ pod for the
cluster state with ``rabbitmqctl cluster_status --formatter json`` through the pod exec API and
says ``unknown`` (with the reason) whenever it cannot tell.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import podexec
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.prune import (
    MANAGED_BY, MANAGED_BY_VALUE, NAME_LABEL, OWNED_KINDS)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.waiter import readiness

CONFIG_CHECKSUM = 'openstack-k8s.io/config-checksum'
COMPONENT_LABEL = 'app.kubernetes.io/component'


def _meta(obj):
    return obj.get('metadata') or {}


def _workload(obj):
    spec = obj.get('spec') or {}
    status = obj.get('status') or {}
    template = spec.get('template') or {}
    pod = template.get('spec') or {}
    if obj['kind'] == 'DaemonSet':
        desired, ready_n = status.get('desiredNumberScheduled') or 0, status.get('numberReady') or 0
    else:
        desired = 1 if spec.get('replicas') is None else spec['replicas']
        ready_n = status.get('readyReplicas') or 0
    state = readiness(obj)
    return dict(kind=obj['kind'], name=_meta(obj).get('name'), component=(_meta(obj).get('labels') or {}).get(COMPONENT_LABEL),
                desired=desired, ready=ready_n, rolled_out=state.ready, status=state.detail,
                images=sorted(set(c.get('image') for c in (pod.get('containers') or []) + (pod.get('initContainers') or [])
                                  if c.get('image'))),
                config_checksum=((template.get('metadata') or {}).get('annotations') or {}).get(CONFIG_CHECKSUM))


def _endpoints(obj, namespace, cluster_domain):
    spec = obj.get('spec') or {}
    name = _meta(obj).get('name')
    host = '%s.%s.svc.%s' % (name, namespace, cluster_domain)
    return [dict(service=name, port_name=port.get('name'), port=port.get('port'), host=host,
                 url='%s:%s' % (host, port.get('port'))) for port in spec.get('ports') or []]


def summarize(objects, namespace, cluster_domain='cluster.local', only=None, expected=None):
    """{service: report} from the live objects labelled as managed by the collection.

    ``only``: report just these services; ``expected``: services that should exist. A service
    named in either and without objects is reported with ``missing=True``.
    """
    services = {}
    for obj in objects:
        labels = _meta(obj).get('labels') or {}
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or not labels.get(NAME_LABEL):
            continue
        name = labels[NAME_LABEL]
        if only and name not in only:
            continue
        report = services.setdefault(name, dict(name=name, objects=[], workloads=[], endpoints=[], jobs=[], images=[]))
        report['objects'].append(dict(kind=obj['kind'], name=_meta(obj).get('name')))
        if obj['kind'] in ('Deployment', 'StatefulSet', 'DaemonSet'):
            report['workloads'].append(_workload(obj))
        elif obj['kind'] == 'Service':
            report['endpoints'].extend(_endpoints(obj, namespace, cluster_domain))
        elif obj['kind'] == 'Job':
            state = readiness(obj)
            report['jobs'].append(dict(name=_meta(obj).get('name'), complete=state.ready, failed=state.failed, status=state.detail))
    for report in services.values():
        report['objects'].sort(key=lambda o: (o['kind'], o['name']))
        report['workloads'].sort(key=lambda w: w['name'])
        report['endpoints'].sort(key=lambda e: (e['service'], e['port'] or 0))
        report['jobs'].sort(key=lambda j: j['name'])
        report['images'] = sorted(set(image for w in report['workloads'] for image in w['images']))
        report['ready'] = all(w['rolled_out'] for w in report['workloads']) and not any(j['failed'] for j in report['jobs'])
        report['replicas_ready'] = sum(w['ready'] for w in report['workloads'])
        report['replicas_desired'] = sum(w['desired'] for w in report['workloads'])
        checksums = sorted(set(w['config_checksum'] for w in report['workloads'] if w['config_checksum']))
        report['config_checksum'] = checksums[0] if len(checksums) == 1 else (checksums or None)
    for name in list(only or []) + list(expected or []):
        if not only or name in only:
            services.setdefault(name, dict(name=name, objects=[], workloads=[], endpoints=[], jobs=[], images=[],
                                           ready=False, replicas_ready=0, replicas_desired=0,
                                           config_checksum=None, missing=True))
    return services


def collect(client, namespace, kinds=OWNED_KINDS):
    """Every object in ``namespace`` labelled as managed by the collection."""
    found = []
    for api_version, kind in kinds:
        try:
            items, _version = client.list(api_version, kind, namespace=namespace,
                                          label_selector='%s=%s' % (MANAGED_BY, MANAGED_BY_VALUE))
        except K8sError as exc:
            if exc.status == 404:
                continue
            raise
        found.extend(items)
    return found


# -- pods that are not ready, and their last events --------------------------------------------------

JOB_NAME_LABEL = 'job-name'


def _ready_condition(status):
    for cond in status.get('conditions') or []:
        if cond.get('type') == 'Ready':
            return cond
    return {}


def pod_ready(pod):
    """True for a pod that runs, is Ready and is not being deleted: one a command can be exec'ed in."""
    return ((pod.get('status') or {}).get('phase') == 'Running' and not _meta(pod).get('deletionTimestamp')
            and _ready_condition(pod.get('status') or {}).get('status') == 'True')


def pod_problem(pod, finished_jobs=()):
    """Why ``pod`` is a problem (a dict), or None when it runs Ready or finished as it should.

    Problems: Pending (scheduling, image pull, container creation), Running but not Ready
    (crash loop, failing readiness), Failed (unless its Job has completed since), Unknown.
    Pods being deleted and Succeeded pods are not problems.
    """
    meta = _meta(pod)
    status = pod.get('status') or {}
    phase = status.get('phase') or 'Unknown'
    labels = meta.get('labels') or {}
    if meta.get('deletionTimestamp') or phase == 'Succeeded':
        return None
    if phase == 'Failed' and labels.get(JOB_NAME_LABEL) in finished_jobs:
        return None
    ready_cond = _ready_condition(status)
    if phase == 'Running' and ready_cond.get('status') == 'True':
        return None
    reason, message = None, None
    containers = (status.get('initContainerStatuses') or []) + (status.get('containerStatuses') or [])
    for container in containers:
        state = container.get('state') or {}
        waiting = state.get('waiting') or {}
        terminated = state.get('terminated') or {}
        if waiting.get('reason'):
            reason, message = waiting['reason'], waiting.get('message')
        elif terminated.get('reason') and terminated.get('exitCode'):
            reason, message = terminated['reason'], 'exit code %s' % terminated.get('exitCode')
        if reason:
            break
    if not reason:
        for cond in status.get('conditions') or []:
            if cond.get('type') == 'PodScheduled' and cond.get('status') == 'False':
                reason, message = cond.get('reason') or 'NotScheduled', cond.get('message')
                break
    if not reason:
        reason = status.get('reason') or ready_cond.get('reason') or phase
        message = status.get('message') or ready_cond.get('message')
    return dict(name=meta.get('name'), service=labels.get(NAME_LABEL), component=labels.get(COMPONENT_LABEL),
                phase=phase, ready=False, reason=reason, message=message or '',
                restarts=sum(int(c.get('restartCount') or 0) for c in containers),
                node=(pod.get('spec') or {}).get('nodeName'), events=[])


def _event_time(event):
    series = event.get('series') or {}
    return (event.get('lastTimestamp') or series.get('lastObservedTime') or event.get('eventTime')
            or event.get('firstTimestamp') or _meta(event).get('creationTimestamp') or '')


def last_events(events, limit):
    """The ``limit`` most recent events, oldest first, as plain dicts."""
    ordered = sorted(events, key=lambda e: (_event_time(e), _meta(e).get('name') or ''))
    return [dict(type=e.get('type'), reason=e.get('reason'), message=(e.get('message') or '').strip(),
                 count=e.get('count') or 1, time=_event_time(e))
            for e in (ordered[-limit:] if limit > 0 else [])]


def problem_pods(pods, finished_jobs=()):
    """The problem of every pod that has one, sorted by service then name."""
    found = [p for p in (pod_problem(pod, finished_jobs) for pod in pods) if p]
    return sorted(found, key=lambda p: (p['service'] or '', p['name'] or ''))


def attach_pods(services, problems):
    """Add ``problem_pods`` (names) to each service report; a service with one is not ready."""
    for report in services.values():
        report['problem_pods'] = [p['name'] for p in problems if p['service'] == report['name']]
        if report['problem_pods']:
            report['ready'] = False
    return services


def collect_pods(client, namespace):
    """The collection's pods in ``namespace``."""
    items, _version = client.list('v1', 'Pod', namespace=namespace,
                                  label_selector='%s=%s' % (MANAGED_BY, MANAGED_BY_VALUE))
    return items


def collect_events(client, namespace, pod_name):
    """The Events about one pod (the real API server supports these field selectors)."""
    items, _version = client.list('v1', 'Event', namespace=namespace,
                                  field_selector='involvedObject.kind=Pod,involvedObject.name=%s' % pod_name)
    return items


# -- RabbitMQ cluster state --------------------------------------------------------------------------

RABBITMQ_COMMAND = ['rabbitmqctl', '--quiet', 'cluster_status', '--formatter', 'json']


def unknown(reason, **extra):
    """A probe that could not tell: never reported as healthy."""
    return dict(extra, state='unknown', healthy=None, reason=reason)


def parse_rabbitmq_cluster_status(text, expected=None):
    """The state of a RabbitMQ cluster from ``rabbitmqctl cluster_status --formatter json``.

    ``healthy`` when every member node runs, there is no network partition and no resource
    alarm (and, with ``expected``, at least that many nodes run); ``degraded`` otherwise;
    ``unknown`` when the output cannot be read.
    """
    start = (text or '').find('{')
    if start < 0:
        return unknown('rabbitmqctl printed no JSON: %r' % (text or '').strip()[-300:])
    try:
        data = json.loads(text[start:])
    except ValueError as exc:
        return unknown('rabbitmqctl printed unreadable JSON (%s): %r' % (exc, text.strip()[-300:]))
    if not isinstance(data, dict) or 'running_nodes' not in data:
        return unknown('rabbitmqctl output has no running_nodes: %r' % text.strip()[-300:])
    running = sorted(data.get('running_nodes') or [])
    members = sorted(set((data.get('disk_nodes') or []) + (data.get('ram_nodes') or [])) | set(running))
    partitions = dict((node, sorted(peers)) for node, peers in (data.get('partitions') or {}).items() if peers)
    alarms = []
    for alarm in data.get('alarms') or []:
        if isinstance(alarm, dict):
            alarms.append('%s on %s' % (alarm.get('resource') or alarm.get('type'), alarm.get('node')))
        else:
            alarms.append(str(alarm))
    maintenance = sorted(node for node, state in (data.get('maintenance_status') or {}).items()
                         if state and state != 'not under maintenance')
    problems = []
    stopped = [node for node in members if node not in running]
    if stopped:
        problems.append('not running: %s' % ', '.join(stopped))
    if expected is not None and len(running) < expected:
        problems.append('%d of %d nodes running' % (len(running), expected))
    if partitions:
        problems.append('network partition: %s' % '; '.join('%s cannot see %s' % (n, ', '.join(p))
                                                            for n, p in sorted(partitions.items())))
    if alarms:
        problems.append('alarms: %s' % ', '.join(sorted(alarms)))
    if maintenance:
        problems.append('under maintenance: %s' % ', '.join(maintenance))
    versions = sorted(set(v.get('rabbitmq_version') for v in (data.get('versions') or {}).values()
                          if isinstance(v, dict) and v.get('rabbitmq_version')))
    return dict(state='degraded' if problems else 'healthy', healthy=not problems,
                reason='; '.join(problems) or '%d of %d nodes running' % (len(running), len(members)),
                cluster_name=data.get('cluster_name'), running_nodes=running, nodes=members,
                partitions=partitions, alarms=sorted(alarms), versions=versions)


def pod_exec(api_client, namespace, pod, command, container=None, timeout=30, clock=time.monotonic, retry=None):
    """Run ``command`` in a pod through the exec API; (exit code, stdout, stderr).

    ``retry``: the K8sClient's ``policy``, which opens the stream (podexec.run's default otherwise).
    Raises :class:`podexec.ExecError` with the server's message when the command cannot run at all.
    """
    from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
    raw, out, err = podexec.run(CoreV1Api(api_client), namespace, pod, command, container=container,
                                timeout=timeout, clock=clock, retry=retry)
    return podexec.exit_code(raw), out, err


def rabbitmq_status(services, pods, run_exec, service='rabbitmq', container=None):
    """Ask one Ready RabbitMQ pod for the cluster state; unknown (with the reason) when it cannot say.

    ``run_exec(pod_name, command, container)`` returns (rc, stdout, stderr) or raises.
    """
    report = services.get(service)
    if not report or report.get('missing') or not report.get('workloads'):
        return unknown('%s is not deployed' % service)
    expected = sum(w['desired'] for w in report['workloads'])
    candidates = sorted(_meta(p).get('name') for p in pods
                        if (_meta(p).get('labels') or {}).get(NAME_LABEL) == service and pod_ready(p))
    if not candidates:
        return unknown('no %s pod is Running and Ready to run rabbitmqctl in' % service, expected_nodes=expected)
    errors = []
    for pod in candidates:
        try:
            rc, out, err = run_exec(pod, RABBITMQ_COMMAND, container)
        except Exception as exc:  # the exec API's and the stream's own errors: the probe fails soft
            errors.append('%s: %s' % (pod, str(exc).strip()[-300:]))
            continue
        if rc != 0:
            errors.append('%s: %s exited %d: %s' % (pod, ' '.join(RABBITMQ_COMMAND), rc, (err or out).strip()[-300:]))
            continue
        result = parse_rabbitmq_cluster_status(out, expected)
        result.update(pod=pod, expected_nodes=expected)
        return result
    return unknown('rabbitmqctl could not run in any %s pod: %s' % (service, '; '.join(errors)), expected_nodes=expected)
