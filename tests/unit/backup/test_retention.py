"""Retention as the production script decides it: tables of run directories, no database.

``openstack-backup.sh prune`` (and ``list`` / ``prune --dry-run``) is the one
implementation, used by the Kubernetes Job and the modules alike; these cases run it on
directory trees made in a temporary directory with a fixed "now".
"""
import calendar
import os
import pathlib
import subprocess
import time

import pytest

SCRIPT = str(pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'backup' / 'files' / 'openstack-backup.sh')
NOW = calendar.timegm(time.strptime('20261123T120000Z', '%Y%m%dT%H%M%SZ'))
DAY = 86400


def _name(days_ago, hours=0):
    return time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(NOW - days_ago * DAY - hours * 3600))


def _layout(root, runs):
    for name, kind in runs:
        path = root / name
        path.mkdir()
        if kind == 'complete':
            (path / 'manifest.json').write_text('{}')


def _prune(root, *args, **env):
    environ = dict(os.environ, BACKUP_ROOT=str(root), BACKUP_NOW=str(NOW), **dict((k, str(v)) for k, v in env.items()))
    proc = subprocess.run([SCRIPT, 'prune'] + list(args), env=environ, capture_output=True, text=True, timeout=30, check=False)
    decisions = [line.split('\t')[1:] for line in proc.stdout.splitlines() if line.startswith('retention\t')]
    return proc, dict((d[0], (d[2], d[3])) for d in decisions)


C = 'complete'
CASES = [
    # (id, runs, env, names deleted)
    ('keep-3-of-5', [(_name(d), C) for d in range(5)], dict(BACKUP_KEEP=3), {_name(3), _name(4)}),
    ('keep-0-means-no-count-limit', [(_name(d), C) for d in range(5)], dict(BACKUP_KEEP=0), set()),
    ('max-age-10-days', [(_name(d), C) for d in (0, 5, 11, 30)], dict(BACKUP_KEEP=0, BACKUP_MAX_AGE_DAYS=10),
     {_name(11), _name(30)}),
    ('newest-kept-even-when-too-old', [(_name(d), C) for d in (40, 50)], dict(BACKUP_KEEP=0, BACKUP_MAX_AGE_DAYS=10),
     {_name(50)}),
    ('keep-and-age-together', [(_name(d), C) for d in (0, 1, 2, 20)], dict(BACKUP_KEEP=3, BACKUP_MAX_AGE_DAYS=10),
     {_name(20)}),
    ('interrupted-run-older-than-newest-is-deleted', [(_name(0), C), ('.%s.partial' % _name(1), 'partial')],
     dict(BACKUP_KEEP=7), {'.%s.partial' % _name(1)}),
    ('interrupted-run-newer-may-still-run', [(_name(1), C), ('.%s.partial' % _name(0, 1), 'partial')],
     dict(BACKUP_KEEP=7), set()),
    ('foreign-directories-left-alone', [(_name(d), C) for d in range(3)] + [('lost+found', 'foreign')],
     dict(BACKUP_KEEP=1), {_name(1), _name(2)}),
    ('named-runs-ordered-by-manifest-time', [('weekly', C), ('before-upgrade', C)], dict(BACKUP_KEEP=1), None),
    ('pending-run-counts-in-check-mode', [(_name(d), C) for d in range(3)], dict(BACKUP_KEEP=3, BACKUP_PENDING_RUNS=1),
     {_name(2)}),
]


@pytest.mark.parametrize('runs,env,deleted', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_retention_selection(tmp_path, runs, env, deleted):
    _layout(tmp_path, runs)
    if deleted is None:  # runs without a timestamp name are ordered by their manifest's mtime
        os.utime(tmp_path / 'weekly' / 'manifest.json', (NOW - 5 * DAY, NOW - 5 * DAY))
        os.utime(tmp_path / 'before-upgrade' / 'manifest.json', (NOW - DAY, NOW - DAY))
        deleted = {'weekly'}
    dry, decisions = _prune(tmp_path, '--dry-run', **env)
    assert dry.returncode == 0, dry.stderr
    assert set(n for n, (action, _why) in decisions.items() if action == 'delete') == deleted
    assert set(decisions) == set(name for name, _kind in runs)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(name for name, _kind in runs), 'dry run deleted something'
    real, _decisions = _prune(tmp_path, **env)
    assert real.returncode == 0, real.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(name for name, _kind in runs if name not in deleted)
    assert sorted(line.split('\t')[1] for line in real.stdout.splitlines() if line.startswith('deleted\t')) == sorted(deleted)
    again, _decisions = _prune(tmp_path, **env)  # idempotent: a second prune deletes nothing
    assert again.returncode == 0 and 'deleted\t' not in again.stdout


@pytest.mark.parametrize('env,message', [
    (dict(BACKUP_KEEP='three'), "BACKUP_KEEP must be a non-negative integer, got 'three'"),
    (dict(BACKUP_MAX_AGE_DAYS='-1'), "BACKUP_MAX_AGE_DAYS must be a non-negative integer, got '-1'"),
])
def test_retention_bad_settings_fail_before_deleting(tmp_path, env, message):
    _layout(tmp_path, [(_name(d), C) for d in range(3)])
    proc, _decisions = _prune(tmp_path, **dict(dict(BACKUP_KEEP=1), **env))
    assert proc.returncode == 2 and message in proc.stderr
    assert len(list(tmp_path.iterdir())) == 3


def test_missing_root_is_empty(tmp_path):
    proc, decisions = _prune(tmp_path / 'absent')
    assert proc.returncode == 0 and decisions == {}
