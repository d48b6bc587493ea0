# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Orchestration of openstack_backup, openstack_restore and openstack_backup_info.

Backup: validate → read the credentials Secret and the etcd tree → encrypt the Secret
into a private staging directory → ``openstack-backup.sh backup`` (health check, table
checksums, ``mariadb-dump --single-transaction`` per database, copies the staged files in,
SHA256SUMS, manifest.json, atomic rename, retention).

Restore: validate → find the run → check every file's sha256 → decrypt the Secret → read
the targets (``inspect``, the etcd prefix, the Secret) → :func:`~.plan.plan_restore`
(refuses a non-empty, different target unless force) → check mode stops here → load the
databases (the script verifies every table against the manifest) → ``etcd_config_tree``
with prune → the Secret.

Functions return result dicts; errors are raised (nothing here exits). No result, message
or diff carries a password, a Secret value or the encryption key.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import shutil
import tempfile
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import job as job_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import manifest as manifest_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import plan as plan_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import secretbox
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.script import (
    BackupScript, ScriptError, connection_env, select, tables_of)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.credentials import MANAGED_LABELS, decode_data, encode_data
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd import tree as tree_lib
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import ETCD_CONNECTION_SPEC, EtcdClient, EtcdError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import run_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8S_CONNECTION_SPEC, K8sClient, K8sError

DEFAULT_SCRIPT = '/usr/local/lib/openstack-k8s/openstack-backup.sh'
ETCD_FILE = 'etcd.json'
CREDENTIALS_FILE = 'credentials.enc'
PLAINTEXT_CREDENTIALS_FILE = 'credentials.json'
FIELD_MANAGER = 'openstack-k8s-deploy'

ETCD_SPEC = dict(ETCD_CONNECTION_SPEC, prefix=dict(type='str', default='/openstack'))
ETCD_SPEC['endpoints'] = dict(type='list', elements='str')

COMMON_SPEC = dict(
    backup_root=dict(type='path', required=True),
    run=dict(type='str'),
    components=dict(type='list', elements='str', default=list(manifest_lib.COMPONENTS),
                    choices=list(manifest_lib.COMPONENTS)),
    databases=dict(type='list', elements='str', default=[]),
    login_host=dict(type='str'),
    login_port=dict(type='int', default=3306),
    login_user=dict(type='str', default='root'),
    login_password=dict(type='str', no_log=True),
    login_unix_socket=dict(type='path'),
    login_password_key=dict(type='str', default='MARIADB_ROOT_PASSWORD', no_log=False),
    require_galera=dict(type='bool', default=True),
    min_cluster_size=dict(type='int', default=1),
    etcd=dict(type='dict', options=ETCD_SPEC),
    credentials_secret=dict(type='str', default='openstack-credentials', no_log=False),
    namespace=dict(type='str'),
    encryption_key=dict(type='str', no_log=True),
    script=dict(type='path', default=DEFAULT_SCRIPT),
    script_env=dict(type='dict', default={}),
)
COMMON_SPEC.update(K8S_CONNECTION_SPEC)

BACKUP_SPEC = dict(
    COMMON_SPEC,
    release=dict(type='str', default=''),
    allow_plaintext_credentials=dict(type='bool', default=False),
    keep=dict(type='int', default=7),
    max_age_days=dict(type='int', default=0),
    transport=dict(type='str', default='local', choices=['local', 'kubernetes']),
    job=dict(type='dict', default={}, options=job_lib.JOB_SPEC),
)

RESTORE_SPEC = dict(COMMON_SPEC, force=dict(type='bool', default=False))

INFO_SPEC = dict(
    backup_root=dict(type='path', required=True),
    run=dict(type='str'),
    verify=dict(type='bool', default=False),
)


class BackupError(RuntimeError):
    """The run stopped; the message says where and what to do. ``result`` holds what was done."""

    def __init__(self, message, result=None):
        super(BackupError, self).__init__(message)
        self.message = message
        self.result = result or {}


