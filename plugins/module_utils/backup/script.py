# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running ``openstack-backup.sh`` (roles/backup/files) and reading its records.

The script is the one implementation of dumping, loading, table checksums, the Galera
health rule and retention; it runs unchanged as a Kubernetes Job's command and here,
on the host that reaches the database, through a runner such as
``AnsibleModule.run_command``. Connection settings and the password travel in the child's
environment only (``DB_PASSWORD``), never in its arguments; the script moves the password
into a private option file at once.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

EXIT_REASONS = {
    2: 'usage', 3: 'unhealthy', 4: 'run_not_found', 5: 'not_empty', 6: 'damaged', 7: 'verification_failed', 8: 'database',
}
CONNECTION_ENV = dict(login_host='DB_HOST', login_port='DB_PORT', login_user='DB_USER', login_unix_socket='DB_SOCKET')


class ScriptError(RuntimeError):
    """The script failed; ``reason`` names the kind (see EXIT_REASONS), ``records`` what it printed."""

    def __init__(self, message, rc, reason, records):
        super(ScriptError, self).__init__(message)
        self.message = message
        self.rc = rc
        self.reason = reason
        self.records = records


def parse_records(text):
    """[(kind, [fields...])] from the script's tab-separated stdout."""
    records = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        fields = line.split('\t')
        records.append((fields[0], fields[1:]))
    return records


def select(records, kind):
    return [fields for record_kind, fields in records if record_kind == kind]


def tables_of(records):
    """{(db, table): (rows, checksum)} from ``table`` records (checksum None for NULL)."""
    found = {}
    for fields in select(records, 'table'):
        db, table, rows, checksum = fields[:4]
        found[(db, table)] = (int(rows), None if checksum == 'NULL' else checksum)
    return found


def last_error(stderr):
    """The script's last ``ERROR:`` log line, without its timestamp prefix."""
    for line in reversed((stderr or '').splitlines()):
        if 'ERROR: ' in line:
            return line.split('ERROR: ', 1)[1].strip()
    return (stderr or '').strip()[-500:]


class BackupScript(object):
    """The script on this host. ``runner(args, environ_update)`` returns (rc, stdout, stderr)."""

    def __init__(self, path, runner, env=None):
        self.path = path
        self.runner = runner
        self.env = dict((k, str(v)) for k, v in (env or {}).items())

    def check(self):
        if not os.path.isfile(self.path) or not os.access(self.path, os.X_OK):
            raise ScriptError('backup script %s is missing or not executable; the backup role installs '
                              'roles/backup/files/openstack-backup.sh there (mode 0755), or set script' % self.path,
                              2, 'usage', [])

    def run(self, args, env):
        """Run a subcommand with ``env`` added; returns its records or raises ScriptError."""
        self.check()
        environ = dict(self.env)
        environ.update(dict((k, str(v)) for k, v in env.items() if v is not None))
        environ['LANG'] = environ['LC_ALL'] = 'C'
        rc, out, err = self.runner([self.path] + list(args), environ)
        records = parse_records(out)
        if rc != 0:
            raise ScriptError('openstack-backup.sh %s: %s' % (' '.join(args), last_error(err)), rc,
                              EXIT_REASONS.get(rc, 'failed'), records)
        return records


def connection_env(params, password):
    """The script's DB_* variables from the module's login_* options (password included)."""
    env = {}
    for option, variable in CONNECTION_ENV.items():
        if params.get(option) not in (None, ''):
            env[variable] = params[option]
    if password is not None:
        env['DB_PASSWORD'] = password
    return env
