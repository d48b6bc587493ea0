# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Roll out (or remove) OpenStack services: the logic behind ``k8s_openstack_service``.

For each service: read its config subtree and the general keys from etcd, read the
credentials Secret, render every manifest (the pure renderers in ``render/``), apply the
phases in order with server-side apply (only what changed is sent), wait between phases
with watches, prune what the service no longer renders, and return a result dict. The
services of one call start as soon as the services they depend on (``depends_on`` and
``after`` among those given) are ready, each on its own thread with its own API client
(:class:`Schedule`, :func:`run_schedule`); after a failure nothing new starts. Nothing here exits the module; errors are exceptions carrying what
the module reports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy
import hashlib
import json
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.apply import (
    Applier, ApplyConflict, NOOP, canonical, normalize, object_ref, ref_label)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient, K8sError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.prune import (
    MANAGED_BY, MANAGED_BY_VALUE, NAME_LABEL, OWNED_KINDS, find_owned, plan_prune)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.waiter import (
    Waiter, WaitError, PREDICATES, readiness)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK, scrub

PART_OF = 'app.kubernetes.io/part-of'
SPEC_HASH = 'openstack-k8s.io/spec-hash'
CONFIG_CHECKSUM = 'openstack-k8s.io/config-checksum'
CLUSTER_SCOPED = frozenset(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass', 'StorageClass',
                            'CustomResourceDefinition', 'PersistentVolume'])
WORKLOAD_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet')


class RolloutError(Exception):
    """A service could not be rolled out; ``details`` is what the module returns with it."""

    def __init__(self, message, **details):
        super(RolloutError, self).__init__(message)
        self.message = message
        self.details = details


# -- pure helpers ------------------------------------------------------------------------------
def decode_secret_data(secret):
    data = {}
    for key, value in ((secret or {}).get('data') or {}).items():
        data[key] = base64.b64decode(value or '').decode('utf-8')
    for key, value in ((secret or {}).get('stringData') or {}).items():
        data[key] = value
    return data


def service_config(flat, prefix, service):
    """(general {KEY: value}, files {node_role: {file: {section: {key: value}}}}) of ``service``.

    ``flat`` is {full key: value} as read from etcd under ``prefix``.
    """
    general, files = {}, {}
    base = prefix.rstrip('/') + '/'
    for key, value in flat.items():
        if not key.startswith(base):
            continue
        parts = key[len(base):].split('/')
        if len(parts) == 2 and parts[0] == 'general':
            general[parts[1]] = value
        elif len(parts) == 5 and parts[1] == service:
            role, _svc, filename, section, option = parts
            files.setdefault(role, {}).setdefault(filename, {}).setdefault(section, {})[option] = value
    return general, files


def versioned_job(manifest):
    """A Job named after its spec, so a changed spec is a new Job (Jobs are immutable).

    The renderer already names Jobs so (annotation ``openstack-k8s.io/spec-hash``); this
    covers Jobs that come without it.
    """
    job = copy.deepcopy(manifest)
    meta = job.setdefault('metadata', {})
    if SPEC_HASH in (meta.get('annotations') or {}):
        return job
    base = meta['name']
    digest = hashlib.sha256(canonical(job.get('spec') or {}).encode('utf-8')).hexdigest()[:10]
    meta['name'] = '%s-%s' % (base[:63 - 11], digest)
    meta.setdefault('annotations', {})[SPEC_HASH] = digest
    return job


def prepare(manifest, service, namespace):
    """The manifest as we apply it: namespaced, labelled as the service's, Jobs versioned."""
    obj = copy.deepcopy(manifest)
    meta = obj.setdefault('metadata', {})
    if obj.get('kind') not in CLUSTER_SCOPED:
        meta.setdefault('namespace', namespace)
    labels = meta.setdefault('labels', {})
    labels.setdefault(MANAGED_BY, MANAGED_BY_VALUE)
    labels.setdefault(PART_OF, 'openstack')
    labels.setdefault(NAME_LABEL, service)
    if obj.get('kind') == 'Job':
        obj = versioned_job(obj)
    return normalize(obj)


def mask_object(obj, secret_values):
    """A copy safe to show: Secret data masked whole, known secret values scrubbed anywhere."""
    if obj is None:
        return None
    shown = copy.deepcopy(obj)
    if shown.get('kind') == 'Secret':
        for field in ('data', 'stringData'):
            if isinstance(shown.get(field), dict):
                shown[field] = dict((key, MASK) for key in shown[field])
    text = json.dumps(shown, sort_keys=True)
    values = [v for v in secret_values if v and len(v) >= 4]
    if values:
        text = scrub(text, [json.dumps(v)[1:-1] for v in values])
    return json.loads(text)


def config_checksum(objects):
    """Checksum of the config the service's pods read: every Secret and ConfigMap it renders."""
    parts = [(o['kind'], o['metadata']['name'], o.get('data') or {}, o.get('stringData') or {})
             for o in objects if o.get('kind') in ('Secret', 'ConfigMap')]
    return hashlib.sha256(canonical(sorted(parts, key=lambda p: (p[0], p[1]))).encode('utf-8')).hexdigest()


# Rendered in the workloads phase but gating nothing: a ClusterIP Service is usable at once,
# and a PodDisruptionBudget only limits evictions.
NOT_WAITED = ('Service', 'PodDisruptionBudget')


