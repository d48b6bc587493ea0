# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rule, used everywhere, for what counts as a secret in names and how it is hidden."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

MASK = '********'

# A key whose last path segment contains one of these words holds a secret.
SECRET_WORDS = ('password', 'passwd', 'secret', 'key', 'token', 'credential', 'cookie', 'kek')
_SECRET_RE = re.compile('|'.join(SECRET_WORDS), re.IGNORECASE)
# Names that contain "key" but are not secrets.
_NOT_SECRET_RE = re.compile(r'(^|_)(keystone|key_repository|keys_dir|keymap|key_manager|keyring|keypair)s?($|_)'
                            r'|^(max_active_keys|key_size|api_key_header|keyfile|ssl_keyfile)$', re.IGNORECASE)
# A last word that says the option describes a secret rather than holding one
# ("ssl_key_file", "token_ttl", "password_length", "service_token_roles_required",
# "enabled_secretstore_plugins").
DESCRIPTOR_WORDS = frozenset((
    'file', 'path', 'dir', 'directory', 'repository', 'ttl', 'time', 'timeout', 'expiration', 'expiry',
    'size', 'length', 'count', 'days', 'age', 'regex', 'description', 'roles', 'required', 'type',
    'format', 'provider', 'algorithm', 'rounds', 'uuid', 'header', 'enabled', 'name', 'domain', 'secure',
    'httponly', 'samesite', 'plugin', 'plugins', 'driver', 'backend'))
# A first word that makes the option a switch about secrets ("send_service_user_token").
SWITCH_WORDS = frozenset(('send', 'use', 'enable', 'enabled', 'allow', 'require', 'include', 'check', 'validate',
                          'verify'))
_WORD_SPLIT_RE = re.compile(r'[^a-z0-9]+')


def is_secret_name(name):
    """True when ``name`` (a key or the last segment of a key path) names a secret."""
    leaf = str(name).rstrip('/').rsplit('/', 1)[-1]
    words = [w for w in _WORD_SPLIT_RE.split(leaf.lower()) if w]
    if len(words) > 1 and (words[-1] in DESCRIPTOR_WORDS or words[0] in SWITCH_WORDS):
        return False
    if _NOT_SECRET_RE.search(leaf):
        # Still a secret if another secret word appears ("keystone_password").
        return bool(re.search('password|passwd|secret|token|credential|cookie', leaf, re.IGNORECASE))
    return bool(_SECRET_RE.search(leaf))


def mask_mapping(mapping, secret_values=()):
    """A copy of a flat mapping with secret-named values masked and known secret values scrubbed."""
    out = {}
    for key, value in mapping.items():
        out[key] = MASK if is_secret_name(key) else scrub(value, secret_values)
    return out


def scrub(text, secret_values):
    """``text`` with every occurrence of any value in ``secret_values`` replaced by the mask."""
    if not isinstance(text, str):
        return text
    for secret in sorted((s for s in secret_values if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
