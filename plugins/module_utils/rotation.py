# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotate credentials with no moment where a running pod holds a value its backend rejects.

What can be rotated, and how:

* a database password (``<SERVICE>_DB_PASSWORD`` of a catalog ``databases`` entry):
  MariaDB >= 10.4 lets one account accept several authentications, so

  1. the new value is generated and kept in the rotation Secret (``<credentials>-rotation``)
     before anything else changes, so an interrupted run resumes with the same value;
  2. every account of the user accepts the old OR the new password (``ALTER USER ...
     IDENTIFIED VIA mysql_native_password USING '<old hash>' OR mysql_native_password
     USING '<new hash>'``, replicated by Galera), checked on every ready member;
  3. the credentials Secret gets the new value; the services whose config holds it are
     rendered again (their config Secret changes, so does the config checksum of their pod
     templates, and Kubernetes rolls them), and the run waits until no live pod of those
     services (terminating ones included) still carries an old template;
  4. the accounts accept only the new password; the rotation Secret entry is removed.

* ``KEYSTONE_FERNET``: the fernet token keys, rotated as ``keystone-manage fernet_rotate``
  does, over the fixed slots keystone mounts (``KEYSTONE_FERNET_TOKEN_KEY_<n>`` -> file
  ``<n>``; keystone signs with the highest file and reads all): the staged key (slot 0)
  becomes the primary (the highest slot), the old primary and the younger secondaries move
  one slot down, the oldest secondary is dropped, and a new staged key fills slot 0. A token
  signed before the rotation stays valid (its key is still mounted); a token signed by the
  new primary is valid in pods not rolled yet (they held it as the staged key). The pods
  that mount the keys are rolled through the annotation ``openstack-k8s.io/credentials-checksum``
  of their template, written by the field manager ``openstack-k8s-rotate``.

Every other credential is refused with the reason (see :data:`REFUSALS`). Nothing here
returns, logs or raises a secret value or a password hash.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import re
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.credentials import (
    MANAGED_LABELS, decode_data, encode_data, generate)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import podexec
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError

FERNET = 'KEYSTONE_FERNET'
FERNET_SLOT_RE = re.compile(r'^KEYSTONE_FERNET_TOKEN_KEY_(\d+)$')
CHECKSUM_ANNOTATION = 'openstack-k8s.io/config-checksum'
ROTATION_ANNOTATION = 'openstack-k8s.io/credentials-checksum'
ROTATE_FIELD_MANAGER = 'openstack-k8s-rotate'
NAME_LABEL = 'app.kubernetes.io/name'
COMPONENT_LABEL = 'app.kubernetes.io/component'
NATIVE = 'mysql_native_password'
WORKLOAD_KINDS = (('apps/v1', 'Deployment'), ('apps/v1', 'StatefulSet'), ('apps/v1', 'DaemonSet'))

_WINDOW = 'so no rotation without a window where running pods hold a rejected value exists'
# (pattern, reason): names this playbook will not rotate, and why; the runbook says what to do instead.
REFUSALS = (
    (r'^KEYSTONE_FERNET_TOKEN_KEY_\d+$', 'is one slot of the fernet key set; rotate the set as KEYSTONE_FERNET'),
    (r'^KEYSTONE_CREDENTIAL_KEY_\d+$', 'encrypts the credentials stored in the Keystone database; rotating it needs '
     'keystone-manage credential_rotate and credential_migrate against that database, which this playbook does not run'),
    (r'^NOVA_DB_PASSWORD$', 'is also stored in the nova_api cell mappings (nova-manage cell_v2 map_cell0/create_cell '
     'saved the connection URLs with the password), which this playbook cannot update; conductors would lose their '
     'cell databases'),
    (r'^MARIADB_(ROOT|SST)_PASSWORD$', 'is held in the environment of the running Galera members; changing it needs a '
     'rolling restart of the Galera cluster, which this playbook does not do'),
    (r'^(KEYSTONE_ADMIN|HEAT_DOMAIN_ADMIN|[A-Z0-9_]+_KEYSTONE)_PASSWORD$', 'is the password of a Keystone user, which '
     'holds exactly one password: once Keystone has the new one, every pod still configured with the old one fails to '
     'authenticate until it is rolled, ' + _WINDOW),
    (r'^(RABBITMQ_ADMIN|[A-Z0-9_]+_RABBITMQ)_PASSWORD$', 'is the password of a RabbitMQ user, which holds exactly one '
     'password: a pod still configured with the old one cannot reconnect once RabbitMQ has the new one, ' + _WINDOW),
    (r'^RABBITMQ_ERLANG_COOKIE$', 'must be the same on every RabbitMQ node and CLI at once; changing it restarts the '
     'whole RabbitMQ cluster'),
)
SHARED_REASON = ('is shared by two parties that must change it at the same moment (or encrypts stored data), '
                 + _WINDOW)


