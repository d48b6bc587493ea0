"""The pure half of k8s_credentials: generation, validation, planning."""

import base64
import math
import random
import re
import string

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import credentials as creds


@pytest.mark.parametrize('secret_type,length,pattern', [
    ('password', 32, r'^[A-Za-z0-9]{32}$'),
    ('password', 64, r'^[A-Za-z0-9]{64}$'),
    ('urlsafe', 48, r'^[A-Za-z0-9_-]{48}$'),
    ('hex', 40, r'^[0-9a-f]{40}$'),
    ('hex_key', 32, r'^[0-9a-f]{32}$'),
    ('erlang_cookie', 32, r'^[A-Z]{32}$'),
    ('fernet_key', 32, r'^[A-Za-z0-9_-]{43}=$'),
])
def test_generated_values_have_the_promised_shape(secret_type, length, pattern):
    values = set(creds.generate(secret_type, length) for _index in range(50))
    assert len(values) == 50                      # no repeats
    for value in values:
        assert re.match(pattern, value), value


def test_fernet_key_decodes_to_32_bytes():
    assert len(base64.urlsafe_b64decode(creds.generate('fernet_key'))) == 32


def test_password_alphabet_is_used_evenly():
    """A biased generator (e.g. modulo over bytes) would show up in 64k characters."""
    text = ''.join(creds.generate('password', 64) for _index in range(1000))
    expected = len(text) / 62.0
    chi2 = sum((text.count(c) - expected) ** 2 / expected for c in string.ascii_letters + string.digits)
    assert chi2 < 130                              # 61 dof: p < 1e-6 above ~125
    assert math.log2(62) * 32 > 190


@pytest.mark.parametrize('secret_type,length,message', [
    ('password', 31, 'at least 32'),
    ('base32', 32, 'unknown secret type'),
])
def test_generate_refuses(secret_type, length, message):
    with pytest.raises(creds.CredentialsError) as error:
        creds.generate(secret_type, length)
    assert message in str(error.value)


BAD_REQUESTS = [
    ('lower-case name', [{'name': 'glance_db_password'}], {}, [], 'secrets[0].name'),
    ('missing name', [{'type': 'password'}], {}, [], 'secrets[0].name None'),
    ('short length', [{'name': 'A', 'length': 16}], {}, [], 'secrets[0] (A).length is 16; secrets are at least 32'),
    ('unknown type', [{'name': 'A', 'type': 'pin'}], {}, [], "type 'pin' is unknown"),
    ('conflicting duplicate', [{'name': 'A'}, {'name': 'A', 'type': 'hex'}], {}, [], 'requested twice'),
    ('pinned bad name', [], {'a-b': 'x' * 40}, [], "pinned name 'a-b'"),
    ('pinned empty', [], {'A': ''}, [], 'pinned A must be a non-empty string'),
    ('pinned dollar', [], {'A': 'abc$DEF' * 6}, [], 'pinned A contains "$"'),
    ('pinned newline', [], {'A': 'abc\n' * 10}, [], 'control character'),
    ('rotate bad name', [], {}, ['x'], "rotate entry 'x'"),
    ('not a mapping', ['A'], {}, [], 'secrets[0] must be a mapping'),
]


@pytest.mark.parametrize('requested,pinned,rotate,message', [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_name_the_field(requested, pinned, rotate, message):
    with pytest.raises(creds.CredentialsError) as error:
        creds.normalise_requests(requested, pinned, rotate)
    assert message in str(error.value)
    for value in pinned.values():
        if value:
            assert value not in str(error.value)


def test_identical_duplicates_are_fine_and_defaults_apply():
    wanted, pinned, rotate = creds.normalise_requests([{'name': 'A'}, {'name': 'A', 'type': 'password', 'length': 32},
                                                       {'name': 'F', 'type': 'fernet_key'}], None, None)
    assert wanted == {'A': ('password', 32), 'F': ('fernet_key', 32)}
    assert (pinned, rotate) == ({}, [])


PIN = 'operator-chosen-value-0123456789-abcdef'

PLAN_CASES = [
    # name, existing, wanted, pinned, rotate, created, kept, rotated, written names
    ('empty secret', {}, {'A': ('password', 32), 'B': ('hex', 40)}, {}, [], ['A', 'B'], [], [], ['A', 'B']),
    ('all present', {'A': 'a' * 32}, {'A': ('password', 32)}, {}, [], [], ['A'], [], []),
    ('new service adds only its keys', {'A': 'a' * 32, 'X': 'other'}, {'A': ('password', 32), 'C': ('password', 32)},
     {}, [], ['C'], ['A'], [], ['C']),
    ('pinned used when missing', {}, {'A': ('password', 32)}, {'A': PIN}, [], ['A'], [], [], ['A']),
    ('pinned extra key', {}, {}, {'EXTERNAL_CEPH_KEY': PIN}, [], ['EXTERNAL_CEPH_KEY'], [], [], ['EXTERNAL_CEPH_KEY']),
    ('pinned equal to existing', {'A': PIN}, {'A': ('password', 32)}, {'A': PIN}, [], [], ['A'], [], []),
    ('rotate generates', {'A': 'a' * 32}, {'A': ('password', 32)}, {}, ['A'], [], [], ['A'], ['A']),
    ('rotate to pinned', {'A': 'a' * 32}, {'A': ('password', 32)}, {'A': PIN}, ['A'], [], [], ['A'], ['A']),
    ('rotate to the same pinned value', {'A': PIN}, {}, {'A': PIN}, ['A'], [], ['A'], [], []),
    ('rotate a missing key creates it', {}, {}, {}, ['NEW_TOKEN'], ['NEW_TOKEN'], [], [], ['NEW_TOKEN']),
]


@pytest.mark.parametrize('existing,wanted,pinned,rotate,created,kept,rotated,written', [c[1:] for c in PLAN_CASES],
                         ids=[c[0] for c in PLAN_CASES])
def test_plan(existing, wanted, pinned, rotate, created, kept, rotated, written):
    steps = creds.plan(existing, wanted, pinned, rotate)
    assert (steps['created'], steps['kept'], steps['rotated']) == (created, kept, rotated)
    assert sorted(steps['writes']) == written
    for name, value in steps['writes'].items():
        if name in pinned:
            assert value == pinned[name]
        else:
            assert value != existing.get(name) and len(value) >= 32


def test_pinned_value_never_silently_replaces_an_existing_one():
    with pytest.raises(creds.CredentialsError) as error:
        creds.plan({'A': 'existing-value-' * 3}, {'A': ('password', 32)}, {'A': PIN}, [])
    message = str(error.value)
    assert 'pinned value of A differs' in message and 'add it to rotate' in message
    assert PIN not in message and 'existing-value' not in message


def test_plan_uses_the_given_rng():
    one = creds.plan({}, {'A': ('password', 32)}, {}, [], rng=random.Random(7))['writes']['A']
    two = creds.plan({}, {'A': ('password', 32)}, {}, [], rng=random.Random(7))['writes']['A']
    assert one == two and len(one) == 32


def test_data_round_trip():
    values = {'A': 'x' * 32, 'B': 'caf\u00e9' * 8}
    assert creds.decode_data({'data': creds.encode_data(values)}) == values
    assert creds.decode_data(None) == {}
