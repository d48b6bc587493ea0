"""Backup, then restore into a FRESH Galera cluster, a fresh etcd prefix and a fresh namespace.

Everything is real: the session 3-member Galera cluster is the source, a new 3-member
cluster the target; the collection's own backup script does the dumps and loads; the
expectations (per-table CHECKSUM TABLE and row counts, the etcd keys, the Secret's values)
are read back with separate clients, never from the code under test.
"""
import json
import os
import stat
import uuid

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.plan import BackupInputError, RestoreRefused
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.script import ScriptError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.secretbox import SecretBoxError

from backup_helpers import ENCRYPTION_KEY, backup_params, checksums, read_secret, restore_params, run_command

pytestmark = pytest.mark.slow


def _all_bytes(directory):
    blobs = []
    for base, _dirs, files in os.walk(directory):
        for name in files:
            with open(os.path.join(base, name), 'rb') as handle:
                blobs.append((name, handle.read()))
    return blobs


@pytest.fixture(scope='module')
def taken(source, tmp_path_factory):
    """One backup run of ``source`` (taken once for the module)."""
    root = tmp_path_factory.mktemp('backups')
    run_command.calls.clear()
    result = runner.run_backup(backup_params(source, root), run_command)
    return dict(root=root, result=result, calls=list(run_command.calls))


def test_backup_run_layout_manifest_and_secrecy(source, taken):
    result, root = taken['result'], taken['root']
    run_dir = root / result['run']
    assert result['changed'] and result['databases'] == sorted(source['databases'])
    manifest = json.loads((run_dir / 'manifest.json').read_text())
    assert manifest['release'] == '2026.2' and manifest['server']['wsrep_cluster_size'] == 3
    assert manifest['server']['wsrep_state'] == 'Synced' and 'mariadb-dump' in manifest['tools']['mariadb-dump']
    # the manifest's table checksums are the source's, read independently
    expected = checksums(source['cluster'].members[0], source['databases'])
    recorded = dict(((db, t), (info['rows'], info['checksum'])) for db, entry in manifest['databases'].items()
                    for t, info in entry['tables'].items())
    assert recorded == expected
    assert all(info['verified'] for entry in manifest['databases'].values() for info in entry['tables'].values())
    assert ('%s' % source['databases'][1], 'big_instances') not in recorded  # views are not tables
    # every file is listed with its sha256, and SHA256SUMS verifies with the standard tool
    listed = set(manifest['files'])
    on_disk = set(os.path.relpath(os.path.join(b, f), run_dir) for b, _d, fs in os.walk(run_dir) for f in fs)
    assert on_disk - listed == {'manifest.json', 'SHA256SUMS'}
    assert {'etcd.json', 'credentials.enc', 'checksums.tsv'} <= listed
    etcd_backup = json.loads((run_dir / 'etcd.json').read_text())
    assert etcd_backup['prefix'] == source['prefix']
    assert etcd_backup['keys'] == dict((k[len(source['prefix']) + 1:], v) for k, v in source['etcd'].dump(source['prefix'] + '/').items())
    assert manifest['extra']['credentials']['keys'] == sorted(source['secret'])
    assert stat.S_IMODE(os.stat(run_dir / 'credentials.enc').st_mode) == 0o600
    # no secret value, password or the key in any file of the run, in the results, or in the script's output
    secrets = list(source['secret'].values()) + [ENCRYPTION_KEY]
    for name, blob in _all_bytes(run_dir):
        for value in secrets:
            assert value.encode() not in blob, '%s holds a secret' % name
    for args, _env, out, err in taken['calls']:
        for value in secrets:
            assert value not in ' '.join(args) and value not in out and value not in err
    assert not any(value in json.dumps(result) for value in secrets)


