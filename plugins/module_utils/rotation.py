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

* a RabbitMQ service password (``<SERVICE>_RABBITMQ_PASSWORD`` of a catalog ``messaging``
  entry): a RabbitMQ user holds exactly one password, so the service alternates between two
  users (``nova`` and ``nova-b``; the credential ``NOVA_RABBITMQ_USER`` names the current one,
  see :mod:`service_users`):

  1. the new user name and password are kept in the rotation Secret first;
  2. the new user is made (``rabbitmqctl add_user``, password on stdin) with the old user's
     tags and vhost permissions, and every ready RabbitMQ member must authenticate it;
  3. the credentials Secret gets the new user and password; the services are rendered again
     and rolled, and the run waits until no live pod of them carries an old template;
  4. once RabbitMQ lists no connection of the old user, the old user is deleted.

* a Keystone service-user password (``<SERVICE>_KEYSTONE_PASSWORD`` of a catalog
  ``keystone.user``): a Keystone user also holds one password, so the service alternates
  between two users the same way (``NOVA_KEYSTONE_USER``): the new user gets the new
  password, the old user's default project and every role assignment of the old user
  through Keystone's API (:class:`KeystoneUsers`, as the admin user); the switch and the
  rollout follow; the old user is deleted once no pod of the services runs with it. A user
  marked ``trustee`` (heat: its stacks' trusts name it) is refused.

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
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.credentials import (
    MANAGED_LABELS, decode_data, encode_data, generate)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import info, podexec
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError

FERNET = 'KEYSTONE_FERNET'
FERNET_SLOT_RE = re.compile(r'^KEYSTONE_FERNET_TOKEN_KEY_(\d+)$')
CHECKSUM_ANNOTATION = 'openstack-k8s.io/config-checksum'
ROTATION_ANNOTATION = 'openstack-k8s.io/credentials-checksum'
ROTATE_FIELD_MANAGER = 'openstack-k8s-rotate'
NAME_LABEL = 'app.kubernetes.io/name'
COMPONENT_LABEL = 'app.kubernetes.io/component'
NATIVE = 'mysql_native_password'
ALTERNATING = ('messaging', 'keystone')
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
    (r'^KEYSTONE_ADMIN_PASSWORD$', 'is the password of the Keystone admin user, which holds exactly one password and is '
     'also held outside the cluster (clouds.yaml, operators, the registration Jobs while they run), ' + _WINDOW),
    (r'^HEAT_DOMAIN_ADMIN_PASSWORD$', 'is the password of the heat stack domain admin, which holds exactly one password; '
     'heat creates and deletes stack users with it at any moment, ' + _WINDOW),
    (r'^RABBITMQ_ADMIN_PASSWORD$', 'is the password of the RabbitMQ admin user, which rabbitmq.conf (default_user) '
     'sets only when the cluster is first formed; change it with rabbitmqctl change_password admin and then the '
     'credentials Secret, as the runbook says'),
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


def _account_of(entry, backend):
    """(user, password name, trustee) of an entry's RabbitMQ or Keystone account, or None."""
    if backend == 'rabbitmq':
        account = entry.get('messaging') or {}
        return account.get('user'), account.get('password'), False
    account = (entry.get('keystone') or {}).get('user') or {}
    return account.get('name'), account.get('password'), bool(account.get('trustee'))


def alternating_users(catalog, enabled, trustees=False):
    """{password name: {'base', 'backend', 'services'}} of the catalog's ``messaging`` and ``keystone.user`` accounts.

    The accounts a rotation switches between two users (:mod:`service_users`). A Keystone
    user marked ``trustee`` (heat: the trusts of its stacks name it) is left out unless
    ``trustees`` is set.
    """
    found = {}
    for service in sorted(catalog):
        if service not in enabled:
            continue
        for kind in ('rabbitmq', 'keystone'):
            user, password, trustee = _account_of(catalog[service], kind)
            if user and service_users.user_key(password) and (trustees or not trustee):
                found[password] = dict(base=user, backend=kind, services=[service], trustee=trustee)
    for service in sorted(catalog):
        for secret in catalog[service].get('secrets') or []:
            if service in enabled and secret['name'] in found and service not in found[secret['name']]['services']:
                found[secret['name']]['services'].append(service)
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
    names = set(n for n in db_users(catalog, enabled) if _refusal(n) is None) | set(alternating_users(catalog, enabled))
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
    alternating = alternating_users(catalog, enabled, trustees=True)
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
        elif name in alternating and alternating[name]['trustee']:
            errors.append('%s cannot be rotated here: it is the password of Keystone user %s, the trustee of the trusts '
                          'users delegated to %s (their ids name this user): a second user cannot use them, so switching '
                          'users would break the deferred operations of existing stacks, and the one user holds exactly '
                          'one password, %s' % (name, alternating[name]['base'], ', '.join(alternating[name]['services']),
                                                _WINDOW))
        elif name in alternating:
            kind = 'messaging' if alternating[name]['backend'] == 'rabbitmq' else 'keystone'
            plans[name] = dict(name=name, kind=kind, base=alternating[name]['base'], user_key=service_users.user_key(name),
                               services=list(alternating[name]['services']))
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


class _ClusterExec(object):
    """Commands in the ready members of a StatefulSet, through the pod exec API."""

    what = 'the cluster'           # for messages: 'the Galera cluster'
    member = 'member'              # 'Galera member'
    setting = ''                   # the role variable naming the StatefulSet
    recover = 'bring the cluster back first'

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
            raise RotationError('StatefulSet %s/%s (%s) does not exist; set %s'
                                % (self.namespace, self.statefulset, self.what, self.setting))
        labels = ((sts.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
        pods, _version = self.client.list('v1', 'Pod', namespace=self.namespace,
                                          label_selector=','.join('%s=%s' % kv for kv in sorted(labels.items())))
        ready = sorted(p['metadata']['name'] for p in pods if info.pod_ready(p))
        if not ready:
            raise RotationError('no %s of StatefulSet %s/%s is ready; %s'
                                % (self.member, self.namespace, self.statefulset, self.recover))
        return ready


class GaleraSql(_ClusterExec):
    """SQL on the Galera members through the pod exec API (the transport galera_bootstrap uses)."""

    what = 'the Galera cluster'
    member = 'Galera member'
    setting = 'rotate_credentials_galera_statefulset'
    recover = 'recover the cluster first (playbooks/galera_recover.yml)'

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


# --------------------------------------------------------------------------- RabbitMQ through pod exec

# Runs in a RabbitMQ member's container, whose environment (RABBITMQ_NODENAME, HOME with the
# Erlang cookie) points rabbitmqctl at that member. A password travels on stdin, exactly $1
# bytes (the exec stream has no end-of-stdin signal), never on argv.
CTL_SCRIPT = ('set -eu; n=$1; shift; '
              'if [ "$n" -gt 0 ]; then head -c "$n" | rabbitmqctl "$@"; else rabbitmqctl "$@" </dev/null; fi')


class RabbitCtl(_ClusterExec):
    """rabbitmqctl in the ready members of the RabbitMQ StatefulSet, through the pod exec API."""

    what = 'the RabbitMQ cluster'
    member = 'RabbitMQ member'
    setting = 'rotate_credentials_rabbitmq_statefulset'
    recover = 'bring the cluster back first'

    def run(self, pod, args, secret=None, check=True):
        """rabbitmqctl ``args`` in ``pod`` (``secret`` on its stdin); (exit code, stdout)."""
        data = (secret or '').encode('utf-8')
        command = ['/bin/sh', '-c', CTL_SCRIPT, 'rotate-mq', str(len(data))] + list(args)
        self.execs += 1
        where = 'pod %s/%s: rabbitmqctl %s' % (self.namespace, pod, args[0])
        try:
            raw, out, err = podexec.run(self.api, self.namespace, pod, command, container=self.container,
                                        stdin=secret if data else None, timeout=self.exec_timeout, clock=self.clock)
        except podexec.ExecTimeout:
            raise RotationError('%s did not finish within %ss' % (where, self.exec_timeout))
        except Exception as exc:  # pylint: disable=broad-except
            raise RotationError('%s: the pod exec failed: %s' % (where, exc))
        try:
            code = podexec.exit_code(raw)
        except podexec.ExecError as exc:
            code, err = -1, err or str(exc)
        if code != 0 and check:
            raise RotationError('%s failed: %s' % (where, (err or out).strip()[-400:]))
        return code, out

    def _json(self, pod, args):
        _code, out = self.run(pod, list(args) + ['--silent', '--formatter', 'json'])
        try:
            return json.loads(out or '[]')
        except ValueError:
            raise RotationError('pod %s/%s: unreadable output of rabbitmqctl %s' % (self.namespace, pod, args[0]))

    def users(self, pod):
        """{user: [tags]}."""
        return dict((u['user'], sorted(u.get('tags') or [])) for u in self._json(pod, ['list_users']))

    def permissions(self, pod, user):
        """{vhost: (configure, write, read)} of ``user``."""
        return dict((p['vhost'], (p['configure'], p['write'], p['read']))
                    for p in self._json(pod, ['list_user_permissions', user]))

    def connections(self, pod):
        """The user of every open client connection."""
        return [c.get('user') for c in self._json(pod, ['list_connections', 'user'])]

    def authenticates(self, pod, user, password):
        return self.run(pod, ['authenticate_user', user], secret=password, check=False)[0] == 0


class RabbitUsers(object):
    """The user store of a RabbitMQ rotation: :class:`RabbitCtl` in the cluster's ready members."""

    label = 'RabbitMQ'
    backend = 'rabbitmq'
    who_hint = 'rabbitmqctl list_connections user peer_host'

    def __init__(self, ctl, clock=time.monotonic, sleep=time.sleep):
        self.ctl = ctl
        self.clock = clock
        self.sleep = sleep

    @staticmethod
    def creator(service):
        return 'the mq-init Job of %s' % service

    @staticmethod
    def refusal():
        return None

    def exists(self, user):
        return user in self.ctl.users(self.ctl.members()[0])

    def authenticates(self, user, password):
        return self.ctl.authenticates(self.ctl.members()[0], user, password)

    def in_use(self, user):
        return user in self.ctl.connections(self.ctl.members()[0])

    def delete(self, user):
        self.ctl.run(self.ctl.members()[0], ['delete_user', user])

    def ensure_like(self, new, password, old):
        """``new`` with ``password`` and the tags and vhost permissions of ``old``; the notes of what changed."""
        pod, notes = self.ctl.members()[0], []
        users = self.ctl.users(pod)
        if new not in users:
            self.ctl.run(pod, ['add_user', new], secret=password)
            notes.append('RabbitMQ user %s made with the new password' % new)
        elif not self.ctl.authenticates(pod, new, password):
            self.ctl.run(pod, ['change_password', new], secret=password)
            notes.append('RabbitMQ user %s given the new password' % new)
        if old in users:
            if users.get(new, []) != users[old]:
                self.ctl.run(pod, ['set_user_tags', new] + users[old])
                notes.append('RabbitMQ user %s given the tags of %s' % (new, old))
            wanted, have = self.ctl.permissions(pod, old), self.ctl.permissions(pod, new)
            for vhost, perms in sorted(wanted.items()):
                if have.get(vhost) != perms:
                    self.ctl.run(pod, ['set_permissions', '-p', vhost, new] + list(perms))
                    notes.append('RabbitMQ user %s given the permissions of %s on vhost %s' % (new, old, vhost))
            for vhost in sorted(set(have) - set(wanted)):
                self.ctl.run(pod, ['clear_permissions', '-p', vhost, new])
                notes.append('RabbitMQ user %s loses its permissions on vhost %s, which %s lacks' % (new, vhost, old))
        elif not self.ctl.permissions(pod, new):
            raise RotationError('RabbitMQ user %s has no permissions and %s, whose permissions it takes, is gone; grant '
                                'them (run playbooks/site.yml: the mq-init Job does) and re-run' % (new, old))
        return notes

    def wait_accepted(self, user, password, timeout, name):
        """Every ready member authenticates ``user`` (users are cluster-wide; a member may lag)."""
        deadline = self.clock() + timeout
        for member in self.ctl.members():
            while not self.ctl.authenticates(member, user, password):
                if self.clock() > deadline:
                    raise RotationError('%s: RabbitMQ member %s does not authenticate user %s after %.0fs; check the '
                                        'cluster (rabbitmqctl cluster_status) and re-run (the run resumes)'
                                        % (name, member, user, timeout))
                self.sleep(0.5)


class KeystoneUsers(object):
    """The user store of a Keystone service-user rotation: Keystone's identity API v3, as the admin user.

    ``url`` is Keystone's endpoint as seen from where the module runs (the public one, as in
    clouds.yaml); the admin password comes from the credentials Secret, never from a task
    argument. Service users live in ``domain`` and are copied with every project, domain and
    system role assignment of the old user.
    """

    label = 'Keystone'
    backend = 'keystone'
    who_hint = 'Keystone keeps no connections; nothing holds the old user once the pods rolled'

    def __init__(self, url, admin_password, admin_user='admin', admin_project='admin', domain='Default',
                 timeout=30, ca_cert=None, validate_certs=True, opener=None):
        self.url = url.rstrip('/')
        if not self.url.endswith('/v3'):
            self.url += '/v3'
        self.admin = (admin_user, admin_password, admin_project)
        self.domain = domain
        self.timeout = timeout
        self.opener = opener or _url_opener(ca_cert, validate_certs)
        self._token = None
        self._domain_id = None

    @staticmethod
    def creator(service):
        return 'the keystone registration Job of %s' % service

    def regions(self):
        """The regions that have endpoints in this Keystone."""
        endpoints = self._call('GET', '/endpoints')[1].get('endpoints') or []
        return sorted(set(e.get('region_id') or e.get('region') for e in endpoints if e.get('region_id') or e.get('region')))

    def refusal(self):
        """Why no service user may be switched here: this Keystone serves several regions, which share the users."""
        regions = self.regions()
        if len(regions) > 1:
            return ('this Keystone serves the regions %s, whose services all log in as the same service users: the '
                    'rotation would delete the user the other regions still use; rotate it in a maintenance window of '
                    'every region (docs/operations.md, Regions)' % ', '.join(regions))
        return None

    # -- HTTP ---------------------------------------------------------------------------------
    def _call(self, method, path, body=None, token=True, ok=(200, 201, 204)):
        headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}
        if token:
            headers['X-Auth-Token'] = self.token()
        data = json.dumps(body).encode('utf-8') if body is not None else None
        request = Request(self.url + path, data=data, headers=headers, method=method)
        try:
            response = self.opener.open(request, timeout=self.timeout)
            status, text, reply_headers = response.status, response.read(), response.headers
        except HTTPError as exc:
            status, text, reply_headers = exc.code, exc.read(), exc.headers
        except (URLError, OSError) as exc:
            raise RotationError('Keystone at %s is not reachable: %s; set rotate_credentials_keystone_url to the URL this '
                                'host reaches Keystone at' % (self.url, getattr(exc, 'reason', exc)))
        if status not in ok:
            raise RotationError('Keystone %s %s answered HTTP %s: %s'
                                % (method, path.split('?')[0], status, _keystone_message(text)))
        return status, (json.loads(text) if text else {}), reply_headers

    def _password_auth(self, user, password, project=None):
        auth = dict(identity=dict(methods=['password'], password=dict(
            user=dict(name=user, domain=dict(name=self.domain), password=password))))
        if project:
            auth['scope'] = dict(project=dict(name=project, domain=dict(name=self.domain)))
        return dict(auth=auth)

    def token(self):
        if self._token is None:
            user, password, project = self.admin
            status, _body, headers = self._call('POST', '/auth/tokens', self._password_auth(user, password, project),
                                                token=False, ok=(201, 401))
            if status == 401:
                raise RotationError('Keystone rejects the admin user %s with the credentials Secret\'s '
                                    'KEYSTONE_ADMIN_PASSWORD; make them agree first and re-run' % user)
            self._token = headers.get('X-Subject-Token')
        return self._token

    def domain_id(self):
        if self._domain_id is None:
            domains = self._call('GET', '/domains?name=%s' % quote(self.domain))[1].get('domains') or []
            if not domains:
                raise RotationError('Keystone has no domain %s (the service users\' domain)' % self.domain)
            self._domain_id = domains[0]['id']
        return self._domain_id

    def user(self, name):
        users = self._call('GET', '/users?name=%s&domain_id=%s' % (quote(name), quote(self.domain_id())))[1].get('users')
        return (users or [None])[0]

    def assignments(self, user_id):
        """Set of (scope kind, scope id, role id) of the user's direct role assignments."""
        found = set()
        for item in self._call('GET', '/role_assignments?user.id=%s' % quote(user_id))[1].get('role_assignments') or []:
            scope = item.get('scope') or {}
            if (scope.get('OS-INHERIT:inherited_to')):
                continue
            for kind in ('project', 'domain'):
                if kind in scope:
                    found.add((kind, scope[kind]['id'], item['role']['id']))
            if 'system' in scope:
                found.add(('system', 'system', item['role']['id']))
        return found

    def _grant_path(self, user_id, assignment):
        kind, scope_id, role_id = assignment
        if kind == 'system':
            return '/system/users/%s/roles/%s' % (quote(user_id), quote(role_id))
        return '/%ss/%s/users/%s/roles/%s' % (kind, quote(scope_id), quote(user_id), quote(role_id))

    # -- the store interface ------------------------------------------------------------------
    def exists(self, user):
        return self.user(user) is not None

    def authenticates(self, user, password):
        status = self._call('POST', '/auth/tokens', self._password_auth(user, password), token=False, ok=(201, 401))[0]
        return status == 201

    @staticmethod
    def in_use(_user):
        return False

    def delete(self, user):
        found = self.user(user)
        if found is not None:
            self._call('DELETE', '/users/%s' % quote(found['id']))

    def ensure_like(self, new, password, old):
        """``new`` with ``password``, the default project and the role assignments of ``old``; notes of changes."""
        notes = []
        old_user, new_user = self.user(old), self.user(new)
        if new_user is None:
            body = dict(name=new, password=password, domain_id=self.domain_id(), enabled=True,
                        description='service user (rotation of %s)' % old)
            if old_user and old_user.get('default_project_id'):
                body['default_project_id'] = old_user['default_project_id']
            new_user = self._call('POST', '/users', dict(user=body))[1]['user']
            notes.append('Keystone user %s made with the new password' % new)
        elif not self.authenticates(new, password):
            self._call('PATCH', '/users/%s' % quote(new_user['id']), dict(user=dict(password=password, enabled=True)))
            notes.append('Keystone user %s given the new password' % new)
        if old_user is None:
            if not self.assignments(new_user['id']):
                raise RotationError('Keystone user %s has no role assignments and %s, whose roles it takes, is gone; run '
                                    'playbooks/site.yml (the registration Job grants them) and re-run' % (new, old))
            return notes
        wanted, have = self.assignments(old_user['id']), self.assignments(new_user['id'])
        for assignment in sorted(wanted - have):
            self._call('PUT', self._grant_path(new_user['id'], assignment))
            notes.append('Keystone user %s given role %s on %s %s, as %s has' % (new, assignment[2], assignment[0],
                                                                                 assignment[1], old))
        for assignment in sorted(have - wanted):
            self._call('DELETE', self._grant_path(new_user['id'], assignment))
            notes.append('Keystone user %s loses role %s on %s %s, which %s lacks' % (new, assignment[2], assignment[0],
                                                                                      assignment[1], old))
        return notes

    def wait_accepted(self, user, password, timeout, name):
        if not self.authenticates(user, password):
            raise RotationError('%s: Keystone does not authenticate user %s with the new password right after setting it; '
                                'check Keystone and re-run (the run resumes)' % (name, user))


def _url_opener(ca_cert, validate_certs):
    context = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return build_opener(HTTPSHandler(context=context))


def _keystone_message(text):
    try:
        return (json.loads(text).get('error') or {}).get('message') or 'no message'
    except (ValueError, AttributeError):
        return 'no message'


# --------------------------------------------------------------------------- the rotation

class Rotation(object):
    """One run: plan from one read of everything, then act step by step (each step idempotent)."""

    def __init__(self, client, sql, params, rollout=None, clock=time.monotonic, sleep=time.sleep, mq=None,
                 config_reader=None, keystone=None):
        self.client = client
        self.sql = sql
        # keystone: a user store, or the connection options of one (KeystoneUsers; the admin password
        # comes from the credentials Secret once plan() has read it)
        self.keystone_options = keystone if isinstance(keystone, dict) else None
        self.stores = dict(messaging=RabbitUsers(mq, clock, sleep) if mq is not None else None,
                           keystone=None if self.keystone_options is not None else keystone)
        self.config_reader = config_reader
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
        if self.keystone_options is not None and any(p['kind'] == 'keystone' for p in plans.values()):
            self.stores['keystone'] = self._keystone_store(current)
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
            if plan['kind'] in ALTERNATING:
                errors.extend(self._plan_alternating(name, plan, current, pending))
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

    def _keystone_store(self, current):
        options = self.keystone_options
        if not options.get('url'):
            raise RotationError('keystone.url is not set: give the Keystone URL this host reaches (the public one, as in '
                                'clouds.yaml) in rotate_credentials_keystone_url')
        if not current.get('KEYSTONE_ADMIN_PASSWORD'):
            raise RotationError('the credentials Secret %s/%s has no KEYSTONE_ADMIN_PASSWORD, which a Keystone user '
                                'rotation authenticates with; run playbooks/site.yml first' % (self.namespace, self.secret_name))
        return KeystoneUsers(options['url'], current['KEYSTONE_ADMIN_PASSWORD'],
                             admin_user=options.get('admin_user') or 'admin',
                             admin_project=options.get('admin_project') or 'admin',
                             domain=options.get('domain') or 'Default', timeout=options.get('timeout') or 30,
                             ca_cert=options.get('ca_cert'), validate_certs=options.get('validate_certs', True) is not False)

    def _store(self, plan):
        store = self.stores.get(plan['kind'])
        if store is None:
            raise RotationError('%s: no connection to %s was given to the rotation' % (plan['name'], plan['kind']))
        return store

    def _plan_alternating(self, name, plan, current, pending):
        """Errors of a RabbitMQ or Keystone password rotation; fills the plan's current, target and old user names."""
        base, key = plan['base'], plan['user_key']
        pair = (base, service_users.alternate(base, base))
        if name not in current:
            return ['%s is not in the credentials Secret yet; run playbooks/site.yml first' % name]
        store = self._store(plan)
        user_now = current.get(key) or base
        if user_now not in pair:
            return ['%s: the credentials Secret names %s user %s in %s, but a rotation alternates between %s and %s; '
                    'set %s to the one the services use and re-run' % (name, store.label, user_now, key, pair[0], pair[1], key)]
        if plan['resume']:
            try:
                target = json.loads(pending[name])
            except ValueError:
                target = None
            if not isinstance(target, dict) or sorted(target) != ['password', 'user'] or target['user'] not in pair:
                return ['%s: the pending entry in Secret %s/%s is unreadable; delete that key and re-run'
                        % (name, self.namespace, self.rotation_secret)]
            plan['target_user'] = target['user']
            plan['switched'] = user_now == target['user'] and current[name] == target['password']
        else:
            plan['target_user'] = service_users.alternate(base, user_now)
        plan['old_user'] = service_users.alternate(base, plan['target_user'])
        errors = self._config_problems(name, key)
        refusal = store.refusal()
        if refusal:
            errors.append('%s cannot be rotated here: %s' % (name, refusal))
        elif not plan['resume']:
            if not store.exists(user_now):
                errors.append('%s: %s has no user %s (the user the credentials name); run playbooks/site.yml (%s creates '
                              'it)' % (name, store.label, user_now, store.creator(plan['services'][0])))
            elif not store.authenticates(user_now, current[name]):
                errors.append('%s: %s rejects the credentials Secret\'s password of user %s: the Secret and %s disagree; '
                              'make them agree first (run playbooks/site.yml, whose %s sets it) and re-run'
                              % (name, store.label, user_now, store.label, store.creator(plan['services'][0])))
        return errors

    def _config_problems(self, name, key):
        """Config values holding the password next to a literal user name: switching the user would not reach them."""
        if self.config_reader is None:
            return []
        problems = []
        tree = self.config_reader()
        sections = {}
        for path, value in tree.items():
            sections.setdefault(path.rsplit('/', 1)[0], set()).update(_references(value))
        for path, value in sorted(tree.items()):
            refs = _references(value)
            # a URL carries both (transport_url); an auth section has them as two keys (username, password)
            if name in refs and key not in refs and key not in sections[path.rsplit('/', 1)[0]]:
                problems.append('%s: the config value %s holds $%s with a literal user name, so the switch to the other '
                                'user would not reach it; write the user as $%s there (the catalog does; fix an override '
                                'yourself) and re-run' % (name, path, name, key))
        return problems

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
            if any(s['name'] in (plan['slots'] if plan['kind'] == 'fernet' else [name])
                   for s in (self.catalog.get(service) or {}).get('secrets') or []):
                services.add(service)
        if plan['kind'] in ('database',) + ALTERNATING:
            values = [v for v in (current.get(name), _pending_password(plan, pending)) if v]
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
        if plan['kind'] in ALTERNATING:
            keys.add(plan['user_key'])
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
        user_names = sorted(n for n, p in plans.items() if p['kind'] in ALTERNATING)
        for name in db_names:
            if current[name] != targets[name]:
                self._set_accounts(name, plans[name], [current[name], targets[name]], 'accepts the old or the new password')
        for name in user_names:
            self._ensure_user(name, plans[name], targets[name])
        self._switch_credentials(plans, current, targets)
        after = decode_data(self._secret(self.secret_name))
        self._roll_direct_holders(plans, after)
        services = sorted(set(s for n in db_names + user_names for s in plans[n]['services']))
        if services:
            self._rerender(services)
        holders = sorted(set(s for p in plans.values() for s in p['services'])
                         | set(w['service'] for p in plans.values() for w in p['workloads'] if w.get('service')))
        self._wait_rolled(holders)
        for name in db_names:
            self._set_accounts(name, plans[name], [targets[name]], 'accepts only the new password')
        for name in user_names:
            self._delete_old_user(name, plans[name])
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
            elif plan['kind'] in ALTERNATING:
                entry['%s_user' % self._store(plan).backend] = '%s -> %s' % (plan['old_user'], plan['target_user'])
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
            elif plan['kind'] in ALTERNATING:
                if name in pending:
                    targets[name] = json.loads(pending[name])
                else:
                    targets[name] = dict(user=plan['target_user'],
                                         password=generate('password', max(32, len(current[name]))))
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

    def _ensure_user(self, name, plan, target, timeout=30.0):
        """The new user exists with the new password and the old user's rights, and every server accepts it."""
        store = self._store(plan)
        for note in store.ensure_like(target['user'], target['password'], plan['old_user']):
            self.changed = True
            self.note('%s: %s' % (name, note))
        store.wait_accepted(target['user'], target['password'], timeout, name)

    def _delete_old_user(self, name, plan):
        """Once nothing uses the old user any more, delete it."""
        store, old = self._store(plan), plan['old_user']
        if not store.exists(old):
            return
        timeout = float(self.params.get('wait_timeout') or 900)
        deadline = self.clock() + timeout
        while store.in_use(old):
            if self.clock() > deadline:
                raise RotationError('%s: %s still lists connections of user %s %.0fs after the services rolled: '
                                    'something else uses it (%s); move it to the new user and re-run (the run resumes; '
                                    'both users stay valid until then)' % (name, store.label, old, timeout, store.who_hint))
            self.sleep(0.5)
        store.delete(old)
        self.changed = True
        self.note('%s: old %s user %s deleted' % (name, store.label, old))

    def _switch_credentials(self, plans, current, targets):
        writes = {}
        for name, plan in sorted(plans.items()):
            if plan['kind'] == 'fernet':
                writes.update(dict((slot, value) for slot, value in targets[name].items() if current[slot] != value))
            elif plan['kind'] in ALTERNATING:
                if current.get(plan['user_key']) != targets[name]['user']:
                    writes[plan['user_key']] = targets[name]['user']
                if current[name] != targets[name]['password']:
                    writes[name] = targets[name]['password']
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
            raise RotationError('rolling out %s with the new credentials failed: %s. The old values stay valid: the '
                                'database accounts accept the old and the new password until the rollout is done, and '
                                'the old RabbitMQ user is kept until then; fix the cause and re-run (the run resumes)'
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


def _references(value):
    """The $NAME / ${NAME} references of a config value."""
    return set(a or b for a, b in re.findall(r'\$\{([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)', str(value).replace('$$', '')))


def _pending_password(plan, pending):
    if plan['name'] not in pending:
        return None
    if plan['kind'] not in ALTERNATING:
        return pending[plan['name']]
    try:
        return json.loads(pending[plan['name']]).get('password')
    except (ValueError, AttributeError):
        return None


def _template_annotations(obj):
    return ((((obj or {}).get('spec') or {}).get('template') or {}).get('metadata') or {}).get('annotations') or {}


def _describe(stale):
    return ', '.join('%s (%s%s)' % (s['pod'], s['service'], ', terminating' if s['terminating'] else '') for s in stale[:10])
