# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks and the restore decision. Pure: no I/O, table-tested.

Every check runs before anything is read or written and reports every problem at once,
naming the option and the fix. :func:`plan_restore` decides, per component, whether the
target is empty (restore), already holds exactly the backup (unchanged: a re-run is a
no-op) or holds something else (refused, unless ``force``: replace).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.manifest import (
    COMPONENTS, RUN_NAME_RE, compare_tables, expected_tables)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.secretbox import MIN_KEY_LENGTH

DATABASE_NAME_RE = re.compile(r'^[A-Za-z0-9_$-]+$')
SECRET_NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')


class BackupInputError(ValueError):
    """Bad options; ``errors`` lists each problem with its fix."""

    def __init__(self, errors):
        super(BackupInputError, self).__init__('; '.join(errors))
        self.errors = errors


class RestoreRefused(RuntimeError):
    """The target is not empty and differs from the backup; nothing was changed."""

    def __init__(self, refusals, plan):
        super(RestoreRefused, self).__init__(
            'refusing to restore, nothing was changed: %s. Restore into an empty target, or set force: true to replace '
            'what is there with the backup' % '; '.join(refusals))
        self.refusals = refusals
        self.plan = plan


def _common_errors(params):
    errors = []
    root = params.get('backup_root')
    if not root or not os.path.isabs(root):
        errors.append('backup_root %r must be an absolute path (the directory, or the mounted volume, holding one '
                      'directory per run)' % (root,))
    run = params.get('run')
    if run and (not RUN_NAME_RE.match(run) or run in ('.', '..')):
        errors.append('run %r must start with a letter or digit and hold only letters, digits, ".", "_" and "-"' % (run,))
    components = params.get('components') or []
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        errors.append('components %s unknown; choose from %s' % (', '.join(unknown), ', '.join(COMPONENTS)))
    if not components:
        errors.append('components is empty; name at least one of %s' % ', '.join(COMPONENTS))
    for db in params.get('databases') or []:
        if not DATABASE_NAME_RE.match(db or ''):
            errors.append('databases entry %r is not a database name (letters, digits, _, $, -)' % (db,))
    if 'databases' in components and not (params.get('login_host') or params.get('login_unix_socket')):
        errors.append('login_host (or login_unix_socket) is required to reach MariaDB when components has databases')
    port = params.get('login_port')
    if port is not None and not 0 < int(port) < 65536:
        errors.append('login_port must be between 1 and 65535, got %s' % port)
    if 'etcd' in components and not (params.get('etcd') or {}).get('endpoints'):
        errors.append('etcd.endpoints is required when components has etcd (e.g. [https://etcd.openstack.svc:2379])')
    password_from_secret = 'databases' in components and params.get('login_password') is None and params.get('login_password_key')
    if 'credentials' in components or password_from_secret:
        name = params.get('credentials_secret') or ''
        if not SECRET_NAME_RE.match(name):
            errors.append('credentials_secret %r is not a Kubernetes object name' % (name,))
        if not params.get('namespace'):
            errors.append('namespace is required (the namespace of the credentials Secret)')
    return errors


def _key_errors(params, needed):
    key = params.get('encryption_key')
    if key is not None and len(key) < MIN_KEY_LENGTH:
        return ['encryption_key must be at least %d characters (a passphrase kept in Ansible Vault)' % MIN_KEY_LENGTH]
    if needed and key is None:
        return ['encryption_key is required to %s the credentials Secret; put a passphrase of at least %d characters in '
                'Ansible Vault (or, not recommended, set allow_plaintext_credentials: true)' % (needed, MIN_KEY_LENGTH)]
    return []


