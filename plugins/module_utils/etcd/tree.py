# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration tree, pure: validate, flatten, unflatten, render values, plan.

The tree has exactly two shapes of branch under the prefix::

    general/<KEY>                                  environment-wide values
    <node-role>/<service>/<file>/<section>/<key>   one oslo.config option

Flat keys here are *relative* to the prefix (``controller/glance/glance-api.conf/database/connection``);
the client adds ``<prefix>/``. Nothing in this file does I/O.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import is_secret_name, MASK

GENERAL = 'general'
SERVICE_DEPTH = 5
GENERAL_DEPTH = 2
GENERAL_KEY_RE = re.compile(r'^[A-Z][A-Z0-9_]*$')
# A whole value that is one reference: $NAME or ${NAME}.
REFERENCE_RE = re.compile(r'^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$')
# The password of a URL's user information (scheme://user:PASSWORD@host, and each
# ",user:PASSWORD@host" of a multi-host oslo.messaging transport_url).
URL_PASSWORD_RE = re.compile(r'(?:[A-Za-z][A-Za-z0-9+.-]*://|,)[^:@/,\s]*:([^@/,\s]*)@')
PREFIX_RE = re.compile(r'^(/[^/]+)+$')
CONTROL_RE = re.compile(r'[\x00-\x1f\x7f]')
MAX_REPORTED_ERRORS = 10


class TreeError(ValueError):
    """The tree (or prefix) is invalid. ``errors`` lists one message per offending path."""

    def __init__(self, errors, secret_values=()):
        self.errors = list(errors)
        # Plaintext values that were refused, so the caller can keep them out of every output.
        self.secret_values = [value for value in secret_values if value]
        shown = self.errors[:MAX_REPORTED_ERRORS]
        more = len(self.errors) - len(shown)
        message = '; '.join(shown)
        if more > 0:
            message += '; ... and %d more' % more
        super(TreeError, self).__init__(message)


def validate_prefix(prefix):
    """``prefix`` without a trailing slash; raises TreeError naming the fix."""
    if not isinstance(prefix, str) or not prefix:
        raise TreeError(['prefix must be a non-empty string such as /openstack'])
    normalised = prefix.rstrip('/')
    if not PREFIX_RE.match(normalised):
        raise TreeError(['prefix %r must start with "/" and have no empty segment (e.g. /openstack)' % prefix])
    return normalised


def is_reference(value):
    """True when ``value`` is exactly one ``$NAME``/``${NAME}`` reference."""
    return isinstance(value, str) and bool(REFERENCE_RE.match(value))


def render_value(value):
    """The string oslo.config reads for ``value``; raises TypeError for non-scalars.

    Booleans are ``True``/``False``, numbers their decimal form, lists comma-separated.
    """
    if isinstance(value, bool):
        return 'True' if value else 'False'
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        parts = []
        for item in value:
            if isinstance(item, (list, tuple, dict)) or item is None:
                raise TypeError('a list value may hold only strings, numbers and booleans')
            parts.append(render_value(item))
        return ','.join(parts)
    if value is None:
        raise TypeError('the value is null; write "" for an empty value')
    raise TypeError('the value is a %s, not a string, number, boolean or list of them' % type(value).__name__)


def _segment_error(segment, path):
    where = '/'.join(path + [str(segment)])
    if not isinstance(segment, str):
        return '%s: key %r is a %s; quote it so it is a string' % (where, segment, type(segment).__name__)
    if segment == '':
        return '%s: empty segment; remove it or give it a name' % ('/'.join(path + ['']) or '<root>')
    if '/' in segment:
        return '%s: segment %r contains "/"; a segment cannot hold "/" (nest it as its own level instead)' % (where, segment)
    if CONTROL_RE.search(segment):
        return '%s: segment %r contains a control character (newline, tab...); remove it' % (where, segment)
    if segment.strip() != segment:
        return '%s: segment %r has leading or trailing whitespace; remove it' % (where, segment)
    return None