def wanted_waits(phase, objects):
    """The objects of a phase that are waited for; a phase says ``wait: complete|ready|none``."""
    mode = phase.get('wait')
    if not mode or mode == 'none':
        return []
    return [o for o in objects if o.get('kind') in PREDICATES and o.get('kind') not in NOT_WAITED]


# -- I/O ---------------------------------------------------------------------------------------
def read_etcd(etcd_params):
    """{full key: value} under the prefix, through the etcd adapter."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import EtcdClient, EtcdError
    params = dict(etcd_params)
    prefix = params.pop('prefix', '/openstack') or '/openstack'
    try:
        with EtcdClient(**dict((k, v) for k, v in params.items() if v is not None)) as etcd:
            found, _revision = etcd.read_prefix(prefix.rstrip('/') + '/')
            return dict((key, value) for key, (value, _mod) in found.items()), dict(etcd.requests)
    except EtcdError as exc:
        raise RolloutError('cannot read the configuration from etcd: %s' % exc.message)


class ServiceRollout(object):
    """One service, one thread, one client."""

    def __init__(self, entry, client, options, flat_config, credentials, render, clock=time.monotonic):
        self.entry = entry
        self.name = entry['name']
        self.client = client
        self.options = options
        self.flat = flat_config
        self.credentials = credentials
        self.renderer = render
        self.clock = clock
        self.started = clock()
        self.progress = []
        self.phases = None
        self.records, self.waited = [], []
        self.applier = None
        if client is not None:
            self.attach(client)

    def attach(self, client):
        self.client = client
        self.applier = Applier(client, check_mode=self.options.get('check_mode', False),
                               force=self.options.get('force_conflicts', False))

    def note(self, message):
        self.progress.append('[%5.1fs] %s: %s' % (self.clock() - self.started, self.name, message))

    def _render(self):
        general, files = service_config(self.flat, self.options['prefix'], self.name)
        phases = self.renderer(self.entry, general=general, files=files, credentials=self.credentials, options=self.options)
        prepared = []
        for phase in phases:
            objects = [prepare(obj, self.name, self.options['namespace']) for obj in phase.get('objects') or []]
            prepared.append(dict(phase, objects=objects))
        return prepared

    def render(self):
        """Render (pure) before anything is written; raises RolloutError naming the fix."""
        if self.options.get('state', 'present') != 'present':
            self.phases = []
            return self.phases
        try:
            self.phases = self._render()
        except Exception as exc:  # pylint: disable=broad-except
            if type(exc).__name__ not in ('RenderError', 'CatalogError', 'TreeError'):
                raise
            raise RolloutError('cannot render %s: %s' % (self.name, scrub(str(exc), self.credentials.values())))
        return self.phases

    def apply_phases(self):
        """Apply the phases in order, waiting as each phase says. Pruning comes later (:meth:`finish`)."""
        self.records, self.waited = [], []
        deadline = self.started + float(self.options.get('wait_timeout') or 600)
        for phase in self.phases:
            for desired in phase['objects']:
                record = self.applier.apply(desired)
                self.records.append(record)
                if record['changed']:
                    self.note('%s %s (%s)' % (record['action'], ref_label(record), record['reason']))
            applied = self.records[-len(phase['objects']):] if phase['objects'] else []
            self.waited.extend(self._wait_phase(phase, applied, deadline))

    def finish(self, live):
        """Delete what the service owns in ``live`` but no longer renders; return the service's result."""
        rendered = [obj for phase in self.phases for obj in phase['objects']]
        pruned = []
        for ref in plan_prune(live, rendered, self.name):
            record = self.applier.delete(ref)
            self.note('pruned %s' % ref_label(ref))
            pruned.append(record)
        records = self.records
        secret_values = list(self.credentials.values())
        objects = [dict(kind=r['kind'], name=r['name'], namespace=r.get('namespace'), action=r['action'], reason=r['reason'])
                   for r in records]
        return dict(
            name=self.name,
            state=self.options.get('state', 'present'),
            changed=any(r['changed'] for r in records) or any(p['changed'] for p in pruned),
            checksum=config_checksum(rendered) if rendered else None,
            objects=objects,
            pruned=[dict(kind=p['kind'], name=p['name'], namespace=p.get('namespace')) for p in pruned if p['changed']],
            waited=self.waited,
            progress=self.progress,
            elapsed=round(self.clock() - self.started, 1),
            diff=dict(before=[mask_object(r['before'], secret_values) for r in records if r['changed']]
                      + [dict(kind=p['kind'], name=p['name']) for p in pruned if p['changed']],
                      after=[mask_object(r['after'], secret_values) for r in records if r['changed']]),
        )

    def _wait_phase(self, phase, records, deadline):
        if self.options.get('check_mode') or not self.options.get('wait', True):
            return []
        targets = wanted_waits(phase, [r['result'] or {} for r in records])
        pending = []
        for record in records:
            result = record.get('result') or {}
            if result.get('kind') not in [t.get('kind') for t in targets]:
                continue
            if record['action'] == NOOP and readiness(result).ready:
                continue
            pending.append(object_ref(result))
        if not pending:
            return []
        self.note('phase %s: waiting for %s' % (phase.get('name'), ', '.join(ref_label(r) for r in pending)))
        waiter = Waiter(self.client, progress=self.note, clock=self.clock)
        remaining = deadline - self.clock()
        return waiter.wait_for(pending, max(remaining, 0.0))