def validate_backup(params):
    """Raise BackupInputError listing every problem of the openstack_backup options."""
    errors = _common_errors(params)
    for option in ('keep', 'max_age_days'):
        if params.get(option) is not None and params[option] < 0:
            errors.append('%s must be 0 (no limit) or more, got %d' % (option, params[option]))
    if params.get('min_cluster_size') is not None and params['min_cluster_size'] < 1:
        errors.append('min_cluster_size must be at least 1, got %d' % params['min_cluster_size'])
    if params.get('transport') == 'kubernetes':
        if not (params.get('job') or {}).get('pvc'):
            errors.append('job.pvc is required with transport=kubernetes (the PersistentVolumeClaim holding the backups)')
        if params.get('login_password') is not None:
            errors.append('login_password cannot be used with transport=kubernetes: the Job reads login_password_key from the '
                          'credentials Secret through secretKeyRef; remove login_password')
        if not params.get('login_password_key'):
            errors.append('login_password_key is required with transport=kubernetes (the key of the credentials Secret the Job logs in with)')
        if not params.get('namespace') and not any(e.startswith('namespace is required') for e in errors):
            errors.append('namespace is required with transport=kubernetes (the namespace of the Job and the credentials Secret)')
        if params.get('login_unix_socket'):
            errors.append('login_unix_socket cannot be used with transport=kubernetes; set login_host to the mariadb Service')
    plaintext = params.get('allow_plaintext_credentials')
    needed = 'encrypt' if 'credentials' in (params.get('components') or []) and not plaintext else None
    errors.extend(_key_errors(params, needed))
    if errors:
        raise BackupInputError(errors)


def validate_restore(params):
    """Raise BackupInputError listing every problem of the openstack_restore options."""
    errors = _common_errors(params)
    errors.extend(_key_errors(params, None))
    if errors:
        raise BackupInputError(errors)


def _decide(name, empty, equal, force, refusals, detail):
    if equal:
        return 'unchanged'
    if empty:
        return 'restore'
    if force:
        return 'replace'
    refusals.append('%s %s' % (name, detail))
    return 'refused'


def plan_restore(manifest, components, databases, target, backup, force=False):
    """Decide what to do with each component.

    ``components``: the ones to restore; ``databases``: the databases to restore (default
    every database of the run). ``target``: ``tables`` {(db, table): (rows, checksum)} and
    ``database_tables`` {db: number of tables} of the server now, ``etcd`` {key: value}
    under the prefix now, ``secret`` {name: value} or None when the Secret is absent.
    ``backup``: ``etcd`` {key: value} and ``secret`` {name: value} from the run.

    Returns dict(databases={db: action}, etcd=action, credentials=action, refusals=[...]);
    actions are restore, replace, unchanged (and refused). Raises RestoreRefused when
    anything is refused.
    """
    refusals = []
    plan = dict(databases={}, etcd=None, credentials=None, refusals=refusals)
    if 'databases' in components:
        wanted = databases or sorted(manifest['databases'])
        for db in sorted(wanted):
            expected = expected_tables(manifest, [db])
            found = dict((k, v) for k, v in target['tables'].items() if k[0] == db)
            present = target['database_tables'].get(db, 0)
            comparison = compare_tables(expected, found)
            # views and routines are not compared: the tables carry the data
            equal = comparison['ok'] if expected else (present == 0 and db in target['database_tables'])
            plan['databases'][db] = _decide('database %s' % db, present == 0, equal, force, refusals,
                                            'already holds %d table(s) that differ from the backup' % present)
    if 'etcd' in components:
        current, wanted_keys = target['etcd'], backup['etcd']
        changed = sorted(set(current) ^ set(wanted_keys) | set(k for k in current if k in wanted_keys and current[k] != wanted_keys[k]))
        plan['etcd'] = _decide('etcd prefix', not current, not changed, force, refusals,
                               'already holds %d key(s), %d of them differ from the backup (e.g. %s)'
                               % (len(current), len(changed), ', '.join(changed[:3])))
    if 'credentials' in components:
        current, wanted_secret = target['secret'], backup['secret']
        differing = sorted(n for n in set(current or {}) | set(wanted_secret) if (current or {}).get(n) != wanted_secret.get(n))
        plan['credentials'] = _decide('credentials Secret', not current, current is not None and not differing, force, refusals,
                                      'exists and %d key(s) differ from the backup: %s' % (len(differing), ', '.join(differing)))
    if refusals:
        raise RestoreRefused(refusals, plan)
    return plan