def failure(exc):
    """The ``fail_json`` arguments for an error a backup or restore run raised, or None if unknown."""
    if isinstance(exc, ScriptError):
        return dict(msg=exc.message, reason=exc.reason, rc=exc.rc)
    if isinstance(exc, (BackupError, manifest_lib.ManifestError, secretbox.SecretBoxError, tree_lib.TreeError)):
        return dict(msg=str(exc))
    if isinstance(exc, EtcdError):
        return dict(msg=exc.message, reason=exc.code)
    if isinstance(exc, K8sError):
        return dict(msg='credentials Secret: %s (HTTP %s)' % (exc.message, exc.status))
    return None


# Everything failure() knows, for an except clause.
RUN_ERRORS = (ScriptError, BackupError, manifest_lib.ManifestError, secretbox.SecretBoxError, tree_lib.TreeError,
              EtcdError, K8sError)


# -- shared helpers ------------------------------------------------------------------------
def _etcd_params(params):
    return dict(params.get('etcd') or {})


def etcd_client(params):
    etcd = _etcd_params(params)
    return EtcdClient(endpoints=etcd.get('endpoints') or [], ca_cert=etcd.get('ca_cert'), client_cert=etcd.get('client_cert'),
                      client_key=etcd.get('client_key'), username=etcd.get('username'), password=etcd.get('password'),
                      timeout=etcd.get('timeout') or 10)


def k8s_client(params):
    return K8sClient(params)


def read_secret(client, params):
    """(decoded data or None, the Secret dict or None)."""
    secret = client.get('v1', 'Secret', params['credentials_secret'], params['namespace'])
    return (decode_data(secret) if secret is not None else None), secret


def read_etcd(params, factory=etcd_client):
    """({relative key: value}, revision) under the prefix."""
    prefix = tree_lib.validate_prefix(_etcd_params(params).get('prefix') or '/openstack')
    with factory(params) as client:
        found, revision = client.read_prefix(prefix + '/')
    return dict((key[len(prefix) + 1:], value) for key, (value, _mod) in found.items()), revision


def _script(params, runner):
    return BackupScript(params['script'], runner, params.get('script_env'))


def _require_galera_env(params):
    return dict(BACKUP_REQUIRE_GALERA='1' if params.get('require_galera', True) else '0',
                BACKUP_MIN_CLUSTER_SIZE=params.get('min_cluster_size') or 1)


def _db_password(params, *secrets):
    """login_password, else login_password_key from the first Secret that has it."""
    if params.get('login_password') is not None:
        return params['login_password']
    key = params.get('login_password_key')
    if not key:
        return None
    for data in secrets:
        if data and data.get(key):
            return data[key]
    raise BackupError('no database password: login_password is not set and the credentials Secret %s/%s has no key %s; '
                      'set login_password (from Ansible Vault) or login_password_key'
                      % (params.get('namespace'), params['credentials_secret'], key))


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b''):
            digest.update(block)
    return digest.hexdigest()


def list_runs(root):
    """(complete run names newest first, other directory names) under ``root``."""
    complete, other = [], []
    if not os.path.isdir(root):
        return complete, other
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if not os.path.isdir(path):
            continue
        if not name.startswith('.') and os.path.isfile(os.path.join(path, 'manifest.json')):
            complete.append(name)
        else:
            other.append(name)
    return sorted(complete, reverse=True), sorted(other)


def load_run(root, run, verify=True):
    """(manifest, problems) of run ``run``; problems lists damaged or missing files."""
    path = os.path.join(root, manifest_lib.check_run_name(run))
    try:
        with open(os.path.join(path, 'manifest.json')) as handle:
            manifest = manifest_lib.parse_manifest(handle.read(), run)
    except (IOError, OSError) as exc:
        raise manifest_lib.ManifestError('run %s in %s cannot be read (%s); see openstack_backup_info for the runs there'
                                         % (run, root, exc.strerror or exc))
    problems = []
    if verify:
        actual = {}
        for name in manifest['files']:
            file_path = os.path.join(path, name)
            actual[name] = sha256_file(file_path) if os.path.isfile(file_path) else None
        problems = manifest_lib.file_problems(manifest['files'], actual)
    return manifest, problems


