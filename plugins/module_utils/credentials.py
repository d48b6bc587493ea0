# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment's credentials: one Kubernetes Secret, filled once, never silently rotated.

Pure part: validate the request, generate values with the operating system's CSPRNG
(:mod:`secrets`), plan which keys to create, keep or rotate. I/O part
(:func:`ensure_credentials`): read the Secret, then create it or merge-patch only the new
keys, guarded by the resourceVersion that was read, re-planning after a conflict so a
concurrent writer's keys are kept, never overwritten. Results carry key NAMES only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import re
import secrets
import string

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK

MIN_LENGTH = 32
DEFAULT_LENGTH = 32
NAME_RE = re.compile(r'^[A-Z][A-Z0-9_]*$')
# Letters and digits only: safe inside URLs (mysql+pymysql://user:PASSWORD@host), INI files,
# shell and $VAR substitution, with log2(62) = 5.95 bits per character (>= 190 bits at 32).
PASSWORD_ALPHABET = string.ascii_letters + string.digits
URLSAFE_ALPHABET = PASSWORD_ALPHABET + '-_'
# The catalog's types (password, fernet_key, erlang_cookie, hex_key) plus urlsafe and hex.
SECRET_TYPES = ('password', 'urlsafe', 'hex', 'hex_key', 'fernet_key', 'erlang_cookie')
MANAGED_LABELS = {
    'app.kubernetes.io/managed-by': 'openstack_k8s.deploy',
    'app.kubernetes.io/part-of': 'openstack',
    'app.kubernetes.io/name': 'credentials',
    'app.kubernetes.io/component': 'credentials',
}
CONFLICT_RETRIES = 3


class CredentialsError(ValueError):
    """Bad input or an unsafe situation; the message names the field and the fix (never a value)."""


def generate(secret_type, length=DEFAULT_LENGTH, rng=None):
    """A new secret value of ``secret_type`` from the system CSPRNG.

    ``password``: letters and digits; ``urlsafe``: letters, digits, ``-`` and ``_``;
    ``hex``/``hex_key``: lower-case hex digits (Heat's auth_encryption_key is AES: keep 32);
    ``erlang_cookie``: upper-case letters, the form RabbitMQ generates itself;
    ``fernet_key``: 32 random bytes, urlsafe base64 (44 characters, the format Keystone and
    cryptography.fernet read; ``length`` is ignored).
    """
    rng = rng or secrets.SystemRandom()
    if secret_type == 'fernet_key':
        return base64.urlsafe_b64encode(bytes(bytearray(rng.getrandbits(8) for _index in range(32)))).decode('ascii')
    if length < MIN_LENGTH:
        raise CredentialsError('length must be at least %d, got %d' % (MIN_LENGTH, length))
    alphabet = {'password': PASSWORD_ALPHABET, 'urlsafe': URLSAFE_ALPHABET, 'hex': '0123456789abcdef',
                'hex_key': '0123456789abcdef', 'erlang_cookie': string.ascii_uppercase}.get(secret_type)
    if alphabet is None:
        raise CredentialsError('unknown secret type %r; use one of %s' % (secret_type, ', '.join(SECRET_TYPES)))
    return ''.join(rng.choice(alphabet) for _index in range(length))


