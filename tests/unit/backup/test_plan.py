"""plan.py: option checks (every problem at once, with its fix) and the restore decision."""
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.manifest import parse_manifest
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.plan import (
    BackupInputError, RestoreRefused, plan_restore, validate_backup, validate_restore)

from test_manifest import GOOD

BASE = dict(backup_root='/srv/backups', run=None, components=['databases', 'etcd', 'credentials'], databases=[],
            login_host='db', login_port=3306, login_unix_socket=None, login_password=None, login_password_key='MARIADB_ROOT_PASSWORD',
            etcd={'endpoints': ['http://127.0.0.1:2379']}, credentials_secret='openstack-credentials', namespace='openstack',
            encryption_key='a passphrase of 16+ chars', allow_plaintext_credentials=False, keep=7, max_age_days=0,
            min_cluster_size=3)

BACKUP_CASES = [
    ('valid', {}, []),
    ('relative-root', dict(backup_root='backups'), ["backup_root 'backups' must be an absolute path"]),
    ('bad-run', dict(run='../x'), ["run '../x' must start with a letter or digit"]),
    ('no-components', dict(components=[]), ['components is empty; name at least one of databases, etcd, credentials']),
    ('bad-database', dict(databases=['nova', 'x;drop']), ["databases entry 'x;drop' is not a database name"]),
    ('no-host', dict(login_host=None), ['login_host (or login_unix_socket) is required']),
    ('bad-port', dict(login_port=0), ['login_port must be between 1 and 65535, got 0']),
    ('no-etcd', dict(etcd=None), ['etcd.endpoints is required when components has etcd']),
    ('no-namespace', dict(namespace=None), ['namespace is required']),
    ('bad-secret-name', dict(credentials_secret='Bad_Name'), ["credentials_secret 'Bad_Name' is not a Kubernetes object name"]),
    ('no-key', dict(encryption_key=None), ['encryption_key is required to encrypt the credentials Secret']),
    ('plaintext-allowed', dict(encryption_key=None, allow_plaintext_credentials=True), []),
    ('short-key', dict(encryption_key='short'), ['encryption_key must be at least 16 characters']),
    ('negative-keep', dict(keep=-1, max_age_days=-2), ['keep must be 0 (no limit) or more, got -1',
                                                       'max_age_days must be 0 (no limit) or more, got -2']),
    ('zero-cluster', dict(min_cluster_size=0), ['min_cluster_size must be at least 1, got 0']),
    ('etcd-only-needs-no-db-or-secret', dict(components=['etcd'], login_host=None, namespace=None, encryption_key=None), []),
    ('several-at-once', dict(backup_root='', etcd={}, namespace=''), ["backup_root '' must be an absolute path",
                                                                      'etcd.endpoints is required', 'namespace is required']),
]


@pytest.mark.parametrize('overrides,messages', [c[1:] for c in BACKUP_CASES], ids=[c[0] for c in BACKUP_CASES])
def test_validate_backup(overrides, messages):
    params = dict(BASE, **overrides)
    if not messages:
        validate_backup(params)
        return
    with pytest.raises(BackupInputError) as failure:
        validate_backup(params)
    assert len(failure.value.errors) == len(messages), failure.value.errors
    for error, message in zip(failure.value.errors, messages):
        assert message in error


def test_validate_restore_needs_no_key_up_front():
    validate_restore(dict(BASE, encryption_key=None))
    with pytest.raises(BackupInputError):
        validate_restore(dict(BASE, encryption_key='short'))


MANIFEST = parse_manifest(json.dumps(GOOD))
TABLES = {('keystone', 'user'): (3, '111'), ('keystone', 'token'): (9, '222'), ('nova', 'instances'): (0, '0')}
ETCD = {'general/REGION_NAME': 'RegionOne', 'controller/nova/nova.conf/DEFAULT/debug': 'False'}
SECRET = {'A_PASSWORD': 'x' * 32}
EMPTY = dict(tables={}, database_tables={}, etcd={}, secret=None)
SAME = dict(tables=TABLES, database_tables={'keystone': 2, 'nova': 1}, etcd=dict(ETCD), secret=dict(SECRET))
BACKUP = dict(etcd=ETCD, secret=SECRET)
ALL = ['databases', 'etcd', 'credentials']