# -- backup ----------------------------------------------------------------------------
def _stage(params, staging, secret_data, etcd_keys, etcd_revision):
    """Write etcd.json and the (encrypted) Secret into ``staging``; returns the manifest's extra block."""
    extra = {}
    if etcd_keys is not None:
        prefix = tree_lib.validate_prefix(_etcd_params(params).get('prefix') or '/openstack')
        with open(os.path.join(staging, ETCD_FILE), 'w') as handle:
            json.dump(dict(prefix=prefix, revision=etcd_revision, keys=etcd_keys), handle, indent=1, sort_keys=True)
        extra['etcd'] = dict(file=ETCD_FILE, prefix=prefix, revision=etcd_revision, keys=len(etcd_keys))
    if secret_data is not None:
        payload = dict(name=params['credentials_secret'], namespace=params['namespace'], data=secret_data)
        if params.get('encryption_key') is not None:
            name, blob, encrypted = CREDENTIALS_FILE, secretbox.encrypt(payload, params['encryption_key']), True
        else:
            name, blob, encrypted = PLAINTEXT_CREDENTIALS_FILE, (json.dumps(payload, sort_keys=True) + '\n').encode('utf-8'), False
        descriptor = os.open(os.path.join(staging, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, 'wb') as handle:
            handle.write(blob)
        extra['credentials'] = dict(file=name, secret=params['credentials_secret'], namespace=params['namespace'],
                                    keys=sorted(secret_data), encrypted=encrypted)
    return extra


def _retention_env(params):
    return dict(BACKUP_ROOT=params['backup_root'], BACKUP_KEEP=params['keep'], BACKUP_MAX_AGE_DAYS=params['max_age_days'])


def _retention(records):
    decisions = select(records, 'retention')
    return ([f[0] for f in decisions if f[2] == 'delete'], [f[0] for f in decisions if f[2] == 'keep'])


def run_backup(params, runner, check_mode=False, k8s_factory=k8s_client, etcd_factory=etcd_client, clock=None):
    """Take one backup run (or report what it would take); returns the module result."""
    plan_lib.validate_backup(params)
    if params.get('transport') == 'kubernetes':
        return run_backup_job(params, check_mode, k8s_factory, etcd_factory, clock)
    components = params['components']
    script = _script(params, runner)
    run = params.get('run') or _timestamp(clock)
    root = params['backup_root']
    result = dict(changed=False, run=run, path=os.path.join(root, run), components=components, warnings=[])
    complete, _other = list_runs(root)
    exists = run in complete
    needs_secret = 'credentials' in components or ('databases' in components and params.get('login_password') is None
                                                   and params.get('login_password_key'))
    secret_data = None
    if needs_secret and not exists:
        secret_data, secret = read_secret(k8s_factory(params), params)
        if secret is None and 'credentials' in components:
            raise BackupError('the credentials Secret %s/%s does not exist; check credentials_secret and namespace, or leave '
                              'credentials out of components' % (params['namespace'], params['credentials_secret']))
    env = dict(BACKUP_RELEASE=params.get('release') or '', **_require_galera_env(params))
    env.update(_retention_env(params))
    if 'databases' in components and not exists:
        env.update(connection_env(params, _db_password(params, secret_data)))
        env['BACKUP_DATABASES'] = ','.join(params.get('databases') or [])
    if exists:
        # the same run name again: nothing to take; retention still applies
        records = script.run(['prune', '--dry-run'] if check_mode else ['prune'], _retention_env(params))
        result['pruned'], result['kept'] = _retention(records)
        result['changed'] = bool(result['pruned'])
        result['manifest'] = manifest_lib.summary(load_run(root, run, verify=False)[0])
        return result
    etcd_keys = etcd_revision = None
    if 'etcd' in components:
        etcd_keys, etcd_revision = read_etcd(params, etcd_factory)
    if params.get('allow_plaintext_credentials') and params.get('encryption_key') is None and 'credentials' in components:
        result['warnings'].append('the credentials Secret is stored UNENCRYPTED in %s (mode 0600): anyone who can read the '
                                  'backup volume can read every password of the cloud. Set encryption_key.' % PLAINTEXT_CREDENTIALS_FILE)
    if check_mode:
        if 'databases' in components:
            records = script.run(['inspect'], env)
            health = select(records, 'health')
            if health and health[0][0] != 'ok':
                raise BackupError('refusing: %s' % health[0][1])
            wanted = params.get('databases') or [f[0] for f in select(records, 'database')]
            result['databases'] = sorted(wanted)
        records = script.run(['prune', '--dry-run'], dict(_retention_env(params), BACKUP_PENDING_RUNS=1))
        result['pruned'], result['kept'] = _retention(records)
        result['changed'] = True
        result['etcd_keys'] = len(etcd_keys) if etcd_keys is not None else None
        result['credentials_keys'] = sorted(secret_data) if 'credentials' in components and secret_data else []
        return result
    staging = tempfile.mkdtemp(prefix='openstack-backup-stage.')
    try:
        os.chmod(staging, 0o700)
        extra = _stage(params, staging, secret_data if 'credentials' in components else None, etcd_keys, etcd_revision)
        with open(os.path.join(staging, '.extra-manifest.json'), 'w') as handle:
            json.dump(extra, handle, sort_keys=True)
        env.update(BACKUP_RUN=run, BACKUP_EXTRA_DIR=staging, BACKUP_EXTRA_MANIFEST=os.path.join(staging, '.extra-manifest.json'))
        if 'databases' not in components:
            env['BACKUP_SKIP_DATABASES'] = '1'
        records = script.run(['backup'], env)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result['changed'] = True
    result['pruned'], result['kept'] = _retention(records)
    result['databases'] = sorted(f[0] for f in select(records, 'database'))
    manifest = load_run(root, run, verify=False)[0]
    result['manifest'] = manifest_lib.summary(manifest)
    return result


def run_backup_job(params, check_mode, k8s_factory, etcd_factory, clock=None):
    """The backup as a Kubernetes Job writing to the backup PVC (see :mod:`.job`)."""
    components = params['components']
    run = params.get('run') or _timestamp(clock)
    client = k8s_factory(params)
    name = job_lib.job_name(run)
    namespace = params['job'].get('namespace') or params['namespace']
    result = dict(changed=False, run=run, path='pvc %s: %s' % (params['job']['pvc'], run), components=components, warnings=[],
                  job=dict(name=name, namespace=namespace))
    existing = client.get('batch/v1', 'Job', name, namespace)
    if existing is not None:
        state = job_lib.job_ready(existing)
        if state.failed:
            raise BackupError('backup Job %s/%s of run %s exists and failed (%s); delete it (kubectl -n %s delete job %s) '
                              'and run again' % (namespace, name, run, state.detail, namespace, name))
        result['job']['status'] = state.detail
        return result
    secret_data, secret = read_secret(client, params)
    if secret is None:
        raise BackupError('the credentials Secret %s/%s does not exist; the Job reads the database password from it'
                          % (params['namespace'], params['credentials_secret']))
    if params['login_password_key'] not in secret_data and 'databases' in components:
        raise BackupError('the credentials Secret %s/%s has no key %s for the Job to log in with; set login_password_key'
                          % (params['namespace'], params['credentials_secret'], params['login_password_key']))
    etcd_keys = etcd_revision = None
    if 'etcd' in components:
        etcd_keys, etcd_revision = read_etcd(params, etcd_factory)
    try:
        with open(params['script']) as handle:
            script_text = handle.read()
    except (IOError, OSError) as exc:
        raise BackupError('cannot read the backup script %s (%s); set script to roles/backup/files/openstack-backup.sh'
                          % (params['script'], exc.strerror or exc))
    staging = tempfile.mkdtemp(prefix='openstack-backup-stage.')
    try:
        os.chmod(staging, 0o700)
        extra = _stage(params, staging, secret_data if 'credentials' in components else None, etcd_keys, etcd_revision)
        payload = {'.extra-manifest.json': json.dumps(extra, sort_keys=True).encode('utf-8')}
        for file_name in os.listdir(staging):
            with open(os.path.join(staging, file_name), 'rb') as handle:
                payload[file_name] = handle.read()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    objects = job_lib.render(params, run, script_text, payload)
    result['changed'] = True
    if check_mode:
        result['job']['manifest'] = objects[2]
        return result
    try:
        result['job'].update(job_lib.run_job(client, objects, int(params['job'].get('timeout') or 3600)))
    except job_lib.JobError as exc:
        raise BackupError(str(exc), result)
    return result


def _timestamp(clock=None):
    return time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(clock() if clock else None))