def test_restore_into_fresh_cluster_gives_identical_checksums(source, taken, galera_cluster_factory, tmp_path):
    fresh = galera_cluster_factory(3)
    prefix = '/bk-dst-%s' % uuid.uuid4().hex[:8]
    namespace = 'bk-dst-%s' % uuid.uuid4().hex[:8]
    params = restore_params(source, taken['root'], fresh.members[1], prefix, namespace, login_password=fresh.admin_password,
                            run=taken['result']['run'])
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
    K8sClient(dict(kubeconfig=source['sandbox'].kubeconfig)).create(
        dict(apiVersion='v1', kind='Namespace', metadata=dict(name=namespace)))

    planned = runner.run_restore(params, run_command, check_mode=True)
    assert planned['changed'] and planned['plan'] == dict(
        databases=dict((db, 'restore') for db in source['databases']), etcd='restore', credentials='restore')
    assert checksums(fresh.members[0], source['databases']) == {}, 'check mode wrote to the database'
    assert source['etcd'].dump(prefix + '/') == {} and read_secret(source['sandbox'], namespace, 'openstack-credentials') is None

    result = runner.run_restore(params, run_command)
    assert result['changed'] and result['verification']['ok'], result
    # identical per-table checksums and row counts on every member of the fresh cluster
    expected = checksums(source['cluster'].members[0], source['databases'])
    for member in fresh.members:
        assert checksums(member, source['databases']) == expected
    conn = fresh.members[2].connect()
    with conn.cursor() as cur:  # the trigger and the view came back too
        cur.execute('SELECT COUNT(*) FROM `%s`.big_instances' % source['databases'][1])
        assert cur.fetchone()[0] > 0
        cur.execute('SHOW TRIGGERS FROM `%s`' % source['databases'][1])
        assert [row[0] for row in cur.fetchall()] == ['audit_insert']
    conn.close()
    original = dict((k[len(source['prefix']):], v) for k, v in source['etcd'].dump(source['prefix'] + '/').items())
    restored = dict((k[len(prefix):], v) for k, v in source['etcd'].dump(prefix + '/').items())
    assert restored == original
    assert read_secret(source['sandbox'], namespace, 'openstack-credentials') == source['secret']

    # a re-run finds everything equal and changes nothing
    again = runner.run_restore(params, run_command)
    assert not again['changed'] and again['plan'] == dict(
        databases=dict((db, 'unchanged') for db in source['databases']), etcd='unchanged', credentials='unchanged')

    # a changed row: refused, naming the database, nothing changed; force replaces it
    conn = fresh.members[0].connect()
    with conn.cursor() as cur:
        cur.execute("UPDATE `%s`.`user` SET name='tampered' LIMIT 1" % source['databases'][0])
    conn.close()
    tampered = checksums(fresh.members[0], source['databases'])
    with pytest.raises(RestoreRefused) as refused:
        runner.run_restore(params, run_command)
    assert refused.value.refusals == ['database %s already holds 2 table(s) that differ from the backup' % source['databases'][0]]
    assert checksums(fresh.members[0], source['databases']) == tampered
    forced = runner.run_restore(dict(params, force=True), run_command)
    assert forced['plan']['databases'] == {source['databases'][0]: 'replace', source['databases'][1]: 'unchanged'}
    assert checksums(fresh.members[1], source['databases']) == expected


@pytest.mark.parametrize('case', ['damaged_dump', 'wrong_key', 'unhealthy_size', 'unknown_database', 'missing_key'])
def test_restore_refuses_before_any_change(source, taken, tmp_path, case):
    """Each failure happens before the target is touched: the target stays empty."""
    import shutil
    root = tmp_path / 'copy'
    shutil.copytree(taken['root'], root)
    run = taken['result']['run']
    prefix = '/bk-never-%s' % uuid.uuid4().hex[:8]
    params = restore_params(source, root, source['cluster'].members[0], prefix, 'bk-never', run=run,
                            login_password=source['cluster'].admin_password, components=['etcd'])
    expect = None
    if case == 'damaged_dump':
        dump = root / run / 'databases' / ('%s.sql.gz' % source['databases'][0])
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 0xff
        dump.write_bytes(bytes(data))
        expect = (runner.BackupError, 'run %s is damaged, nothing was changed: databases/%s.sql.gz has sha256' % (run, source['databases'][0]))
    elif case == 'wrong_key':
        params.update(encryption_key='another passphrase, long enough', components=['etcd', 'credentials'])
        expect = (SecretBoxError, 'encryption_key does not decrypt credentials.enc: wrong key, or the file was modified')
    elif case == 'unhealthy_size':
        params.update(components=['databases', 'etcd'], min_cluster_size=5)
        expect = (runner.BackupError, 'refusing to restore into this server, nothing was changed: the Galera cluster has 3 members, '
                                      'fewer than the required 5')
    elif case == 'unknown_database':
        params.update(components=['databases', 'etcd'], databases=['nova_api'])
        expect = (BackupInputError, 'databases nova_api are not in run %s' % run)
    elif case == 'missing_key':
        params.update(encryption_key=None, components=['credentials', 'etcd'])
        expect = (BackupInputError, 'encryption_key is required: run %s holds the credentials Secret encrypted' % run)
    with pytest.raises(expect[0]) as failure:
        runner.run_restore(params, run_command)
    assert expect[1] in str(failure.value)
    assert source['etcd'].dump(prefix + '/') == {}