class RotationError(Exception):
    """Bad input or an unsafe state; the message names the field and the fix, never a value."""

    def __init__(self, message, **details):
        super(RotationError, self).__init__(message)
        self.message = message
        self.details = details


# --------------------------------------------------------------------------- pure helpers

def native_hash(password):
    """The mysql_native_password hash MariaDB stores for ``password`` (``PASSWORD('...')``)."""
    return '*' + hashlib.sha1(hashlib.sha1(password.encode('utf-8')).digest()).hexdigest().upper()


def values_checksum(values):
    """A short fingerprint of {name: value} for a pod template annotation (sha256; reveals no value)."""
    text = '\n'.join('%s=%s' % (name, values[name]) for name in sorted(values))
    return hashlib.sha256(('openstack-k8s-credentials\n' + text).encode('utf-8')).hexdigest()[:32]


def sql_string(text):
    return "'" + text.replace('\\', '\\\\').replace("'", "''") + "'"


def db_users(catalog, enabled):
    """{password name: {'users': [user], 'services': [service]}} from the catalog's ``databases``."""
    found = {}
    for service in sorted(catalog):
        if service not in enabled:
            continue
        for database in catalog[service].get('databases') or []:
            entry = found.setdefault(database['password'], {'users': [], 'services': []})
            if database['user'] not in entry['users']:
                entry['users'].append(database['user'])
            if service not in entry['services']:
                entry['services'].append(service)
    return found


def fernet_slots(catalog):
    """[(slot index, credential name)] of the fernet keys the keystone API mounts, by slot."""
    keystone = catalog.get('keystone') or {}
    slots = {}
    for component in (keystone.get('components') or {}).values():
        for volume in component.get('volumes') or []:
            for name, path in ((volume.get('credentials') or {}).get('items') or {}).items():
                if FERNET_SLOT_RE.match(name):
                    slots[int(path)] = name
    return sorted(slots.items())


def known_names(catalog):
    names = set()
    for entry in catalog.values():
        for secret in entry.get('secrets') or []:
            names.add(secret['name'])
    return names


def rotatable(catalog, enabled):
    names = set(n for n in db_users(catalog, enabled) if _refusal(n) is None)
    if 'keystone' in enabled and fernet_slots(catalog):
        names.add(FERNET)
    return sorted(names)


def _refusal(name):
    for pattern, reason in REFUSALS:
        if re.match(pattern, name):
            return reason
    return None