# -- restore ---------------------------------------------------------------------------
def _read_backup_content(params, root, run, manifest, components):
    content = dict(etcd={}, secret={})
    extra = manifest['extra']
    if 'etcd' in components:
        with open(os.path.join(root, run, extra['etcd']['file'])) as handle:
            etcd = json.load(handle)
        content['etcd'] = etcd['keys']
        content['etcd_prefix'] = etcd['prefix']
    if 'credentials' in components:
        info = extra['credentials']
        with open(os.path.join(root, run, info['file']), 'rb') as handle:
            blob = handle.read()
        if info.get('encrypted'):
            if params.get('encryption_key') is None:
                raise plan_lib.BackupInputError(['encryption_key is required: run %s holds the credentials Secret encrypted' % run])
            payload = secretbox.decrypt(blob, params['encryption_key'])
        else:
            payload = json.loads(blob.decode('utf-8'))
        content['secret'] = payload['data']
    return content


def run_restore(params, runner, check_mode=False, k8s_factory=k8s_client, etcd_factory=etcd_client):
    """Restore a run (or report the plan); returns the module result."""
    plan_lib.validate_restore(params)
    root = params['backup_root']
    complete, _other = list_runs(root)
    run = params.get('run')
    if not run:
        if not complete:
            raise BackupError('no complete backup run in %s; check backup_root' % root)
        run = complete[0]
    elif run not in complete:
        raise BackupError('run %s is not a complete backup run in %s (complete runs: %s)' % (run, root, ', '.join(complete[:10]) or 'none'))
    manifest, problems = load_run(root, run)
    if problems:
        raise BackupError('run %s is damaged, nothing was changed: %s' % (run, '; '.join(problems)))
    present = manifest_lib.components(manifest)
    components = [c for c in params['components'] if c in present]
    missing = [c for c in params['components'] if c not in present]
    result = dict(changed=False, run=run, path=os.path.join(root, run), components=components, warnings=[])
    if missing:
        result['warnings'].append('run %s holds no %s; restoring %s only' % (run, ', '.join(missing), ', '.join(components) or 'nothing'))
    databases = params.get('databases') or []
    unknown = [db for db in databases if db not in manifest['databases']]
    if unknown:
        raise plan_lib.BackupInputError(['databases %s are not in run %s (it holds %s)' % (
            ', '.join(unknown), run, ', '.join(sorted(manifest['databases'])))])
    content = _read_backup_content(params, root, run, manifest, components)
    if 'etcd' in components:
        # the tree must pass etcd_config_tree's rules before anything is written
        tree_lib.flatten(tree_lib.unflatten(content['etcd']))
    target = dict(tables={}, database_tables={}, etcd={}, secret=None)
    current_secret = None
    client = None
    if 'credentials' in components or ('databases' in components and params.get('login_password') is None
                                       and params.get('login_password_key')):
        client = k8s_factory(params)
        target['secret'], current_secret = read_secret(client, params)
    if 'etcd' in components:
        target['etcd'], _revision = read_etcd(params, etcd_factory)
    script = _script(params, runner)
    db_env = {}
    if 'databases' in components:
        db_env = dict(connection_env(params, _db_password(params, target['secret'], content['secret'])), **_require_galera_env(params))
        # only the run's databases are inspected: other databases of the target are none of the restore's business
        db_env['BACKUP_DATABASES'] = ','.join(databases or sorted(manifest['databases']))
        records = script.run(['inspect'], db_env)
        health = select(records, 'health')
        if health and health[0][0] != 'ok':
            raise BackupError('refusing to restore into this server, nothing was changed: %s' % health[0][1])
        target['tables'] = tables_of(records)
        target['database_tables'] = dict((f[0], int(f[1])) for f in select(records, 'database'))
    plan = plan_lib.plan_restore(manifest, components, databases, target, content, force=params.get('force'))
    result['plan'] = dict(databases=plan['databases'], etcd=plan['etcd'], credentials=plan['credentials'])
    todo_dbs = sorted(db for db, action in plan['databases'].items() if action in ('restore', 'replace'))
    result['changed'] = bool(todo_dbs) or plan['etcd'] in ('restore', 'replace') or plan['credentials'] in ('restore', 'replace')
    if check_mode or not result['changed']:
        return result
    if todo_dbs:
        env = dict(db_env, BACKUP_ROOT=root, BACKUP_RUN=run, RESTORE_DATABASES=','.join(todo_dbs),
                   RESTORE_FORCE='1' if any(plan['databases'][db] == 'replace' for db in todo_dbs) else '0')
        records = script.run(['restore'], env)
        found = tables_of(records)
        result['verification'] = manifest_lib.compare_tables(manifest_lib.expected_tables(manifest, todo_dbs), found)
        result['restored_databases'] = todo_dbs
    if plan['etcd'] in ('restore', 'replace'):
        etcd_params = dict(_etcd_params(params), tree=tree_lib.unflatten(content['etcd']), prune=True, state='present',
                           max_txn_ops=128, prefix=_etcd_params(params).get('prefix') or '/openstack')
        etcd_result = run_config_tree(etcd_params, client_factory=lambda _p: etcd_factory(params))
        result['etcd'] = dict((k, etcd_result[k]) for k in ('added', 'updated', 'removed', 'revision'))
    if plan['credentials'] in ('restore', 'replace'):
        _write_secret(client, params, content['secret'], current_secret)
        result['credentials'] = dict(secret=params['credentials_secret'], namespace=params['namespace'],
                                     keys=sorted(content['secret']), action=plan['credentials'])
    return result