def test_backup_check_mode_predicts_and_writes_nothing(source, taken, tmp_path):
    import shutil
    root = tmp_path / 'copy'
    shutil.copytree(taken['root'], root)
    before = sorted(os.listdir(root))
    planned = runner.run_backup(backup_params(source, root, run='20991231T000000Z', keep=1), run_command, check_mode=True)
    assert planned['changed'] and planned['databases'] == sorted(source['databases'])
    assert planned['pruned'] == before and planned['etcd_keys'] == len(source['etcd'].dump(source['prefix'] + '/'))
    assert planned['credentials_keys'] == sorted(source['secret'])
    assert sorted(os.listdir(root)) == before
    same = runner.run_backup(backup_params(source, root, run=taken['result']['run']), run_command, check_mode=True)
    assert not same['changed'] and same['pruned'] == []


def test_backup_refuses_unhealthy_or_bad_input_before_writing(source, tmp_path):
    root = tmp_path / 'refused'
    with pytest.raises(ScriptError) as unhealthy:
        runner.run_backup(backup_params(source, root, min_cluster_size=4), run_command)
    assert unhealthy.value.reason == 'unhealthy'
    assert 'the Galera cluster has 3 members, fewer than the required 4' in unhealthy.value.message
    assert not os.path.exists(root) or os.listdir(root) == []
    with pytest.raises(BackupInputError) as bad:
        runner.run_backup(backup_params(source, root, encryption_key=None, keep=-1, databases=['nova;drop']), run_command)
    assert bad.value.errors == [
        "databases entry 'nova;drop' is not a database name (letters, digits, _, $, -)",
        'keep must be 0 (no limit) or more, got -1',
        'encryption_key is required to encrypt the credentials Secret; put a passphrase of at least 16 characters in '
        'Ansible Vault (or, not recommended, set allow_plaintext_credentials: true)']
    assert not os.path.exists(root) or os.listdir(root) == []


def test_plain_server_needs_require_galera_false(source, mariadb_server, tmp_path):
    params = backup_params(source, tmp_path, login_port=mariadb_server.port, login_user=mariadb_server.admin_user,
                           login_password=mariadb_server.admin_password, databases=[], components=['databases'])
    with pytest.raises(ScriptError) as refused:
        runner.run_backup(params, run_command)
    assert 'not a Galera member' in refused.value.message and refused.value.reason == 'unhealthy'
    mariadb_server.create_database('bk_plain')
    mariadb_server.query('CREATE TABLE IF NOT EXISTS bk_plain.t (id INT PRIMARY KEY)')
    result = runner.run_backup(dict(params, require_galera=False, min_cluster_size=1, run='plain'), run_command)
    assert 'bk_plain' in result['databases'] and result['manifest']['components'] == ['databases']
    again = runner.run_backup(dict(params, require_galera=False, min_cluster_size=1, run='plain'), run_command)
    assert not again['changed'] and again['pruned'] == []