def normalise_requests(requested, pinned=None, rotate=None):
    """Validate the options; returns ({name: (type, length)}, pinned, rotate). Raises CredentialsError."""
    pinned = pinned or {}
    rotate = list(rotate or [])
    errors = []
    wanted = {}
    for index, item in enumerate(requested or []):
        where = 'secrets[%d]' % index
        if not isinstance(item, dict):
            errors.append('%s must be a mapping with name and type' % where)
            continue
        name = item.get('name')
        secret_type = item.get('type') or 'password'
        length = item.get('length') or DEFAULT_LENGTH
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append('%s.name %r must be an upper-case name (A-Z, 0-9, _) such as GLANCE_DB_PASSWORD' % (where, name))
            continue
        if secret_type not in SECRET_TYPES:
            errors.append('%s (%s).type %r is unknown; use one of %s' % (where, name, secret_type, ', '.join(SECRET_TYPES)))
            continue
        try:
            length = int(length)
        except (TypeError, ValueError):
            errors.append('%s (%s).length must be an integer' % (where, name))
            continue
        if length < MIN_LENGTH:
            errors.append('%s (%s).length is %d; secrets are at least %d characters' % (where, name, length, MIN_LENGTH))
            continue
        if name in wanted and wanted[name] != (secret_type, length):
            errors.append('%s (%s) is requested twice with different type/length (%s/%d and %s/%d); keep one'
                          % (where, name, wanted[name][0], wanted[name][1], secret_type, length))
            continue
        wanted[name] = (secret_type, length)
    if not isinstance(pinned, dict):
        errors.append('pinned must be a mapping of NAME: value')
        pinned = {}
    for name, value in sorted(pinned.items()):
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append('pinned name %r must be an upper-case name (A-Z, 0-9, _)' % (name,))
        elif not isinstance(value, str) or not value:
            errors.append('pinned %s must be a non-empty string' % name)
        elif '$' in value or re.search(r'[\x00-\x1f\x7f]', value):
            errors.append('pinned %s contains "$" or a control character, which config rendering would alter; '
                          'choose another value' % name)
    for name in rotate:
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append('rotate entry %r must be an upper-case name (A-Z, 0-9, _)' % (name,))
    if errors:
        raise CredentialsError('; '.join(errors))
    return wanted, dict(pinned), rotate


def plan(existing, wanted, pinned, rotate, rng=None):
    """What to write into a Secret whose decoded data is ``existing`` ({name: value}).

    Returns dict(created=[names], kept=[names], rotated=[names], writes={name: value}).
    Existing keys are kept, except names in ``rotate``. A pinned value that differs from an
    existing one is refused (it would be a silent rotation) unless the name is in ``rotate``.
    """
    names = sorted(set(wanted) | set(pinned) | set(rotate))
    created, kept, rotated, writes = [], [], [], {}
    conflicts = []
    for name in names:
        secret_type, length = wanted.get(name, ('password', DEFAULT_LENGTH))
        if name in existing and name not in rotate:
            if name in pinned and pinned[name] != existing[name]:
                conflicts.append(name)
                continue
            kept.append(name)
            continue
        value = pinned[name] if name in pinned else generate(secret_type, length, rng)
        if name in existing:
            if value == existing[name]:
                kept.append(name)
                continue
            rotated.append(name)
        else:
            created.append(name)
        writes[name] = value
    if conflicts:
        raise CredentialsError('pinned value of %s differs from the one already in the Secret; existing credentials are '
                               'never overwritten. To replace it, add it to rotate (the day-2 rotation playbook does); '
                               'otherwise remove the pin or set it to the current value' % ', '.join(conflicts))
    return dict(created=created, kept=kept, rotated=rotated, writes=writes)


def decode_data(secret):
    """{name: str value} from a Secret dict (``data`` base64, ``stringData`` as is)."""
    data = {}
    for name, value in ((secret or {}).get('data') or {}).items():
        data[name] = base64.b64decode(value).decode('utf-8', 'replace') if value is not None else ''
    return data


def encode_data(values):
    return dict((name, base64.b64encode(value.encode('utf-8')).decode('ascii')) for name, value in values.items())


def masked_view(names):
    return dict((name, MASK) for name in sorted(names))