def default_node_roles():
    """``roles/catalog/files/node_roles.yml`` of this collection, when the caller gives none."""
    import os
    import yaml
    path = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'catalog', 'files', 'node_roles.yml')
    if not os.path.isfile(path):
        # Modules run from a zip without the roles: the caller must pass them.
        raise RolloutError('variables.node_roles is required (the content of roles/catalog/files/node_roles.yml, '
                           'or openstack_node_roles)')
    with open(path) as handle:
        return yaml.safe_load(handle)


def default_render(entry, general, files, credentials, options):
    """The catalog renderers: ``render/ini.py`` for the files, ``render/manifests.py`` for the objects."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
    deployment, config_files = render_inputs(entry, general, files, credentials, options)
    return manifests.render_service(service_users.with_current_user(entry, credentials), deployment, config_files)


def render_inputs(entry, general, files, credentials, options):
    """(deployment settings, rendered config files) of ``entry``, as every renderer of a service needs them."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini, manifests
    variables = options.get('variables') or {}
    deployment = manifests.make_deployment(
        placeholders=bool(options.get('placeholders')), namespace=options['namespace'], release=variables.get('release') or '2026.2',
        node_roles=variables.get('node_roles') or default_node_roles(), general=general,
        image=variables.get('image'), replicas=options.get('replicas') or {},
        credentials_secret=options.get('credentials_secret') or 'openstack-credentials',
        cluster_domain=variables.get('cluster_domain') or 'cluster.local', node_cidrs=variables.get('node_cidrs'),
        storage_class=variables.get('storage_class'), region_name=variables.get('region_name') or 'RegionOne',
        public_domain=variables.get('public_domain') or 'openstack.local')
    values = dict(deployment['general'])
    values.update(credentials)
    # The RabbitMQ user names ($NOVA_RABBITMQ_USER): not secret, never kept as placeholders.
    values.update(service_users.user_values(entry, credentials))
    keep = ()
    if options.get('placeholders'):
        # No cluster: every credential stays a $NAME placeholder, so no secret reaches the disk.
        keep = tuple(secret['name'] for secret in entry.get('secrets') or [])
    config_files = ini.render_config(files, values, keep=keep, formats=entry.get('config_formats'), prefix='%s: ' % entry['name'])
    return deployment, config_files


# -- dependency-driven scheduling (pure) -------------------------------------------------------
def rollout_edges(entries):
    """{service: [services it waits for]}: its ``depends_on`` and ``after`` among ``entries``.

    Edges to services not given are ignored (as :func:`catalog.order_waves` does). A cycle is
    refused with a RolloutError naming it, before anything is written.
    """
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.catalog import CatalogError, order_waves
    catalog = dict((entry['name'], entry) for entry in entries)
    try:
        order_waves(catalog, list(catalog))
    except CatalogError as exc:
        raise RolloutError(str(exc))
    return dict((name, sorted(set(d for d in (entry.get('depends_on') or []) + (entry.get('after') or [])
                                  if d in catalog)))
                for name, entry in catalog.items())


WAITING, RUNNING, READY, FAILED = 'waiting', 'running', 'ready', 'failed'


class Schedule(object):
    """Which service may start when, given ``edges`` ({service: [services it waits for]}).

    A service starts once every service it waits for is ready. After the first failure
    nothing new starts (services already running finish); :meth:`not_started` then says
    which services were left and why. Pure: the threads are :func:`run_schedule`'s.
    """

    def __init__(self, edges):
        self.edges = dict((name, list(deps)) for name, deps in edges.items())
        self.state = dict((name, WAITING) for name in self.edges)
        self.failures = []

    def startable(self):
        """The services to start now, by name; none once a service failed."""
        if self.failures:
            return []
        return sorted(name for name, state in self.state.items()
                      if state == WAITING and all(self.state[d] == READY for d in self.edges[name]))

    def start(self, name):
        if name not in self.startable():
            raise ValueError('%s cannot start now' % name)
        self.state[name] = RUNNING

    def finished(self, name, ok):
        if self.state[name] != RUNNING:
            raise ValueError('%s is not running' % name)
        self.state[name] = READY if ok else FAILED
        if not ok:
            self.failures.append(name)

    def running(self):
        return sorted(name for name, state in self.state.items() if state == RUNNING)

    def needs(self, name):
        """Every service ``name`` waits for, directly or through others."""
        found, todo = set(), list(self.edges[name])
        while todo:
            dep = todo.pop()
            if dep not in found:
                found.add(dep)
                todo.extend(self.edges[dep])
        return found

    def not_started(self):
        """{service: reason} of the services left waiting: the failed services they need, or none
        (independent, held back because nothing new starts after a failure)."""
        return dict((name, sorted(self.needs(name) & set(self.failures)))
                    for name, state in self.state.items() if state == WAITING)


def simulate(edges, durations, failing=()):
    """Run a :class:`Schedule` on simulated time: ``durations`` {service: seconds to ready},
    ``failing`` the services that fail after their duration. Returns (starts [(second, service)],
    end second, the schedule)."""
    import heapq
    schedule = Schedule(edges)
    clock, starts, events = 0.0, [], []
    while True:
        for name in schedule.startable():
            schedule.start(name)
            starts.append((clock, name))
            heapq.heappush(events, (clock + durations[name], name))
        if not events:
            return starts, clock, schedule
        clock, name = heapq.heappop(events)
        schedule.finished(name, name not in failing)