def flatten(tree, check_secrets=True):
    """``tree`` as {relative key: rendered string}; raises TreeError listing every offending path.

    With ``check_secrets`` a secret-named key whose value is not a ``$VAR`` reference, and any
    secret-named general key, is refused: secrets live in the credentials Secret, not in etcd.
    """
    if not isinstance(tree, dict):
        raise TreeError(['tree must be a mapping of "general" and node roles, got %s' % type(tree).__name__])
    flat = {}
    errors = []
    refused_values = []

    def walk(node, path):
        depth = len(path)
        expected = GENERAL_DEPTH if path[0] == GENERAL else SERVICE_DEPTH
        where = '/'.join(path)
        if isinstance(node, dict):
            if depth >= expected:
                errors.append('%s: found a mapping where a value belongs (depth %d); %s' % (where, depth, _shape(path[0])))
                return
            if not node:
                errors.append('%s: empty mapping (depth %d); remove it or fill it; %s' % (where, depth, _shape(path[0])))
                return
            for segment in sorted(node, key=str):
                error = _segment_error(segment, path)
                if error:
                    errors.append(error)
                    continue
                walk(node[segment], path + [segment])
            return
        if depth < expected:
            errors.append('%s: found a value at depth %d where a mapping belongs; %s' % (where, depth, _shape(path[0])))
            return
        try:
            rendered = render_value(node)
        except TypeError as exc:
            errors.append('%s: %s' % (where, exc))
            return
        if CONTROL_RE.search(rendered):
            errors.append('%s: the value contains a control character (newline, tab...); INI values are one line' % where)
            return
        leaf = path[-1]
        if path[0] == GENERAL and not GENERAL_KEY_RE.match(leaf):
            errors.append('%s: general keys are upper-case names (A-Z, 0-9, _) so $%s references can resolve; rename it'
                          % (where, leaf))
            return
        # A boolean cannot be a secret ("send_service_user_token: true").
        if check_secrets and is_secret_name(leaf) and not isinstance(node, bool):
            if path[0] == GENERAL:
                refused_values.append(rendered)
                errors.append('%s: general keys hold no secrets; keep %s in the credentials Secret and reference '
                              'it as $%s' % (where, leaf, leaf))
                return
            if rendered != '' and not is_reference(rendered):
                refused_values.append(rendered)
                if isinstance(node, (list, tuple)):
                    refused_values.extend(render_value(item) for item in node)
                errors.append('%s: refusing to store a plaintext secret in etcd; set it to a reference such as '
                              '$%s and keep the value in the credentials Secret' % (where, _suggest_reference(path)))
                return
        if check_secrets and not isinstance(node, bool):
            # A URL carrying a literal password (database connection, transport_url) is a secret too.
            literal = [password for password in URL_PASSWORD_RE.findall(rendered) if password and not is_reference(password)]
            if literal:
                refused_values.extend(literal)
                errors.append('%s: refusing to store a URL with a plaintext password in etcd; write the password as '
                              'a reference such as $%s and keep the value in the credentials Secret'
                              % (where, _suggest_url_reference(path)))
                return
        flat[where] = rendered

    for top in sorted(tree, key=str):
        error = _segment_error(top, [])
        if error:
            errors.append(error)
            continue
        walk(tree[top], [top])
    if errors:
        raise TreeError(errors, secret_values=refused_values)
    return flat


def _shape(top):
    if top == GENERAL:
        return 'general values are general/<KEY>: value (2 levels)'
    return 'service options are <node-role>/<service>/<file>/<section>/<key>: value (5 levels)'


def _suggest_reference(path):
    service = path[1] if len(path) > 1 else ''
    return re.sub(r'[^A-Z0-9_]', '_', ('%s_%s' % (service, path[-1])).upper())


def _suggest_url_reference(path):
    if path[0] == GENERAL:
        return '<CREDENTIAL_NAME>'
    service = re.sub(r'[^A-Z0-9_]', '_', path[1].upper())
    kind = {'connection': 'DB', 'transport_url': 'RABBITMQ'}.get(path[-1])
    return '%s_%s_PASSWORD' % (service, kind) if kind else '%s_..._PASSWORD' % service


def unflatten(flat):
    """{relative key: value} back to the nested tree."""
    tree = {}
    for key in sorted(flat):
        node = tree
        parts = key.split('/')
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                # A value and a subtree share a name (only possible for keys written by hand).
                child = node[part] = {'': child}
            node = child
        node[parts[-1]] = flat[key]
    return tree


class Plan(object):
    """What to write: ``puts`` {key: value} (added + updated), ``deletes`` [key], and the before values."""

    def __init__(self, added, updated, removed, before, after):
        self.added = added
        self.updated = updated
        self.removed = removed
        self.before = before
        self.after = after

    @property
    def puts(self):
        return dict((key, self.after[key]) for key in self.added + self.updated)

    @property
    def deletes(self):
        return list(self.removed)

    @property
    def changed(self):
        return bool(self.added or self.updated or self.removed)

    def diff(self):
        """Before/after of the changed keys only, secret-named values masked."""
        keys = self.added + self.updated + self.removed
        before = dict((k, _masked(k, self.before[k])) for k in keys if k in self.before)
        after = dict((k, _masked(k, self.after[k])) for k in keys if k in self.after)
        return dict(before=before, after=after)


def _masked(key, value):
    if is_secret_name(key) and not is_reference(value) and value != '':
        return MASK
    return value


def plan(desired, current, prune=False, state='present', remove_all=False):
    """Compare ``desired`` {key: value} with ``current`` {key: value} (both relative).

    present: put new and changed keys; with ``prune`` also delete current keys not desired.
    absent: delete the desired keys that exist (every current key when ``remove_all``).
    """
    if state == 'absent':
        removed = sorted(current) if remove_all else sorted(k for k in desired if k in current)
        return Plan([], [], removed, dict(current), dict((k, v) for k, v in current.items() if k not in removed))
    added = sorted(k for k in desired if k not in current)
    updated = sorted(k for k in desired if k in current and current[k] != desired[k])
    removed = sorted(k for k in current if k not in desired) if prune else []
    after = dict(current)
    after.update(desired)
    for key in removed:
        after.pop(key, None)
    return Plan(added, updated, removed, dict(current), after)