def _write_secret(client, params, data, current):
    body = dict(apiVersion='v1', kind='Secret', type='Opaque',
                metadata=dict(name=params['credentials_secret'], namespace=params['namespace'], labels=dict(MANAGED_LABELS)),
                data=encode_data(data))
    if current is None:
        client.create(body, field_manager=FIELD_MANAGER)
    else:
        body['metadata']['resourceVersion'] = current['metadata']['resourceVersion']
        body['metadata']['labels'] = dict(current['metadata'].get('labels') or {}, **MANAGED_LABELS)
        client.replace(body, field_manager=FIELD_MANAGER)


# -- info ------------------------------------------------------------------------------
def run_backup_info(params):
    root = params['backup_root']
    complete, other = list_runs(root)
    names = complete
    if params.get('run'):
        manifest_lib.check_run_name(params['run'])
        if params['run'] not in complete:
            raise BackupError('run %s is not a complete backup run in %s (complete runs: %s)'
                              % (params['run'], root, ', '.join(complete[:10]) or 'none'))
        names = [params['run']]
    backups = []
    for name in names:
        entry = dict(run=name, path=os.path.join(root, name))
        try:
            manifest, problems = load_run(root, name, verify=params.get('verify'))
            entry.update(manifest_lib.summary(manifest))
            entry['problems'] = problems
            entry['verified'] = bool(params.get('verify')) and not problems
        except manifest_lib.ManifestError as exc:
            entry.update(problems=[str(exc)], verified=False)
        backups.append(entry)
    return dict(changed=False, backups=backups, latest=complete[0] if complete else None, incomplete=other)