def run_schedule(schedule, launch, max_workers=16, on_start=None):
    """Start each service of ``schedule`` on a thread as soon as it may start; ``launch(name)``
    rolls it out and returns whether it became ready. Returns when nothing runs any more."""
    from concurrent.futures import FIRST_COMPLETED, wait
    with ThreadPoolExecutor(max_workers=max(1, min(len(schedule.state), max_workers))) as pool:
        futures = {}
        while True:
            for name in schedule.startable():
                schedule.start(name)
                if on_start is not None:
                    on_start(name)
                futures[pool.submit(launch, name)] = name
            if not futures:
                return schedule
            done, _pending = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in done:
                name = futures.pop(future)
                try:
                    ok = bool(future.result())
                except Exception:  # pylint: disable=broad-except
                    ok = False
                schedule.finished(name, ok)


def read_credentials(client, namespace, secret_name, check_mode=False):
    secret = client.get('v1', 'Secret', secret_name, namespace)
    if secret is None and check_mode:
        return None
    if secret is None:
        raise RolloutError('the credentials Secret %s/%s does not exist; run the credentials role '
                           '(openstack_k8s.deploy.credentials) before deploying services' % (namespace, secret_name))
    return decode_secret_data(secret)


def run(params, check_mode=False, client_factory=None, render=None, etcd_reader=read_etcd):
    """Roll out every service in ``params['services']``, each as soon as its dependencies are ready.

    ``params``: services (catalog entries), namespace, etcd (connection + prefix),
    credentials_secret, replicas, variables, state, wait, wait_timeout, force_conflicts and
    the Kubernetes connection options.
    """
    client_factory = client_factory or K8sClient
    render = render or default_render
    entries = params['services']
    options = dict(namespace=params['namespace'], prefix=(params.get('etcd') or {}).get('prefix') or '/openstack',
                   state=params.get('state') or 'present', wait=params.get('wait', True),
                   wait_timeout=params.get('wait_timeout') or 600, replicas=params.get('replicas') or {},
                   variables=params.get('variables') or {}, check_mode=check_mode,
                   force_conflicts=params.get('force_conflicts', False),
                   credentials_secret=params.get('credentials_secret'))
    flat, etcd_requests = {}, {}
    credentials = {}
    setup_client = client_factory(params)
    if options['state'] == 'present':
        if check_mode and params.get('config_tree'):
            # Check mode: the config role only predicted its etcd writes, so etcd still holds
            # the old tree; predict from the tree it would have written.
            flat = flat_from_tree(params['config_tree'], options['prefix'])
        else:
            flat, etcd_requests = etcd_reader(params['etcd'])
        credentials = read_credentials(setup_client, options['namespace'], params['credentials_secret'], check_mode)
        if credentials is None:
            # Check mode before the credentials role ever ran: predict with $NAME placeholders.
            credentials, options['placeholders'] = {}, True

    results, errors = {}, {}
    clients = [setup_client]
    # Render every service first: a bad input fails here, before any write.
    rollouts = []
    for entry in entries:
        rollout = ServiceRollout(entry, None, options, flat, credentials, render)
        rollout.render()
        rollouts.append(rollout)
    # Who waits for whom (depends_on and after among the services given); a cycle fails here.
    edges = rollout_edges(entries) if options['state'] == 'present' else dict((e['name'], []) for e in entries)
    # Resolve every kind once, then give each service a client sharing that discovery.
    kinds = set(OWNED_KINDS) | set([('v1', 'Pod')])
    kinds |= set((obj['apiVersion'], obj['kind']) for rollout in rollouts for phase in rollout.phases for obj in phase['objects'])
    for api_version, kind in sorted(kinds):
        try:
            setup_client.resource(api_version, kind)
        except K8sError as exc:
            if exc.status != 404:
                raise
    for rollout in rollouts:
        client = setup_client.fork() if hasattr(setup_client, 'fork') else client_factory(params)
        clients.append(client)
        rollout.attach(client)

    def guarded(rollout, step):
        """Run ``step`` for one service; an error is recorded against the service."""
        name = rollout.entry['name']
        try:
            return step()
        except WaitError as exc:
            errors[name] = dict(msg='%s: %s' % (name, exc.message), wait=exc.to_dict(), progress=rollout.progress)
        except ApplyConflict as exc:
            errors[name] = dict(msg='%s: %s' % (name, exc.message), conflicts=exc.conflicts, object=exc.ref, progress=rollout.progress)
        except K8sError as exc:
            errors[name] = dict(msg='%s: Kubernetes API error %s %s: %s' % (name, exc.status, exc.reason or '', exc.message),
                                status=exc.status, causes=exc.causes, progress=rollout.progress)
        except RolloutError as exc:
            errors[name] = dict(exc.details, msg='%s: %s' % (name, exc.message), progress=rollout.progress)
        except Exception as exc:  # pylint: disable=broad-except
            errors[name] = dict(msg='%s: %s: %s' % (name, type(exc).__name__, scrub(str(exc), credentials.values())),
                                exception=scrub(traceback.format_exc(), credentials.values()), progress=rollout.progress)
        return None

    started = time.monotonic()
    by_name = dict((rollout.name, rollout) for rollout in rollouts)
    schedule = Schedule(edges)
    timeline = dict((name, dict(name=name, waits_for=edges[name], state=WAITING, start=None, end=None))
                    for name in edges)
    lines = []

    def line(message):
        lines.append('[%5.1fs] %s' % (time.monotonic() - started, message))

    def on_start(name):
        timeline[name].update(state=RUNNING, start=round(time.monotonic() - started, 1))
        line('start %s%s' % (name, ' (%s ready)' % ', '.join(edges[name]) if edges[name] else ''))

    def launch(name):
        rollout = by_name[name]
        # The wait_timeout of a service counts from its own start, not from the run's.
        rollout.started = rollout.clock()
        guarded(rollout, rollout.apply_phases)
        ok = name not in errors
        timeline[name].update(state=READY if ok else FAILED, end=round(time.monotonic() - started, 1))
        line('%s %s' % (name, 'ready' if ok else 'FAILED: nothing new starts'))
        return ok

    run_schedule(schedule, launch, on_start=on_start)
    not_started = schedule.not_started()
    for name, needs in sorted(not_started.items()):
        line('not started: %s (%s)' % (name, 'needs %s' % ', '.join(needs) if needs else 'held back after the failure'))
    # Prune once every service is done, for those that succeeded: one list per kind for all of them.
    # Services never started are not touched at all: no prune either.
    succeeded = [rollout for rollout in rollouts if schedule.state[rollout.name] == READY]
    if succeeded:
        live = {}
        try:
            for obj in find_owned(setup_client, options['namespace'], [rollout.name for rollout in succeeded]):
                live.setdefault(((obj.get('metadata') or {}).get('labels') or {}).get(NAME_LABEL), []).append(obj)
        except K8sError as exc:
            for rollout in succeeded:
                errors[rollout.name] = dict(msg='%s: cannot list its objects to prune: %s' % (rollout.name, exc.message),
                                            status=exc.status)
            succeeded = []
        for rollout in succeeded:
            outcome = guarded(rollout, lambda rollout=rollout: rollout.finish(live.get(rollout.name, [])))
            if outcome is not None:
                results[rollout.name] = outcome
    requests = {}
    for client in clients:
        for verb, count in client.requests.items():
            requests[verb] = requests.get(verb, 0) + count
    writes = sum(requests.get(v, 0) for v in ('apply', 'create', 'update', 'patch', 'delete'))
    result = dict(
        changed=any(r['changed'] for r in results.values()),
        services=results,
        requests=requests,
        write_requests=writes,
        etcd_requests=etcd_requests,
        elapsed=round(time.monotonic() - started, 1),
        schedule=[timeline[name] for name in sorted(
            timeline, key=lambda n: (timeline[n]['start'] is None, timeline[n]['start'] or 0.0, n))],
        schedule_progress=lines,
        not_started=sorted(not_started),
    )
    if errors:
        result['failed_services'] = errors
        first = sorted(errors)[0]
        result['msg'] = '; '.join(errors[name]['msg'] for name in sorted(errors))
        if not_started:
            result['msg'] += '; not started: %s' % ', '.join(
                '%s (%s)' % (name, 'needs %s' % ', '.join(needs) if needs else 'held back after the failure')
                for name, needs in sorted(not_started.items()))
        result['failed'] = True
        for key in ('wait', 'conflicts', 'object'):
            if key in errors[first]:
                result[key] = errors[first][key]
    return result


