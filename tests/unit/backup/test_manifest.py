"""manifest.py: reading a run's manifest, comparing tables and files with it."""
import copy
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.manifest import (
    ManifestError, check_run_name, compare_tables, components, expected_tables, file_problems, parse_manifest, summary)

SHA_A = 'a' * 64
SHA_B = 'b' * 64
GOOD = {
    'format': 'openstack_k8s.deploy/backup', 'format_version': 1, 'run': '20261123T190000Z', 'created': '2026-11-23T19:00:00Z',
    'release': '2026.2', 'method': 'mariadb-dump --single-transaction',
    'server': {'version': '10.11.19-MariaDB', 'wsrep_on': True, 'wsrep_cluster_size': 3},
    'tools': {'mariadb-dump': 'mariadb-dump Ver 10.19'},
    'databases': {
        'keystone': {'file': 'databases/keystone.sql.gz', 'tables': {
            'user': {'rows': 3, 'checksum': '111', 'verified': True},
            'token': {'rows': 9, 'checksum': '222', 'verified': False}}},
        'nova': {'file': 'databases/nova.sql.gz', 'tables': {'instances': {'rows': 0, 'checksum': '0', 'verified': True}}},
    },
    'files': {'databases/keystone.sql.gz': SHA_A, 'databases/nova.sql.gz': SHA_B, 'etcd.json': SHA_A, 'credentials.enc': SHA_B},
    'extra': {'etcd': {'file': 'etcd.json', 'prefix': '/openstack', 'keys': 12},
              'credentials': {'file': 'credentials.enc', 'keys': ['A_PASSWORD'], 'encrypted': True}},
}


def _broken(path, value):
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data)


BAD = [
    ('not-json', '{"format": ', 'manifest.json is not valid JSON'),
    ('not-object', '[1, 2]', 'manifest.json must hold a JSON object'),
    ('wrong-format', _broken(['format'], 'other'), "format is 'other', expected 'openstack_k8s.deploy/backup'"),
    ('newer-version', _broken(['format_version'], 2), 'format_version is 2; this collection reads version 1'),
    ('no-created', _broken(['created'], KeyError), 'created is missing'),
    ('bad-sha', _broken(['files', 'etcd.json'], 'abc'), 'files.etcd.json is not a sha256 digest'),
    ('escaping-file', _broken(['files', '../../etc/passwd'], SHA_A), 'files.../../etc/passwd leaves the run directory'),
    ('dump-not-listed', _broken(['files', 'databases/nova.sql.gz'], KeyError),
     "databases.nova.file 'databases/nova.sql.gz' is not listed in files"),
    ('table-without-rows', _broken(['databases', 'nova', 'tables', 'instances'], {'checksum': '1'}),
     'databases.nova.tables.instances needs rows and checksum'),
    ('extra-not-mapping', _broken(['extra'], [1]), 'extra must be a mapping'),
]


@pytest.mark.parametrize('text,message', [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_manifests_name_the_field(text, message):
    with pytest.raises(ManifestError) as failure:
        parse_manifest(text)
    assert message in str(failure.value)


def test_good_manifest_and_directory_name():
    manifest = parse_manifest(json.dumps(GOOD), '20261123T190000Z')
    assert components(manifest) == ['databases', 'etcd', 'credentials']
    with pytest.raises(ManifestError) as failure:
        parse_manifest(json.dumps(GOOD), 'other-run')
    assert "run is '20261123T190000Z' but the directory is 'other-run'" in str(failure.value)


@pytest.mark.parametrize('name,ok', [('20261123T190000Z', True), ('before-upgrade.1', True), ('.hidden', False),
                                     ('a/b', False), ('..', False), ('', False), ('x y', False)])
def test_run_names(name, ok):
    if ok:
        assert check_run_name(name) == name
    else:
        with pytest.raises(ManifestError):
            check_run_name(name)


EXPECTED = expected_tables(parse_manifest(json.dumps(GOOD)))
COMPARE = [
    ('identical', {('keystone', 'user'): (3, '111'), ('keystone', 'token'): (9, '222'), ('nova', 'instances'): (0, '0')},
     dict(ok=True, matched=['keystone.user', 'nova.instances'], unverifiable=['keystone.token'])),
    ('unverified-table-may-differ', {('keystone', 'user'): (3, '111'), ('keystone', 'token'): (1, '9'), ('nova', 'instances'): (0, '0')},
     dict(ok=True, unverifiable=['keystone.token'])),
    ('checksum-differs', {('keystone', 'user'): (3, '112'), ('keystone', 'token'): (9, '222'), ('nova', 'instances'): (0, '0')},
     dict(ok=False, mismatched=['keystone.user: backup 3 rows/checksum 111, restored 3 rows/checksum 112'])),
    ('row-count-differs', {('keystone', 'user'): (2, '111'), ('keystone', 'token'): (9, '222'), ('nova', 'instances'): (0, '0')},
     dict(ok=False, mismatched=['keystone.user: backup 3 rows/checksum 111, restored 2 rows/checksum 111'])),
    ('missing-table', {('keystone', 'user'): (3, '111'), ('keystone', 'token'): (9, '222')},
     dict(ok=False, missing=['nova.instances'])),
    ('unexpected-table', {('keystone', 'user'): (3, '111'), ('keystone', 'token'): (9, '222'), ('nova', 'instances'): (0, '0'),
                          ('nova', 'shadow'): (0, '0'), ('glance', 'images'): (1, '5')},
     dict(ok=False, unexpected=['nova.shadow'])),
]


@pytest.mark.parametrize('found,expect', [c[1:] for c in COMPARE], ids=[c[0] for c in COMPARE])
def test_compare_tables(found, expect):
    result = compare_tables(EXPECTED, found)
    for key, value in expect.items():
        assert result[key] == value, key


@pytest.mark.parametrize('actual,problems', [
    ({'a': SHA_A, 'b': SHA_B}, []),
    ({'a': SHA_A, 'b': None}, ['b is missing']),
    ({'a': SHA_B, 'b': SHA_B}, ['a has sha256 %s, the manifest says %s' % (SHA_B, SHA_A)]),
])
def test_file_problems(actual, problems):
    assert file_problems({'a': SHA_A, 'b': SHA_B}, actual) == problems


def test_summary_holds_counts_not_contents():
    result = summary(parse_manifest(json.dumps(GOOD)))
    assert result['databases'] == {'keystone': {'tables': 2, 'rows': 12}, 'nova': {'tables': 1, 'rows': 0}}
    assert result['tables'] == 3 and result['unverified_tables'] == ['keystone.token']
    assert result['credentials']['keys'] == ['A_PASSWORD'] and result['components'] == ['databases', 'etcd', 'credentials']