def test_table_written_during_backup_is_marked_and_restore_still_verifies_the_rest(source, mariadb_server, tmp_path):
    """A writer inserts into one table for the whole backup: that table is 'changed', every other one verified."""
    import threading
    suffix = uuid.uuid4().hex[:8]
    busy = 'bk_busy_%s' % suffix
    member = source['cluster'].members[0]
    member.query('CREATE DATABASE `%s`' % busy)
    member.query('CREATE TABLE `%s`.heartbeats (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))' % busy)
    member.query('CREATE TABLE `%s`.services (id INT PRIMARY KEY, name VARCHAR(20))' % busy)
    member.query("INSERT INTO `%s`.services VALUES (1, 'nova-compute'), (2, 'nova-scheduler')" % busy)
    stop = threading.Event()

    def writer():
        conn = member.connect()
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute('INSERT INTO `%s`.heartbeats (at) VALUES (NOW(6))' % busy)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = runner.run_backup(backup_params(source, tmp_path, databases=[busy], components=['databases']), run_command)
    finally:
        stop.set()
        thread.join()
    try:
        manifest = json.loads((tmp_path / result['run'] / 'manifest.json').read_text())
        tables = manifest['databases'][busy]['tables']
        assert tables['heartbeats']['verified'] is False and tables['services']['verified'] is True
        assert result['manifest']['unverified_tables'] == ['%s.heartbeats' % busy]
        # restore into another (plain) server: the verified table is identical, the changed one present
        params = restore_params(source, tmp_path, None, '/unused', 'unused', login_port=mariadb_server.port,
                                login_user=mariadb_server.admin_user, login_password=mariadb_server.admin_password,
                                require_galera=False, min_cluster_size=1, components=['databases'])
        restored = runner.run_restore(params, run_command)
        assert restored['verification']['ok'] and restored['verification']['unverifiable'] == ['%s.heartbeats' % busy]
        assert restored['verification']['matched'] == ['%s.services' % busy]
        assert checksums(mariadb_server, [busy])[(busy, 'services')] == checksums(member, [busy])[(busy, 'services')]
        rows = checksums(mariadb_server, [busy])[(busy, 'heartbeats')][0]
        assert 0 < rows <= checksums(member, [busy])[(busy, 'heartbeats')][0]
    finally:
        member.query('DROP DATABASE IF EXISTS `%s`' % busy)
        mariadb_server.query('DROP DATABASE IF EXISTS `%s`' % busy)


def test_backup_info_lists_and_verifies(source, taken, tmp_path):
    import shutil
    root = tmp_path / 'copy'
    shutil.copytree(taken['root'], root)
    run = taken['result']['run']
    (root / '.20990101T000000Z.partial').mkdir()
    info = runner.run_backup_info(dict(backup_root=str(root), run=None, verify=True))
    assert info['latest'] == run and info['incomplete'] == ['.20990101T000000Z.partial']
    entry = info['backups'][0]
    assert entry['verified'] and entry['problems'] == [] and entry['release'] == '2026.2'
    assert entry['databases'][source['databases'][0]]['tables'] == 2
    assert entry['credentials']['keys'] == sorted(source['secret']) and entry['etcd']['prefix'] == source['prefix']
    with open(root / run / 'etcd.json', 'a') as handle:
        handle.write(' ')
    damaged = runner.run_backup_info(dict(backup_root=str(root), run=run, verify=True))['backups'][0]
    assert not damaged['verified'] and damaged['problems'][0].startswith('etcd.json has sha256 ')
    with pytest.raises(runner.BackupError) as missing:
        runner.run_backup_info(dict(backup_root=str(root), run='20000101T000000Z', verify=False))
    assert 'run 20000101T000000Z is not a complete backup run in %s (complete runs: %s)' % (root, run) in str(missing.value)


def test_plaintext_credentials_only_when_allowed_0600_and_warned(source, tmp_path):
    """A run of the Secret alone (no database part) without a key: refused, unless explicitly allowed."""
    params = backup_params(source, tmp_path, components=['credentials'], encryption_key=None, login_host=None, run='secret-only')
    with pytest.raises(BackupInputError):
        runner.run_backup(params, run_command)
    result = runner.run_backup(dict(params, allow_plaintext_credentials=True), run_command)
    assert result['manifest']['components'] == ['credentials'] and result['manifest']['databases'] == {}
    assert any('UNENCRYPTED' in warning for warning in result['warnings'])
    stored = tmp_path / 'secret-only' / 'credentials.json'
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert json.loads(stored.read_text())['data'] == source['secret']
    namespace = 'bk-plain-%s' % uuid.uuid4().hex[:8]
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
    K8sClient(dict(kubeconfig=source['sandbox'].kubeconfig)).create(
        dict(apiVersion='v1', kind='Namespace', metadata=dict(name=namespace)))
    restored = runner.run_restore(restore_params(source, tmp_path, None, '/unused', namespace, components=['credentials'],
                                                 encryption_key=None, run='secret-only', login_host=None), run_command)
    assert restored['plan']['credentials'] == 'restore'
    assert read_secret(source['sandbox'], namespace, 'openstack-credentials') == source['secret']