def classify(names, catalog, enabled):
    """{name: plan} for the requested names; raises RotationError listing every refused name."""
    errors, plans = [], {}
    if not isinstance(names, list) or not names:
        raise RotationError('names is empty: list what to rotate, e.g. ["GLANCE_DB_PASSWORD", "KEYSTONE_FERNET"]; '
                            'rotatable here: %s' % ', '.join(rotatable(catalog, enabled)))
    databases = db_users(catalog, enabled)
    known = known_names(catalog)
    for name in names:
        if not isinstance(name, str) or not name:
            errors.append('%r is not a credential name' % (name,))
        elif name in plans:
            continue
        elif name == FERNET:
            slots = fernet_slots(catalog)
            if 'keystone' not in enabled:
                errors.append('KEYSTONE_FERNET: keystone is not enabled in this deployment')
            elif len(slots) < 3 or [index for index, _name in slots] != list(range(len(slots))):
                errors.append('KEYSTONE_FERNET: keystone mounts the fernet slots %s; a rotation needs at least 3 '
                              'consecutive slots from 0 (staged, secondary, primary) or the tokens signed today become '
                              'invalid; add KEYSTONE_FERNET_TOKEN_KEY_2 to the keystone catalog entry'
                              % [index for index, _name in slots])
            else:
                plans[name] = dict(name=name, kind='fernet', slots=[slot for _index, slot in slots], services=['keystone'])
        elif _refusal(name):
            errors.append('%s cannot be rotated here: it %s' % (name, _refusal(name)))
        elif name in databases:
            plans[name] = dict(name=name, kind='database', users=databases[name]['users'], services=list(databases[name]['services']))
        elif name in known:
            owners = sorted(s for s, e in catalog.items() if name in [x['name'] for x in e.get('secrets') or []])
            if not any(owner in enabled for owner in owners):
                errors.append('%s belongs to %s, which is not enabled in this deployment' % (name, ', '.join(owners)))
            else:
                errors.append('%s cannot be rotated here: it %s' % (name, SHARED_REASON))
        else:
            errors.append('%s is not a credential of any catalog service' % name)
    if errors:
        raise RotationError('rotate: %s. Names this playbook rotates here: %s (see the rotate_credentials runbook for '
                            'the others)' % ('; '.join(errors), ', '.join(rotatable(catalog, enabled))))
    return plans


def rotate_fernet(current, slots, new_key):
    """The slot values after one fernet_rotate: {slot name: value}."""
    # slots: 0 staged, 1 .. n-2 secondaries (oldest first), n-1 primary
    values = [current[name] for name in slots]
    return dict(zip(slots, [new_key] + values[2:] + [values[0]]))


def accepted_methods(priv):
    """[(plugin, authentication string)] one account accepts, from its mysql.global_priv JSON."""
    top = (priv.get('plugin') or NATIVE, priv.get('authentication_string') or '')
    alternatives = priv.get('auth_or')
    if not alternatives:
        return [top]
    return [top if not alt else (alt.get('plugin') or NATIVE, alt.get('authentication_string') or '')
            for alt in alternatives]


