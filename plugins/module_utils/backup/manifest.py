# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup run's manifest: read it, check it, compare tables and files with it. Pure.

``roles/backup/files/openstack-backup.sh`` writes one directory per run::

    <root>/<run>/manifest.json      what is in the run (below)
    <root>/<run>/SHA256SUMS         sha256sum of every other file
    <root>/<run>/checksums.tsv      db, table, rows, checksum, verified|changed
    <root>/<run>/databases/<db>.sql.gz
    <root>/<run>/etcd.json          the config tree under the prefix (no secrets in it)
    <root>/<run>/credentials.enc    the credentials Secret, encrypted (see secretbox)

A directory whose name starts with a dot (``.<run>.partial``) is a run in progress or one
that was killed; only directories holding ``manifest.json`` count as runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

FORMAT = 'openstack_k8s.deploy/backup'
FORMAT_VERSION = 1
RUN_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
COMPONENTS = ('databases', 'etcd', 'credentials')


class ManifestError(ValueError):
    """The manifest is unreadable or incomplete; the message names the field."""


def check_run_name(name, field='run'):
    """Raise ManifestError unless ``name`` is a safe run directory name."""
    if not isinstance(name, str) or not RUN_NAME_RE.match(name) or name in ('.', '..'):
        raise ManifestError('%s %r must start with a letter or digit and hold only letters, digits, ".", "_" and "-" '
                            '(for example 20261123T190000Z)' % (field, name))
    return name


def parse_manifest(text, run=None):
    """The manifest as a dict, checked field by field; ``run`` is the directory name it must match."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError('manifest.json is not valid JSON (%s); the run is damaged' % exc)
    if not isinstance(data, dict):
        raise ManifestError('manifest.json must hold a JSON object')
    problems = []
    if data.get('format') != FORMAT:
        problems.append('format is %r, expected %r' % (data.get('format'), FORMAT))
    if data.get('format_version') != FORMAT_VERSION:
        problems.append('format_version is %r; this collection reads version %d' % (data.get('format_version'), FORMAT_VERSION))
    for field in ('run', 'created'):
        if not isinstance(data.get(field), str) or not data.get(field):
            problems.append('%s is missing' % field)
    if run is not None and data.get('run') != run:
        problems.append('run is %r but the directory is %r' % (data.get('run'), run))
    files = data.get('files')
    if not isinstance(files, dict):
        problems.append('files must map file names to sha256 digests')
        files = {}
    for name, digest in sorted(files.items()):
        if not isinstance(digest, str) or not SHA256_RE.match(digest):
            problems.append('files.%s is not a sha256 digest' % name)
        if name.startswith('/') or '..' in name.split('/'):
            problems.append('files.%s leaves the run directory' % name)
    databases = data.get('databases')
    if not isinstance(databases, dict):
        problems.append('databases must be a mapping')
        databases = {}
    for db, entry in sorted(databases.items()):
        if not isinstance(entry, dict) or not isinstance(entry.get('tables'), dict):
            problems.append('databases.%s needs file and tables' % db)
            continue
        if entry.get('file') not in files:
            problems.append('databases.%s.file %r is not listed in files' % (db, entry.get('file')))
        for table, info in sorted(entry['tables'].items()):
            if not isinstance(info, dict) or not isinstance(info.get('rows'), int) or 'checksum' not in info:
                problems.append('databases.%s.tables.%s needs rows and checksum' % (db, table))
    extra = data.get('extra')
    if extra is not None and not isinstance(extra, dict):
        problems.append('extra must be a mapping')
    if problems:
        raise ManifestError('manifest.json of run %s: %s' % (data.get('run') or run, '; '.join(problems)))
    data.setdefault('extra', {})
    return data


def components(manifest):
    """Which components the run holds: databases (when any), etcd, credentials."""
    found = []
    if manifest['databases']:
        found.append('databases')
    for name in ('etcd', 'credentials'):
        if isinstance(manifest['extra'].get(name), dict):
            found.append(name)
    return found


def file_problems(expected, actual):
    """Problems of the run's files. ``expected``: {name: sha256} from the manifest; ``actual``: {name: sha256 or None}."""
    problems = []
    for name in sorted(expected):
        digest = actual.get(name)
        if digest is None:
            problems.append('%s is missing' % name)
        elif digest != expected[name]:
            problems.append('%s has sha256 %s, the manifest says %s' % (name, digest, expected[name]))
    return problems


def expected_tables(manifest, databases=None):
    """{(db, table): (rows, checksum, verified)} of the manifest, for ``databases`` (default all)."""
    tables = {}
    for db, entry in manifest['databases'].items():
        if databases is not None and db not in databases:
            continue
        for table, info in entry['tables'].items():
            tables[(db, table)] = (info['rows'], info['checksum'], bool(info.get('verified')))
    return tables


def compare_tables(expected, found):
    """Compare a restored server with the manifest.

    ``expected`` as from :func:`expected_tables`; ``found``: {(db, table): (rows, checksum)}.
    A verified table must match rows and checksum; a table that changed while it was backed
    up (not verified) can only be checked for presence. Returns dict(matched, mismatched,
    missing, unexpected, unverifiable), each a sorted list of ``db.table`` (mismatched with
    both values), and ``ok``.
    """
    result = dict(matched=[], mismatched=[], missing=[], unexpected=[], unverifiable=[])
    for key in sorted(expected):
        rows, checksum, verified = expected[key]
        name = '%s.%s' % key
        if key not in found:
            result['missing'].append(name)
        elif not verified:
            result['unverifiable'].append(name)
        elif (found[key][0], found[key][1]) != (rows, checksum):
            result['mismatched'].append('%s: backup %s rows/checksum %s, restored %s rows/checksum %s'
                                        % (name, rows, checksum, found[key][0], found[key][1]))
        else:
            result['matched'].append(name)
    databases = set(db for db, _table in expected)
    result['unexpected'] = sorted('%s.%s' % key for key in found if key not in expected and key[0] in databases)
    result['ok'] = not (result['mismatched'] or result['missing'] or result['unexpected'])
    return result


def summary(manifest):
    """What backup_info shows of a run: no file contents, no secrets."""
    tables = expected_tables(manifest)
    extra = manifest['extra']
    return dict(
        run=manifest['run'], created=manifest['created'], release=manifest.get('release') or '',
        method=manifest.get('method'), server=manifest.get('server') or {}, tools=manifest.get('tools') or {},
        components=components(manifest),
        databases=dict((db, dict(tables=len(entry['tables']), rows=sum(t['rows'] for t in entry['tables'].values())))
                       for db, entry in manifest['databases'].items()),
        tables=len(tables), unverified_tables=sorted('%s.%s' % k for k, v in tables.items() if not v[2]),
        files=dict(manifest['files']),
        etcd=extra.get('etcd'), credentials=extra.get('credentials'))