def ensure_namespace(client, namespace, check_mode=False):
    """Create ``namespace`` (labelled as ours) when it is missing; True when it was (or would be) created."""
    if client.get('v1', 'Namespace', namespace) is not None:
        return False
    if not check_mode:
        labels = dict(MANAGED_LABELS)
        labels['app.kubernetes.io/name'] = labels['app.kubernetes.io/component'] = 'namespace'
        try:
            client.create(dict(apiVersion='v1', kind='Namespace', metadata=dict(name=namespace, labels=labels)),
                          field_manager='openstack-k8s-deploy')
        except K8sError as exc:
            if exc.status != 409:  # created meanwhile by someone else: fine
                raise _explain(exc, namespace, namespace)
    return True


def ensure_credentials(client, name, namespace, wanted, pinned, rotate, check_mode=False, state='present', rng=None):
    """Make the Secret hold every wanted key; returns the result dict (names only).

    ``client`` is a :class:`..k8s.client.K8sClient`. A conflict (409) on create or patch
    means someone else wrote the Secret since we read it: read again and re-plan, so their
    keys are kept, up to CONFLICT_RETRIES times.
    """
    attempts = 0
    while True:
        attempts += 1
        current = client.get('v1', 'Secret', name, namespace)
        existing = decode_data(current)
        if state == 'absent':
            return _remove(client, current, name, namespace, existing, wanted, pinned, check_mode)
        steps = plan(existing, wanted, pinned, rotate, rng)
        result = dict(changed=bool(steps['writes']), created=steps['created'], kept=steps['kept'],
                      rotated=steps['rotated'], removed=[], secret=dict(name=name, namespace=namespace),
                      diff=dict(before=masked_view(existing), after=masked_view(set(existing) | set(steps['writes']))))
        if not steps['writes'] or check_mode:
            return result
        try:
            if current is None:
                body = dict(apiVersion='v1', kind='Secret', type='Opaque',
                            metadata=dict(name=name, namespace=namespace, labels=dict(MANAGED_LABELS)),
                            data=encode_data(steps['writes']))
                client.create(body, field_manager='openstack-k8s-deploy')
            else:
                patch = dict(metadata=dict(resourceVersion=current['metadata']['resourceVersion']),
                             data=encode_data(steps['writes']))
                client.patch('v1', 'Secret', name, patch, namespace=namespace, field_manager='openstack-k8s-deploy')
        except K8sError as exc:
            if exc.status == 409 and attempts <= CONFLICT_RETRIES:
                continue
            raise _explain(exc, name, namespace)
        return result


def _remove(client, current, name, namespace, existing, wanted, pinned, check_mode):
    names = sorted(set(wanted) | set(pinned))
    removing = sorted(n for n in names if n in existing) if names else sorted(existing)
    result = dict(changed=current is not None and (bool(removing) or not names), created=[], kept=[], rotated=[],
                  removed=removing, secret=dict(name=name, namespace=namespace),
                  diff=dict(before=masked_view(existing),
                            after=masked_view(set(existing) - set(removing)) if names else {}))
    if current is None or check_mode or not result['changed']:
        return result
    try:
        if names:
            patch = dict(metadata=dict(resourceVersion=current['metadata']['resourceVersion']),
                         data=dict((n, None) for n in removing))
            client.patch('v1', 'Secret', name, patch, namespace=namespace, field_manager='openstack-k8s-deploy')
        else:
            client.delete('v1', 'Secret', name, namespace)
    except K8sError as exc:
        raise _explain(exc, name, namespace)
    return result


def _explain(exc, name, namespace):
    if exc.status == 404:
        return CredentialsError('namespace %s does not exist; create it before the credentials Secret %s'
                                % (namespace, name))
    if exc.status == 409:
        return CredentialsError('Secret %s/%s kept changing under concurrent writers (%d conflicts); re-run'
                                % (namespace, name, CONFLICT_RETRIES + 1))
    if exc.status == 403:
        return CredentialsError('not allowed to write Secret %s/%s (%s); grant get/create/patch on secrets in %s'
                                % (namespace, name, exc.message, namespace))
    return CredentialsError('Secret %s/%s: %s (HTTP %s)' % (namespace, name, exc.message, exc.status))