# -- render to a directory (no cluster, no etcd) ----------------------------------------------
def flat_from_tree(tree, prefix):
    """The tree as etcd holds it ({full key: string}), through the same flattening the config role uses."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import flatten
    return dict(('%s/%s' % (prefix.rstrip('/'), key), value) for key, value in flatten(tree, check_secrets=False).items())


def manifest_files(phases):
    """{file name: object} in apply order: ``<NN>-<phase>-<kind>-<name>.yaml``."""
    files = {}
    index = 0
    for phase in phases:
        for obj in phase['objects']:
            index += 1
            files['%02d-%s-%s-%s.yaml' % (index, phase['name'], obj['kind'].lower(), obj['metadata']['name'])] = obj
    return files


def render_to_directory(params, check_mode=False, render=None):
    """Write every service's manifests under ``render_dir/<service>/``; returns the module result.

    Only files whose content changes are written; stale ``*.yaml`` files of a service folder
    are removed. Credentials stay ``$NAME`` placeholders.
    """
    import os
    import yaml
    render = render or default_render
    options = dict(namespace=params['namespace'], prefix=(params.get('etcd') or {}).get('prefix') or '/openstack',
                   state='present', replicas=params.get('replicas') or {}, variables=params.get('variables') or {},
                   credentials_secret=params.get('credentials_secret'), placeholders=True)
    flat = flat_from_tree(params.get('config_tree') or {}, options['prefix'])
    root = params['render_dir']
    results = {}
    for entry in params['services']:
        rollout = ServiceRollout(entry, None, options, flat, {}, render)
        rollout.render()
        folder = os.path.join(root, entry['name'])
        wanted = dict((name, yaml.safe_dump(obj, default_flow_style=False, sort_keys=True))
                      for name, obj in manifest_files(rollout.phases).items())
        existing = set(n for n in os.listdir(folder) if n.endswith('.yaml')) if os.path.isdir(folder) else set()
        written, removed = [], sorted(existing - set(wanted))
        for name, text in sorted(wanted.items()):
            path = os.path.join(folder, name)
            current = None
            if name in existing:
                with open(path) as handle:
                    current = handle.read()
            if current != text:
                written.append(name)
                if not check_mode:
                    if not os.path.isdir(folder):
                        os.makedirs(folder, 0o755)
                    tmp = path + '.tmp'
                    with open(tmp, 'w') as handle:
                        handle.write(text)
                    os.chmod(tmp, 0o644)
                    os.rename(tmp, path)
        if not check_mode:
            for name in removed:
                os.remove(os.path.join(folder, name))
        results[entry['name']] = dict(name=entry['name'], changed=bool(written or removed), directory=folder,
                                      files=sorted(wanted), written=written, removed=removed,
                                      checksum=config_checksum([o for p in rollout.phases for o in p['objects']]))
    return dict(changed=any(r['changed'] for r in results.values()), services=results, requests={}, write_requests=0,
                etcd_requests={}, elapsed=0.0)


# -- the deployed release and upgrades ---------------------------------------------------------
RECORD_COMPONENT = 'release'


def record_manifest(namespace, data):
    """The ConfigMap ``openstack-release`` holding ``data`` (release; target, from, completed, failed)."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
    return normalize({'apiVersion': 'v1', 'kind': 'ConfigMap',
                      'metadata': {'name': upgrade.RECORD_NAME, 'namespace': namespace,
                                   'labels': {MANAGED_BY: MANAGED_BY_VALUE, PART_OF: 'openstack',
                                              NAME_LABEL: upgrade.RECORD_NAME,
                                              'app.kubernetes.io/component': RECORD_COMPONENT}},
                      'data': dict(data)})


