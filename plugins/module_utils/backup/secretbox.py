# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credentials Secret at rest in a backup: encrypted with a key the operator provides.

File format (``credentials.enc``, JSON)::

    {"format": "openstack_k8s.deploy/credentials", "version": 1,
     "kdf": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64>",
     "cipher": "fernet", "token": "<Fernet token>"}

The passphrase (``encryption_key``, kept in Ansible Vault) goes through scrypt with a
random salt per file; the derived 32 bytes are a Fernet key (AES-128-CBC + HMAC-SHA256,
from ``cryptography``), so a wrong key or a modified file is detected, never decrypted to
garbage. The plaintext exists only in memory. Error messages never contain key or data.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import json
import os

try:
    from cryptography.fernet import Fernet, InvalidToken
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

FORMAT = 'openstack_k8s.deploy/credentials'
SCRYPT = dict(n=2 ** 15, r=8, p=1)
MIN_KEY_LENGTH = 16


class SecretBoxError(ValueError):
    """Encryption or decryption failed; the message says why and never holds a secret."""


def check_key(key, field='encryption_key'):
    if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
        raise SecretBoxError('%s must be at least %d characters (a passphrase kept in Ansible Vault)' % (field, MIN_KEY_LENGTH))


def _fernet(key, salt, n, r, p):
    derived = hashlib.scrypt(key.encode('utf-8'), salt=salt, n=n, r=r, p=p, maxmem=128 * n * r * p + 1024 * 1024, dklen=32)
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(payload, key, salt=None):
    """``payload`` (JSON-serialisable) encrypted with ``key``; returns the file's bytes."""
    check_key(key)
    salt = salt or os.urandom(16)
    token = _fernet(key, salt, SCRYPT['n'], SCRYPT['r'], SCRYPT['p']).encrypt(json.dumps(payload, sort_keys=True).encode('utf-8'))
    envelope = dict(format=FORMAT, version=1, kdf='scrypt', salt=base64.b64encode(salt).decode('ascii'),
                    cipher='fernet', token=token.decode('ascii'), **SCRYPT)
    return (json.dumps(envelope, sort_keys=True, indent=1) + '\n').encode('ascii')


def decrypt(data, key, field='encryption_key'):
    """The payload of a file written by :func:`encrypt`."""
    check_key(key, field)
    try:
        envelope = json.loads(data.decode('ascii') if isinstance(data, bytes) else data)
        if envelope.get('format') != FORMAT or envelope.get('kdf') != 'scrypt' or envelope.get('cipher') != 'fernet':
            raise SecretBoxError('credentials.enc is not an encrypted credentials file of this collection')
        salt = base64.b64decode(envelope['salt'])
        box = _fernet(key, salt, int(envelope['n']), int(envelope['r']), int(envelope['p']))
        token = envelope['token'].encode('ascii')
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        if isinstance(exc, SecretBoxError):
            raise
        raise SecretBoxError('credentials.enc is damaged (%s)' % type(exc).__name__)
    try:
        return json.loads(box.decrypt(token).decode('utf-8'))
    except InvalidToken:
        raise SecretBoxError('%s does not decrypt credentials.enc: wrong key, or the file was modified' % field)