PLAN_CASES = [
    ('empty-target', EMPTY, ALL, [], False,
     dict(databases={'keystone': 'restore', 'nova': 'restore'}, etcd='restore', credentials='restore'), None),
    ('same-as-backup-is-a-no-op', SAME, ALL, [], False,
     dict(databases={'keystone': 'unchanged', 'nova': 'unchanged'}, etcd='unchanged', credentials='unchanged'), None),
    ('empty-database-exists', dict(EMPTY, database_tables={'nova': 0}), ['databases'], [], False,
     dict(databases={'keystone': 'restore', 'nova': 'restore'}, etcd=None, credentials=None), None),
    ('changed-row-refused', dict(SAME, tables={**TABLES, ('keystone', 'user'): (3, '999')}), ALL, [], False, None,
     ['database keystone already holds 2 table(s) that differ from the backup']),
    ('changed-row-forced', dict(SAME, tables={**TABLES, ('keystone', 'user'): (3, '999')}), ALL, [], True,
     dict(databases={'keystone': 'replace', 'nova': 'unchanged'}, etcd='unchanged', credentials='unchanged'), None),
    ('only-the-named-database', dict(SAME, tables={**TABLES, ('keystone', 'user'): (3, '999')}), ['databases'], ['nova'],
     False, dict(databases={'nova': 'unchanged'}, etcd=None, credentials=None), None),
    ('etcd-differs', dict(EMPTY, etcd={'general/REGION_NAME': 'RegionTwo', 'general/EXTRA': '1'}), ['etcd'], [], False, None,
     ['etcd prefix already holds 2 key(s), 3 of them differ from the backup (e.g. controller/nova/nova.conf/DEFAULT/debug, '
      'general/EXTRA, general/REGION_NAME)']),
    ('secret-differs-names-only', dict(EMPTY, secret={'A_PASSWORD': 'other', 'B_PASSWORD': 'y'}), ['credentials'], [], False, None,
     ['credentials Secret exists and 2 key(s) differ from the backup: A_PASSWORD, B_PASSWORD']),
    ('empty-secret-is-restored', dict(EMPTY, secret={}), ['credentials'], [], False,
     dict(databases={}, etcd=None, credentials='restore'), None),
    ('every-refusal-at-once', dict(SAME, tables={}, database_tables={'keystone': 1, 'nova': 1}, etcd={'x/y': '1'},
                                   secret={'A_PASSWORD': 'z'}), ALL, [], False, None,
     ['database keystone already holds 1 table(s)', 'database nova already holds 1 table(s)', 'etcd prefix already holds 1 key(s)',
      'credentials Secret exists and 1 key(s) differ']),
]


@pytest.mark.parametrize('target,components,databases,force,expected,refusals', [c[1:] for c in PLAN_CASES],
                         ids=[c[0] for c in PLAN_CASES])
def test_plan_restore(target, components, databases, force, expected, refusals):
    if refusals is None:
        plan = plan_restore(MANIFEST, components, databases, target, BACKUP, force=force)
        assert dict((k, plan[k]) for k in ('databases', 'etcd', 'credentials')) == expected
        return
    with pytest.raises(RestoreRefused) as failure:
        plan_restore(MANIFEST, components, databases, target, BACKUP, force=force)
    assert len(failure.value.refusals) == len(refusals)
    for refusal, message in zip(failure.value.refusals, refusals):
        assert refusal.startswith(message)
    assert 'nothing was changed' in str(failure.value) and 'force: true' in str(failure.value)
    assert 'x' * 32 not in str(failure.value) and "'other'" not in str(failure.value)