def read_record(client, namespace):
    """The parsed record (:func:`upgrade.parse_record`), or None when no release was recorded."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
    try:
        return upgrade.parse_record(client.get('v1', 'ConfigMap', upgrade.RECORD_NAME, namespace))
    except upgrade.UpgradeError as exc:
        raise RolloutError(str(exc))


def decide(record, releases, target):
    """What an upgrade to ``target`` would do given ``record``: ``{action, message, completed}``.

    ``action`` is ``none`` (already there), ``upgrade`` (start), ``resume`` (same target in
    progress) or ``refused`` (``message`` says why and what to do). Pure.
    """
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
    target = str(target)
    if record is None or not record.get('release'):
        return dict(action='refused', completed=[], message=(
            'no deployed release is recorded (ConfigMap %s): run playbooks/site.yml with the openstack_release the '
            'cloud runs now to record it, then upgrade' % upgrade.RECORD_NAME))
    if record.get('target'):
        if record['target'] != target:
            return dict(action='refused', completed=record['completed'], message=(
                'an upgrade from %s to %s is in progress (ConfigMap %s); finish it first with '
                'playbooks/upgrade.yml -e openstack_release=%s' % (record['from'], record['target'],
                                                                   upgrade.RECORD_NAME, record['target'])))
        return dict(action='resume', completed=record['completed'], message='resuming the upgrade from %s to %s after %d '
                    'finished steps' % (record['from'], target, len(record['completed'])))
    try:
        action = upgrade.check_path(releases, record['release'], target)
    except upgrade.UpgradeError as exc:
        return dict(action='refused', completed=[], message=str(exc))
    if action == 'none':
        return dict(action='none', completed=[], message='the cloud already runs %s' % target)
    return dict(action='upgrade', completed=[], message='upgrade from %s to %s' % (record['release'], target))


def release_info(params, client_factory=None):
    """``mode=info``: the record and what an upgrade to ``params['release']`` would do. Reads only."""
    client = (client_factory or K8sClient)(params)
    record = read_record(client, params['namespace'])
    decision = decide(record, params.get('releases') or [], params['release'])
    return dict(changed=False, record=record, deployed=(record or {}).get('release'), decision=decision,
                requests=dict(client.requests), write_requests=0)


def record_release(params, check_mode=False, client_factory=None):
    """``mode=record`` (site.yml): record the release a converged deployment runs; never changes it."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
    client = (client_factory or K8sClient)(params)
    namespace, release = params['namespace'], str(params['release'])
    record = read_record(client, namespace)
    before = record_data_of(record)
    if record is not None and record.get('target'):
        raise RolloutError('an upgrade from %s to %s is in progress; finish it with playbooks/upgrade.yml -e '
                           'openstack_release=%s before running site.yml'
                           % (record['from'], record['target'], record['target']))
    if record is not None and record.get('release') and record['release'] != release:
        raise RolloutError('openstack_release is %s but the cloud runs %s: change releases with playbooks/upgrade.yml '
                           '-e openstack_release=%s' % (release, record['release'], release))
    applied = Applier(client, check_mode=check_mode).apply(record_manifest(namespace, upgrade.record_data(release)))
    return dict(changed=applied['changed'], record=dict(release=release), deployed=release,
                diff=dict(before=before, after=dict(release=release)),
                requests=dict(client.requests), write_requests=getattr(client, 'write_count', 0))


def record_data_of(record):
    if record is None:
        return {}
    return dict((k, v) for k, v in record.items() if v not in (None, [], ''))


