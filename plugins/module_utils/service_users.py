# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user NAME of a service's RabbitMQ or Keystone account, next to its password.

A RabbitMQ user and a Keystone user each hold exactly one password, so a password cannot
change without a window where pods still configured with the old one are rejected. A
rotation therefore makes a second user (``nova-b`` next to ``nova``) with the new password
and the same permissions or role assignments, switches the service to it, and deletes the
old user once no pod uses it. Which user a service uses is the credential
``<PREFIX>_RABBITMQ_USER`` next to ``<PREFIX>_RABBITMQ_PASSWORD`` (``<PREFIX>_KEYSTONE_USER``
next to ``<PREFIX>_KEYSTONE_PASSWORD``); the config tree refers to it as
``$NOVA_RABBITMQ_USER``. It is absent from the credentials Secret until a rotation writes
it, and then defaults to the catalog's ``messaging.user`` (``keystone.user.name``), the
name every deployment used before, so nothing rendered changes for a deployment that
never rotated.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

PASSWORD_RE = re.compile(r'^([A-Z][A-Z0-9_]*)_(RABBITMQ|KEYSTONE)_PASSWORD$')
ALTERNATE_SUFFIX = '-b'


def user_key(password_name):
    """``NOVA_RABBITMQ_PASSWORD`` -> ``NOVA_RABBITMQ_USER`` (``..._KEYSTONE_...`` alike); None for any other name."""
    match = PASSWORD_RE.match(password_name) if isinstance(password_name, str) else None
    if not match or match.group(1) in ('RABBITMQ', 'KEYSTONE'):
        return None
    return '%s_%s_USER' % (match.group(1), match.group(2))


def backend(password_name):
    """``'rabbitmq'`` or ``'keystone'``: where the user of ``password_name`` lives."""
    return PASSWORD_RE.match(password_name).group(2).lower()


def _declared(entry, password_name):
    """The catalog's own user name for ``password_name`` in ``entry``, or None."""
    messaging = (entry or {}).get('messaging') or {}
    if messaging.get('password') == password_name and messaging.get('user'):
        return messaging['user']
    user = ((entry or {}).get('keystone') or {}).get('user') or {}
    if user.get('password') == password_name and user.get('name'):
        return user['name']
    return None


def default_user(password_name, entry=None):
    """The user name a deployment that never rotated uses: the entry's own name for it, else the prefix."""
    return _declared(entry, password_name) or PASSWORD_RE.match(password_name).group(1).lower().replace('_', '-')


def alternate(base, current):
    """The other one of the two names a service alternates between."""
    return base + ALTERNATE_SUFFIX if current == base else base


def user_values(entry, credentials):
    """{``<PREFIX>_<BACKEND>_USER``: user} for every RabbitMQ or Keystone password ``entry`` declares."""
    values = {}
    for secret in entry.get('secrets') or []:
        key = user_key(secret.get('name')) if isinstance(secret, dict) else None
        if key:
            values[key] = (credentials or {}).get(key) or default_user(secret['name'], entry)
    return values


def with_current_user(entry, credentials):
    """``entry`` with ``messaging.user`` and ``keystone.user.name`` the users the credentials name.

    What the mq-init and Keystone registration Jobs create is then the user the services use.
    """
    messaging = entry.get('messaging')
    if messaging and user_key(messaging.get('password')):
        user = (credentials or {}).get(user_key(messaging['password']))
        if user and user != messaging.get('user'):
            entry = dict(entry, messaging=dict(messaging, user=user))
    keystone = entry.get('keystone') or {}
    account = keystone.get('user')
    if account and user_key(account.get('password')):
        user = (credentials or {}).get(user_key(account['password']))
        if user and user != account.get('name'):
            entry = dict(entry, keystone=dict(keystone, user=dict(account, name=user)))
    return entry
