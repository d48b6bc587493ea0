"""script.py: the backup script's records and errors, and what reaches its environment."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.script import (
    BackupScript, ScriptError, connection_env, last_error, parse_records, tables_of)

OUTPUT = ('server\t10.11.19-MariaDB\nwsrep\ton\tSynced\tPrimary\t3\n\n'
          'table\tkeystone\tuser\t3\t111\tverified\ntable\tnova\tempty\t0\tNULL\n')


def test_records_and_tables():
    records = parse_records(OUTPUT)
    assert records[0] == ('server', ['10.11.19-MariaDB'])
    assert tables_of(records) == {('keystone', 'user'): (3, '111'), ('nova', 'empty'): (0, None)}


@pytest.mark.parametrize('stderr,message', [
    ('2026-11-23T19:00:00Z openstack-backup[1]: dumping nova\n2026-11-23T19:00:01Z openstack-backup[1]: ERROR: refusing: x\n',
     'refusing: x'),
    ('mariadb: unknown error\n', 'mariadb: unknown error'),
])
def test_last_error(stderr, message):
    assert last_error(stderr) == message


def test_password_travels_in_the_environment_only(tmp_path):
    script = tmp_path / 'fake.sh'
    script.write_text('#!/bin/sh\necho "ERROR: x" >&2\nexit 3\n')
    script.chmod(0o755)
    seen = []

    def runner(args, environ):
        seen.append((args, environ))
        return 3, '', '2026 openstack-backup[1]: ERROR: refusing: the cluster has 1 members\n'

    env = connection_env(dict(login_host='db', login_port=3306, login_user='root', login_unix_socket=None), 's3cret-pass')
    with pytest.raises(ScriptError) as failure:
        BackupScript(str(script), runner).run(['backup'], env)
    assert failure.value.reason == 'unhealthy' and failure.value.rc == 3
    assert failure.value.message == 'openstack-backup.sh backup: refusing: the cluster has 1 members'
    args, environ = seen[0]
    assert args == [str(script), 'backup'] and environ['DB_PASSWORD'] == 's3cret-pass'
    assert environ['DB_HOST'] == 'db' and 'DB_SOCKET' not in environ


def test_missing_script_names_the_fix(tmp_path):
    with pytest.raises(ScriptError) as failure:
        BackupScript(str(tmp_path / 'absent.sh'), None).run(['backup'], {})
    assert 'is missing or not executable; the backup role installs roles/backup/files/openstack-backup.sh' in failure.value.message
