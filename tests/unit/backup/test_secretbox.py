"""secretbox.py: the credentials Secret at rest, encrypted with the operator's passphrase."""
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.secretbox import SecretBoxError, decrypt, encrypt

KEY = 'correct horse battery staple'
PAYLOAD = {'name': 'openstack-credentials', 'data': {'KEYSTONE_DB_PASSWORD': 'hunter2-very-secret', 'UNICODE': u'\u00e9\u4e2d'}}


def test_round_trip_and_no_plaintext():
    blob = encrypt(PAYLOAD, KEY)
    assert b'hunter2-very-secret' not in blob and KEY.encode() not in blob
    assert decrypt(blob, KEY) == PAYLOAD
    assert encrypt(PAYLOAD, KEY) != blob, 'every file gets its own salt and IV'


def _tamper(blob, field, value):
    envelope = json.loads(blob)
    envelope[field] = value
    return json.dumps(envelope).encode()


BLOB = encrypt(PAYLOAD, KEY)
TOKEN = json.loads(BLOB)['token']
CASES = [
    ('wrong-key', BLOB, 'another passphrase!!', 'encryption_key does not decrypt credentials.enc: wrong key, or the file was modified'),
    ('modified-token', _tamper(BLOB, 'token', TOKEN[:-8] + ('A' if TOKEN[-8] != 'A' else 'B') + TOKEN[-7:]), KEY,
     'does not decrypt credentials.enc'),
    ('other-salt', _tamper(BLOB, 'salt', 'AAAAAAAAAAAAAAAAAAAAAA=='), KEY, 'does not decrypt credentials.enc'),
    ('foreign-file', b'{"format": "something-else"}', KEY, 'not an encrypted credentials file of this collection'),
    ('not-json', b'\x00\x01garbage', KEY, 'credentials.enc is damaged'),
    ('short-key', BLOB, 'short', 'encryption_key must be at least 16 characters'),
]


@pytest.mark.parametrize('blob,key,message', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decrypt_failures_never_show_secrets(blob, key, message):
    with pytest.raises(SecretBoxError) as failure:
        decrypt(blob, key)
    assert message in str(failure.value)
    assert 'hunter2' not in str(failure.value) and KEY not in str(failure.value)


def test_encrypt_refuses_short_key():
    with pytest.raises(SecretBoxError):
        encrypt(PAYLOAD, 'too short')