def upgrade_jobs_policy(service, namespace, keys):
    """No ingress to the upgrade Jobs' pods, as for every Job; pruned with the Jobs by ``converge``."""
    return {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy',
            'metadata': {'name': '%s-upgrade-jobs' % service, 'namespace': namespace,
                         'labels': {MANAGED_BY: MANAGED_BY_VALUE, PART_OF: 'openstack', NAME_LABEL: service,
                                    'app.kubernetes.io/component': 'upgrade-jobs'}},
            'spec': {'podSelector': {'matchLabels': {PART_OF: 'openstack', NAME_LABEL: service},
                                     'matchExpressions': [{'key': 'app.kubernetes.io/component', 'operator': 'In',
                                                           'values': list(keys)}]},
                     'policyTypes': ['Ingress'], 'ingress': []}}


class UpgradeRun(object):
    """One upgrade: the services in order, step by step, the progress recorded after every step."""

    def __init__(self, params, client, check_mode, render, etcd_reader, clock=time.monotonic):
        self.params = params
        self.client = client
        self.check_mode = check_mode
        self.render = render
        self.etcd_reader = etcd_reader
        self.clock = clock
        self.started = clock()
        self.namespace = params['namespace']
        self.target = str(params['release'])
        self.progress = []
        self.steps = []
        self.record = None
        self.secret_values = []

    def note(self, message):
        self.progress.append('[%6.1fs] %s' % (self.clock() - self.started, message))

    def options(self):
        variables = dict(self.params.get('variables') or {})
        variables['release'] = self.target
        return dict(namespace=self.namespace, prefix=(self.params.get('etcd') or {}).get('prefix') or '/openstack',
                    state='present', wait=self.params.get('wait', True),
                    wait_timeout=self.params.get('wait_timeout') or 600, replicas=self.params.get('replicas') or {},
                    variables=variables, check_mode=False, force_conflicts=self.params.get('force_conflicts', False),
                    credentials_secret=self.params.get('credentials_secret'))

    def write_record(self, data):
        if self.check_mode:
            return False
        return Applier(self.client).apply(record_manifest(self.namespace, data))['changed']

    def prepare_services(self, options):
        """Render every service and its upgrade Jobs before the first write; a bad input fails here."""
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests
        flat, _requests = self.etcd_reader(self.params['etcd'])
        credentials = read_credentials(self.client, self.namespace, self.params['credentials_secret'])
        self.secret_values = list(credentials.values())
        prepared = []
        for entry in self.params['services']:
            try:
                steps = upgrade.service_steps(entry)
            except upgrade.UpgradeError as exc:
                raise RolloutError(str(exc))
            rollout = ServiceRollout(entry, self.client, options, flat, credentials, self.render)
            rollout.render()
            jobs = {}
            wanted = [step for step in steps if step['kind'] == 'job']
            if wanted:
                general, files = service_config(flat, options['prefix'], entry['name'])
                try:
                    deployment, config_files = render_inputs(entry, general, files, credentials, options)
                    for phase in sorted(set(s['phase'] for s in wanted if s['phase'] in upgrade.UPGRADE_PHASES)):
                        for job in manifests.render_upgrade_jobs(entry, deployment, config_files,
                                                                 phase[len('upgrade-'):]):
                            key = job['metadata']['labels']['app.kubernetes.io/component']
                            jobs[key] = prepare(job, entry['name'], self.namespace)
                except Exception as exc:  # pylint: disable=broad-except
                    if type(exc).__name__ not in ('RenderError', 'CatalogError', 'TreeError'):
                        raise
                    raise RolloutError('cannot render the upgrade Jobs of %s: %s'
                                       % (entry['name'], scrub(str(exc), self.secret_values)))
                for phase in rollout.phases:
                    for obj in phase['objects']:
                        key = obj['metadata']['labels'].get('app.kubernetes.io/component')
                        if obj['kind'] == 'Job' and key not in jobs:
                            jobs[key] = obj
                for step in wanted:
                    if step['name'] not in jobs:
                        raise RolloutError('%s: upgrade step %s names a Job that is not rendered' % (entry['name'], step['id']))
            keys = sorted(s['name'] for s in wanted if s['phase'] in upgrade.UPGRADE_PHASES)
            extra = [prepare(upgrade_jobs_policy(entry['name'], self.namespace, keys), entry['name'],
                             self.namespace)] if keys else []
            prepared.append(dict(entry=entry, steps=steps, rollout=rollout, jobs=jobs, extra=extra))
        return prepared

    def run(self):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
        self.record = read_record(self.client, self.namespace)
        decision = decide(self.record, self.params.get('releases') or [], self.target)
        result = dict(changed=False, action=decision['action'], target=self.target,
                      deployed=(self.record or {}).get('release'), steps=[], progress=self.progress)
        if decision['action'] == 'refused':
            raise RolloutError(decision['message'])
        if decision['action'] == 'none':
            result['msg'] = decision['message']
            return result
        source = self.record['from'] if decision['action'] == 'resume' else self.record['release']
        completed = list(decision['completed'])
        options = self.options()
        services = self.prepare_services(options)
        planned = [step for service in services for step in service['steps']]
        result.update(source=source, plan=[s['id'] for s in planned])
        if self.check_mode:
            result.update(changed=True, steps=[dict(id=s['id'], action='skip' if s['id'] in completed else 'run')
                                               for s in planned])
            result['msg'] = '%s; %d steps to run' % (decision['message'], len([s for s in planned if s['id'] not in completed]))
            return result
        self.note(decision['message'])
        result['changed'] = self.write_record(upgrade.record_data(source, self.target, source, completed))
        for service in services:
            config_applied = False
            for step in service['steps']:
                if step['id'] in completed:
                    self.steps.append(dict(id=step['id'], action='skip', changed=False))
                    continue
                self.note('%s: start' % step['id'])
                try:
                    if step['kind'] != upgrade.CONVERGE and not config_applied:
                        self.apply_config(service)
                        config_applied = True
                    changed = self.run_step(service, step)
                except (WaitError, ApplyConflict, K8sError, RolloutError) as exc:
                    return self.fail(result, step, exc, source, completed)
                completed.append(step['id'])
                self.steps.append(dict(id=step['id'], action='run', changed=changed))
                self.write_record(upgrade.record_data(source, self.target, source, completed))
                self.note('%s: done' % step['id'])
        self.write_record(upgrade.record_data(self.target))
        self.note('the cloud runs %s' % self.target)
        result.update(changed=True, deployed=self.target, steps=self.steps,
                      msg='upgraded from %s to %s (%d steps)' % (source, self.target, len(self.steps)))
        return result

    def fail(self, result, step, exc, source, completed):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
        message = scrub(getattr(exc, 'message', str(exc)), self.secret_values)
        if isinstance(exc, K8sError):
            message = 'Kubernetes API error %s %s: %s' % (exc.status, exc.reason or '', message)
        failed = dict(step=step['id'], message=message[:1000])
        try:
            self.write_record(upgrade.record_data(source, self.target, source, completed, failed))
        except K8sError as record_error:
            self.note('cannot record the failure: %s' % record_error.message)
        self.steps.append(dict(id=step['id'], action='failed', changed=False))
        result.update(failed=True, changed=True, steps=self.steps, failed_step=step['id'],
                      msg='%s failed: %s. %s' % (step['id'], message, upgrade.resume_hint(self.target, step['id'])))
        if isinstance(exc, WaitError):
            result['wait'] = exc.to_dict()
        if isinstance(exc, ApplyConflict):
            result['conflicts'] = exc.conflicts
        return result

    def apply_config(self, service):
        """The service's config phase (Secrets, ServiceAccounts, NetworkPolicies) before its first step."""
        rollout = service['rollout']
        objects = [obj for phase in rollout.phases if phase['name'] == 'config' for obj in phase['objects']]
        for desired in objects + service['extra']:
            record = rollout.applier.apply(desired)
            if record['changed']:
                self.note('%s %s (%s)' % (record['action'], ref_label(record), record['reason']))

    def run_step(self, service, step):
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
        rollout = service['rollout']
        deadline = self.clock() + float(self.params.get('wait_timeout') or 600)
        if step['kind'] == upgrade.CONVERGE:
            rollout.started = self.clock()
            rollout.progress = []
            rollout.apply_phases()
            live = list(find_owned(self.client, self.namespace, [rollout.name]))
            outcome = rollout.finish(live)
            self.progress.extend(rollout.progress)
            return outcome['changed']
        if step['kind'] == 'job':
            job = service['jobs'][step['name']]
            ref = object_ref(job)
            live = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], ref['namespace'])
            if live is not None and readiness(live).failed:
                # A failed Job is finished for good: run it again from scratch.
                self.note('%s: deleting the failed %s to run it again' % (step['id'], ref_label(ref)))
                rollout.applier.delete(ref)
                rollout.applier._wait_gone(ref)  # pylint: disable=protected-access
            records = [rollout.applier.apply(job)]
            phase = dict(name=step['id'], wait='complete')
        else:
            names = upgrade.instances(service['entry'], step['name'])
            objects = [obj for phase in rollout.phases if phase['name'] == 'workloads' for obj in phase['objects']
                       if obj['metadata']['labels'].get('app.kubernetes.io/component') in names]
            records = [rollout.applier.apply(obj) for obj in objects]
            phase = dict(name=step['id'], wait='ready')
        for record in records:
            if record['changed']:
                self.note('%s %s (%s)' % (record['action'], ref_label(record), record['reason']))
        rollout.progress = []
        rollout._wait_phase(phase, records, deadline)  # pylint: disable=protected-access
        self.progress.extend(rollout.progress)
        return any(r['changed'] for r in records)


def run_upgrade(params, check_mode=False, client_factory=None, render=None, etcd_reader=read_etcd):
    """``mode=upgrade``: move the services in ``params['services']`` (in that order) to ``params['release']``."""
    client = (client_factory or K8sClient)(params)
    upgrade_run = UpgradeRun(params, client, check_mode, render or default_render, etcd_reader)
    started = time.monotonic()
    result = upgrade_run.run()
    requests = dict(client.requests)
    result.update(requests=requests, elapsed=round(time.monotonic() - started, 1),
                  write_requests=sum(requests.get(v, 0) for v in ('apply', 'create', 'update', 'patch', 'delete')))
    before = record_data_of(upgrade_run.record)
    after = record_data_of(read_record(client, params['namespace'])) if result['changed'] and not check_mode else before
    if check_mode and result['changed']:
        after = dict(before, release=str(params['release']))
    result['diff'] = dict(before=before, after=after)
    return result