def unescape_batch(field):
    """A field of ``mariadb --batch`` output (which escapes backslash, tab, newline and NUL)."""
    out, index = [], 0
    while index < len(field):
        char = field[index]
        if char == '\\' and index + 1 < len(field):
            nxt = field[index + 1]
            out.append({'t': '\t', 'n': '\n', '0': '\0', '\\': '\\'}.get(nxt, nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return ''.join(out)


def template_references(obj, secret_name):
    """Credential names a workload's pod template reads straight from the credentials Secret, or None for 'all'."""
    spec = ((obj.get('spec') or {}).get('template') or {}).get('spec') or {}
    names = set()
    for container in (spec.get('containers') or []) + (spec.get('initContainers') or []):
        for env in container.get('env') or []:
            ref = ((env.get('valueFrom') or {}).get('secretKeyRef') or {})
            if ref.get('name') == secret_name and ref.get('key'):
                names.add(ref['key'])
        for source in container.get('envFrom') or []:
            if (source.get('secretRef') or {}).get('name') == secret_name:
                return None
    for volume in spec.get('volumes') or []:
        secret = volume.get('secret') or {}
        sources = [secret] + [p.get('secret') or {} for p in (volume.get('projected') or {}).get('sources') or []]
        for source in sources:
            if source.get('secretName', source.get('name')) != secret_name:
                continue
            if not source.get('items'):
                return None
            names.update(item['key'] for item in source['items'])
    return names


def _ready(pod):
    if (pod.get('metadata') or {}).get('deletionTimestamp') or (pod.get('status') or {}).get('phase') != 'Running':
        return False
    return any(c.get('type') == 'Ready' and c.get('status') == 'True'
               for c in (pod.get('status') or {}).get('conditions') or [])


# --------------------------------------------------------------------------- MariaDB through pod exec

# Runs in a Galera member's container: root over the member's own socket (the socket path
# from its my.cnf, as galera-start.sh finds it), the password from the pod's environment
# (never on argv), the SQL from stdin - exactly $1 bytes, so no end-of-stdin signal is needed.
SQL_SCRIPT = (
    'set -eu; '
    'sock=$(my_print_defaults --defaults-file="${GALERA_DEFAULTS_FILE:-/etc/mysql/my.cnf}" mysqld 2>/dev/null '
    '| sed -n "s/^--socket=//p" | tail -n 1); '
    'if [ -n "${MARIADB_ROOT_PASSWORD:-}" ]; then MYSQL_PWD=$MARIADB_ROOT_PASSWORD; export MYSQL_PWD; fi; '
    'head -c "$1" | mariadb --no-defaults --user=root ${sock:+--socket="$sock"} --batch --skip-column-names '
    '--connect-timeout=10')


class GaleraSql(object):
    """SQL on the Galera members through the pod exec API (the transport galera_bootstrap uses)."""

    def __init__(self, client, core_api, namespace, statefulset, container, exec_timeout=120, clock=time.monotonic):
        self.client = client
        self.api = core_api
        self.namespace = namespace
        self.statefulset = statefulset
        self.container = container
        self.exec_timeout = exec_timeout
        self.clock = clock
        self.execs = 0

    def members(self):
        """Names of the ready member pods, in order; raises when there is none."""
        sts = self.client.get('apps/v1', 'StatefulSet', self.statefulset, self.namespace)
        if sts is None:
            raise RotationError('StatefulSet %s/%s (the Galera cluster) does not exist; set rotate_credentials_galera_statefulset'
                                % (self.namespace, self.statefulset))
        labels = ((sts.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
        pods, _version = self.client.list('v1', 'Pod', namespace=self.namespace,
                                          label_selector=','.join('%s=%s' % kv for kv in sorted(labels.items())))
        ready = sorted(p['metadata']['name'] for p in pods if _ready(p))
        if not ready:
            raise RotationError('no Galera member of StatefulSet %s/%s is ready; recover the cluster first '
                                '(playbooks/galera_recover.yml)' % (self.namespace, self.statefulset))
        return ready

    def run(self, pod, sql):
        """Run ``sql`` on member ``pod``; return the output rows (lists of unescaped fields)."""
        data = sql.encode('utf-8')
        command = ['/bin/sh', '-c', SQL_SCRIPT, 'rotate-sql', str(len(data))]
        self.execs += 1
        where = 'pod %s/%s' % (self.namespace, pod)
        try:
            raw, out, err = podexec.run(self.api, self.namespace, pod, command, container=self.container, stdin=sql,
                                        timeout=self.exec_timeout, clock=self.clock)
        except podexec.ExecTimeout:
            raise RotationError('%s: the mariadb client did not finish within %ss' % (where, self.exec_timeout))
        except Exception as exc:  # pylint: disable=broad-except
            raise RotationError('%s: the pod exec of the mariadb client failed: %s' % (where, exc))
        try:
            failed = podexec.exit_code(raw) != 0
            reason = err
        except podexec.ExecError as exc:
            failed, reason = True, err or str(exc)
        if failed:
            raise RotationError('%s: the mariadb client failed: %s' % (where, reason.strip()[-400:]))
        return [[unescape_batch(f) for f in line.split('\t')] for line in out.splitlines() if line]

    def accounts(self, pod, user):
        """{host: [(plugin, auth string)]} of every account of ``user`` on member ``pod``."""
        rows = self.run(pod, 'SELECT Host, Priv FROM mysql.global_priv WHERE User = %s ORDER BY Host;\n' % sql_string(user))
        found = {}
        for row in rows:
            try:
                found[row[0]] = accepted_methods(json.loads(row[1]))
            except (IndexError, ValueError):
                raise RotationError('pod %s/%s: unreadable mysql.global_priv row for user %s' % (self.namespace, pod, user))
        return found

    def set_passwords(self, pod, user, hosts, hashes):
        clauses = ' OR '.join('%s USING %s' % (NATIVE, sql_string(h)) for h in hashes)
        self.run(pod, ''.join("ALTER USER %s@%s IDENTIFIED VIA %s;\n" % (sql_string(user), sql_string(host), clauses)
                              for host in hosts))


# --------------------------------------------------------------------------- the rotation

class Rotation(object):
    """One run: plan from one read of everything, then act step by step (each step idempotent)."""

    def __init__(self, client, sql, params, rollout=None, clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.sql = sql
        self.params = params
        self.rollout = rollout
        self.clock = clock
        self.sleep = sleep
        self.namespace = params['namespace']
        self.secret_name = params['credentials_secret']
        self.rotation_secret = params.get('rotation_secret') or self.secret_name + '-rotation'
        self.catalog = params['catalog']
        self.enabled = params.get('enabled_services') or sorted(self.catalog)
        self.steps = []
        self.changed = False

    def note(self, text):
        self.steps.append(text)

    # -- reads ------------------------------------------------------------------------------
    def _secret(self, name):
        return self.client.get('v1', 'Secret', name, self.namespace)

    def plan(self):
        plans = classify(self.params['names'], self.catalog, self.enabled)
        secret = self._secret(self.secret_name)
        if secret is None:
            raise RotationError('the credentials Secret %s/%s does not exist; deploy first (playbooks/site.yml)'
                                % (self.namespace, self.secret_name))
        current = decode_data(secret)
        pending = decode_data(self._secret(self.rotation_secret))
        errors = []
        members = None
        for name, plan in sorted(plans.items()):
            plan['resume'] = name in pending
            if plan['kind'] == 'fernet':
                missing = [slot for slot in plan['slots'] if slot not in current]
                if missing:
                    errors.append('KEYSTONE_FERNET: the credentials Secret lacks %s; run playbooks/site.yml first'
                                  % ', '.join(missing))
                    continue
                if plan['resume']:
                    try:
                        target = json.loads(pending[name])
                    except ValueError:
                        target = None
                    if not isinstance(target, dict) or sorted(target) != sorted(plan['slots']):
                        errors.append('KEYSTONE_FERNET: the pending entry in Secret %s/%s is unreadable; delete that key '
                                      'and re-run' % (self.namespace, self.rotation_secret))
                        continue
                    plan['switched'] = all(current[s] == target[s] for s in plan['slots'])
                continue
            if name not in current:
                errors.append('%s is not in the credentials Secret yet; run playbooks/site.yml first' % name)
                continue
            plan['switched'] = plan['resume'] and current[name] == pending[name]
            if members is None:
                members = self.sql.members()
            plan['accounts'] = {}
            for user in plan['users']:
                accounts = self.sql.accounts(members[0], user)
                if not accounts:
                    errors.append('%s: MariaDB has no account named %s; run playbooks/site.yml (its db-init Job creates it)'
                                  % (name, user))
                    continue
                for host, methods in sorted(accounts.items()):
                    problem = self._account_problem(name, plan, current, pending, methods)
                    if problem:
                        errors.append('%s: account %s@%s %s' % (name, user, host, problem))
                plan['accounts'][user] = sorted(accounts)
        if errors:
            raise RotationError('; '.join(errors))
        for name, plan in plans.items():
            plan['services'] = self._holder_services(name, plan, current, pending)
            plan['workloads'] = self._direct_holders(plan)
        fresh = [name for name, plan in plans.items() if not plan['resume']]
        if fresh:
            services = sorted(set(s for n in fresh for s in plans[n]['services']))
            stale = self.stale_pods(services)
            if stale:
                raise RotationError('%s: pods of %s do not run their current template yet (%s); a rotation starts only '
                                    'from a finished rollout: wait for it (or finish it with playbooks/site.yml) and re-run'
                                    % (', '.join(sorted(fresh)), ', '.join(services), _describe(stale)))
        return plans, current, pending

    def _account_problem(self, name, plan, current, pending, methods):
        if any(plugin != NATIVE for plugin, _auth in methods):
            return ('authenticates with %s; only mysql_native_password accounts (what the db-init Job creates) can be '
                    'rotated here' % ', '.join(sorted(set(p for p, _a in methods if p != NATIVE))))
        hashes = [auth for _plugin, auth in methods]
        if native_hash(current[name]) not in hashes:
            if plan['resume'] and native_hash(pending[name]) in hashes:
                return None
            return ('does not accept the credentials Secret\'s value of %s: the Secret and the database disagree; '
                    'make them agree first (re-run the service\'s db-init Job, or ALTER USER by hand) and re-run' % name)
        return None

    def _holder_services(self, name, plan, current, pending):
        """Services whose config holds the value: the catalog's consumers, and any config Secret containing it."""
        services = set(plan['services'])
        for service in self.enabled:
            if any(s['name'] in ([name] if plan['kind'] == 'database' else plan['slots'])
                   for s in (self.catalog.get(service) or {}).get('secrets') or []):
                services.add(service)
        if plan['kind'] == 'database':
            values = [v for v in (current.get(name), pending.get(name)) if v]
            secrets, _version = self.client.list('v1', 'Secret', namespace=self.namespace,
                                                 label_selector='app.kubernetes.io/managed-by=openstack_k8s.deploy')
            for secret in secrets:
                owner = ((secret.get('metadata') or {}).get('labels') or {}).get(NAME_LABEL)
                if owner in (None, 'credentials') or secret['metadata']['name'] in (self.secret_name, self.rotation_secret):
                    continue
                text = '\n'.join(decode_data(secret).values())
                if any(value in text for value in values) and owner in self.catalog:
                    services.add(owner)
        return sorted(s for s in services if s in self.enabled)

    def _direct_holders(self, plan):
        """Workloads whose pod template reads one of the rotated keys straight from the credentials Secret."""
        keys = set(plan['slots'] if plan['kind'] == 'fernet' else [plan['name']])
        found = []
        for api_version, kind in WORKLOAD_KINDS:
            items, _version = self.client.list(api_version, kind, namespace=self.namespace,
                                               label_selector='app.kubernetes.io/managed-by=openstack_k8s.deploy')
            for obj in items:
                refs = template_references(obj, self.secret_name)
                if refs is None or refs & keys:
                    found.append(dict(apiVersion=api_version, kind=kind, name=obj['metadata']['name'],
                                      service=(obj['metadata'].get('labels') or {}).get(NAME_LABEL)))
        return found

    def _referenced_values(self, obj, values):
        refs = template_references(obj, self.secret_name)
        if refs is None:
            refs = set(values)
        return dict((name, values[name]) for name in refs if name in values)

    def stale_pods(self, services):
        """Live pods (terminating ones included) of ``services`` that do not carry their template's current annotations."""
        stale = []
        for service in services:
            selector = '%s=%s' % (NAME_LABEL, service)
            templates = {}
            for api_version, kind in WORKLOAD_KINDS + (('batch/v1', 'Job'),):
                items, _version = self.client.list(api_version, kind, namespace=self.namespace, label_selector=selector)
                for obj in items:
                    meta = ((obj.get('spec') or {}).get('template') or {}).get('metadata') or {}
                    component = (meta.get('labels') or {}).get(COMPONENT_LABEL)
                    annotations = meta.get('annotations') or {}
                    templates.setdefault(component, []).append(
                        (annotations.get(CHECKSUM_ANNOTATION), annotations.get(ROTATION_ANNOTATION)))
            pods, _version = self.client.list('v1', 'Pod', namespace=self.namespace, label_selector=selector)
            for pod in pods:
                meta = pod.get('metadata') or {}
                if (pod.get('status') or {}).get('phase') in ('Succeeded', 'Failed'):
                    continue
                annotations = meta.get('annotations') or {}
                held = (annotations.get(CHECKSUM_ANNOTATION), annotations.get(ROTATION_ANNOTATION))
                if held == (None, None):
                    continue
                if held not in templates.get((meta.get('labels') or {}).get(COMPONENT_LABEL), []):
                    stale.append(dict(pod=meta['name'], service=service, terminating=bool(meta.get('deletionTimestamp'))))
        return stale

    # -- writes -----------------------------------------------------------------------------
    def run(self, check_mode=False):
        plans, current, pending = self.plan()
        result = dict(changed=False, names=sorted(plans), plan=self._report(plans), steps=self.steps)
        if check_mode:
            result['changed'] = True
            return result
        targets = self._ensure_pending(plans, current, pending)
        db_names = sorted(n for n, p in plans.items() if p['kind'] == 'database')
        for name in db_names:
            if current[name] != targets[name]:
                self._set_accounts(name, plans[name], [current[name], targets[name]], 'accepts the old or the new password')
        self._switch_credentials(plans, current, targets)
        after = decode_data(self._secret(self.secret_name))
        self._roll_direct_holders(plans, after)
        services = sorted(set(s for n in db_names for s in plans[n]['services']))
        if services:
            self._rerender(services)
        holders = sorted(set(s for p in plans.values() for s in p['services'])
                         | set(w['service'] for p in plans.values() for w in p['workloads'] if w.get('service')))
        self._wait_rolled(holders)
        for name in db_names:
            self._set_accounts(name, plans[name], [targets[name]], 'accepts only the new password')
        self._drop_pending(sorted(plans))
        result.update(changed=self.changed, steps=self.steps)
        return result

    def _report(self, plans):
        report = {}
        for name, plan in sorted(plans.items()):
            entry = dict(kind=plan['kind'], action='resume' if plan['resume'] else 'rotate',
                         services=plan['services'], workloads=['%s/%s' % (w['kind'], w['name']) for w in plan['workloads']])
            if plan['kind'] == 'database':
                entry['accounts'] = ['%s@%s' % (user, host) for user, hosts in sorted(plan['accounts'].items()) for host in hosts]
            else:
                entry['slots'] = plan['slots']
            report[name] = entry
        return report

    def _ensure_pending(self, plans, current, pending):
        """The target value of every name, kept in the rotation Secret before anything else changes."""
        targets, new = {}, {}
        for name, plan in sorted(plans.items()):
            if plan['kind'] == 'fernet':
                if name in pending:
                    targets[name] = json.loads(pending[name])
                else:
                    targets[name] = rotate_fernet(current, plan['slots'], generate('fernet_key'))
                    new[name] = json.dumps(targets[name], sort_keys=True)
            elif name in pending:
                targets[name] = pending[name]
            else:
                targets[name] = new[name] = generate('password', max(32, len(current[name])))
        if new:
            secret = self._secret(self.rotation_secret)
            if secret is None:
                labels = dict(MANAGED_LABELS)
                labels['app.kubernetes.io/component'] = 'rotation'
                self.client.create(dict(apiVersion='v1', kind='Secret', type='Opaque',
                                        metadata=dict(name=self.rotation_secret, namespace=self.namespace, labels=labels),
                                        data=encode_data(new)), field_manager=ROTATE_FIELD_MANAGER)
            else:
                self.client.patch('v1', 'Secret', self.rotation_secret,
                                  dict(metadata=dict(resourceVersion=secret['metadata']['resourceVersion']), data=encode_data(new)),
                                  namespace=self.namespace, field_manager=ROTATE_FIELD_MANAGER)
            self.changed = True
            self.note('new values of %s kept in Secret %s' % (', '.join(sorted(new)), self.rotation_secret))
        return targets

    def _set_accounts(self, name, plan, passwords, what, timeout=30.0):
        wanted = [native_hash(p) for p in passwords]
        members = self.sql.members()
        for user, hosts in sorted(plan['accounts'].items()):
            live = self.sql.accounts(members[0], user)
            todo = [h for h in hosts if [a for _p, a in live.get(h, [])] != wanted]
            if todo:
                self.sql.set_passwords(members[0], user, todo, wanted)
                self.changed = True
                self.note('%s: %s %s' % (name, ', '.join('%s@%s' % (user, h) for h in todo), what))
            # Every ready member must show it before anything relies on it.
            deadline = self.clock() + timeout
            for member in members:
                while [[a for _p, a in methods] for _h, methods in sorted(self.sql.accounts(member, user).items())
                       if _h in hosts] != [wanted] * len(hosts):
                    if self.clock() > deadline:
                        raise RotationError('%s: Galera member %s does not show the new state of account %s after %.0fs; '
                                            'check the cluster (playbooks/galera_recover.yml --check) and re-run (the '
                                            'run resumes)' % (name, member, user, timeout))
                    self.sleep(0.5)

    def _switch_credentials(self, plans, current, targets):
        writes = {}
        for name, plan in sorted(plans.items()):
            if plan['kind'] == 'fernet':
                writes.update(dict((slot, value) for slot, value in targets[name].items() if current[slot] != value))
            elif current[name] != targets[name]:
                writes[name] = targets[name]
        if not writes:
            return
        secret = self._secret(self.secret_name)
        try:
            self.client.patch('v1', 'Secret', self.secret_name,
                              dict(metadata=dict(resourceVersion=secret['metadata']['resourceVersion']), data=encode_data(writes)),
                              namespace=self.namespace, field_manager=ROTATE_FIELD_MANAGER)
        except K8sError as exc:
            raise RotationError('could not write the credentials Secret %s/%s (%s, HTTP %s); re-run (the run resumes)'
                                % (self.namespace, self.secret_name, exc.message, exc.status))
        self.changed = True
        self.note('credentials Secret %s: %s now hold the new values' % (self.secret_name, ', '.join(sorted(writes))))

    def _roll_direct_holders(self, plans, values):
        done = set()
        for plan in plans.values():
            for ref in plan['workloads']:
                key = (ref['kind'], ref['name'])
                if key in done:
                    continue
                done.add(key)
                live = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], self.namespace)
                if live is None:
                    continue
                wanted = values_checksum(self._referenced_values(live, values))
                if _template_annotations(live).get(ROTATION_ANNOTATION) == wanted:
                    continue
                self.client.patch(ref['apiVersion'], ref['kind'], ref['name'],
                                  dict(spec=dict(template=dict(metadata=dict(annotations={ROTATION_ANNOTATION: wanted})))),
                                  namespace=self.namespace, field_manager=ROTATE_FIELD_MANAGER)
                self.changed = True
                self.note('%s %s rolls: the credentials it mounts changed' % (ref['kind'], ref['name']))

    def _rerender(self, services):
        result = self.rollout(services)
        if result.get('failed'):
            raise RotationError('rolling out %s with the new credentials failed: %s. The database accounts accept the old '
                                'and the new password until the rollout is done; fix the cause and re-run (the run resumes)'
                                % (', '.join(services), result.get('msg')), wait=result.get('wait'))
        if result.get('changed'):
            self.changed = True
            self.note('rendered again and rolled: %s' % ', '.join(services))

    def _wait_rolled(self, services):
        timeout = float(self.params.get('wait_timeout') or 900)
        deadline = self.clock() + timeout
        stale = self.stale_pods(services)
        if stale:
            self.note('waiting until no pod of %s holds the old values: %s' % (', '.join(services), _describe(stale)))
        while stale:
            if self.clock() > deadline:
                raise RotationError('timed out after %.0fs waiting until no pod of %s holds the old values; still live: %s. '
                                    'Both values stay accepted; find why those pods do not go (kubectl describe) and '
                                    're-run (the run resumes)' % (timeout, ', '.join(services), _describe(stale)))
            self.sleep(0.5)
            stale = self.stale_pods(services)

    def _drop_pending(self, names):
        secret = self._secret(self.rotation_secret)
        if secret is None:
            return
        left = set(decode_data(secret)) - set(names)
        if left:
            self.client.patch('v1', 'Secret', self.rotation_secret,
                              dict(metadata=dict(resourceVersion=secret['metadata']['resourceVersion']),
                                   data=dict((n, None) for n in names if n in decode_data(secret))),
                              namespace=self.namespace, field_manager=ROTATE_FIELD_MANAGER)
        else:
            self.client.delete('v1', 'Secret', self.rotation_secret, self.namespace)
        self.changed = True
        self.note('rotation of %s complete' % ', '.join(names))


def _template_annotations(obj):
    return ((((obj or {}).get('spec') or {}).get('template') or {}).get('metadata') or {}).get('annotations') or {}


def _describe(stale):
    return ', '.join('%s (%s%s)' % (s['pod'], s['service'], ', terminating' if s['terminating'] else '') for s in stale[:10])
