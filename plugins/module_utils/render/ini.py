# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render ``{file: {section: {key: value}}}`` trees to config file text, deterministically.

Values may refer to general keys and credential names as ``$NAME`` or ``${NAME}``
(upper-case only: lower-case ``$state_path`` belongs to oslo.config's own interpolation
and is left alone; ``$$`` is a literal dollar). An unresolved reference fails, naming
file, section, key and variable, never a value.

Formats (the catalog's ``config_formats``):

* ``oslo`` (default): INI for oslo.config. ``[DEFAULT]`` first, then sections and keys
  sorted. Substituted values have ``$`` doubled, because oslo.config would otherwise
  interpolate a ``$`` inside a generated password.
* ``ini``: the same layout, values inserted verbatim (my.cnf).
* ``dotted``: ``section.key = value`` lines (rabbitmq.conf); keys of ``DEFAULT`` bare.
* ``python``: Python settings (Horizon's local_settings): ``DEFAULT`` keys become
  ``KEY = <literal>``, any other section ``SECTION = {key: <literal>, ...}``; strings
  are substituted first, then written as Python literals.

``keep`` names variables left as ``$NAME`` in the output: rendering without a cluster
keeps every credential as a placeholder, so no real secret reaches the disk.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

FORMATS = ('oslo', 'ini', 'dotted', 'python')
_REF_RE = re.compile(r'\$\$|\$\{([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)')


class RenderError(Exception):
    """A config tree that cannot be rendered; the message names where and why."""


def format_value(value, where='value'):
    """One option value as text: booleans lower-case, lists comma-joined, no newlines."""
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    elif isinstance(value, (list, tuple)):
        text = ','.join(format_value(item, where) for item in value)
    elif value is None:
        text = ''
    elif isinstance(value, dict):
        raise RenderError('%s: a mapping is not an option value; nest it as a section instead' % where)
    else:
        text = str(value)
    if '\n' in text or '\r' in text:
        raise RenderError('%s: option values must be one line' % where)
    return text


def substitute(text, values, where='value', keep=(), escape_dollar=False):
    """``text`` with every ``$NAME``/``${NAME}`` replaced from ``values``.

    Names in ``keep`` stay as ``$NAME``. ``$$`` stays ``$$`` (oslo.config reads it as
    one dollar). A missing name raises :class:`RenderError` naming ``where`` and it.
    """
    if not isinstance(text, str) or '$' not in text:
        return text

    def replace(match):
        if match.group(0) == '$$':
            return '$$'
        name = match.group(1) or match.group(2)
        if name in keep:
            return '$' + name
        if name not in values or values[name] is None:
            raise RenderError('%s: $%s is not defined; add it to the general values (openstack_config_overrides '
                              'general) or to the credentials (the service\'s secrets list)' % (where, name))
        value = format_value(values[name], '%s: $%s' % (where, name))
        return value.replace('$', '$$') if escape_dollar else value

    return _REF_RE.sub(replace, text)


def resolve_values(values):
    """General values with their own ``$NAME`` references resolved (``KEYSTONE_PUBLIC_URL: http://keystone.$PUBLIC_DOMAIN``)."""
    resolved = {}
    visiting = []

    def resolve(name):
        if name in resolved:
            return resolved[name]
        if name in visiting:
            raise RenderError('general values refer to each other in a cycle: %s'
                              % ' -> '.join(visiting[visiting.index(name):] + [name]))
        visiting.append(name)
        raw = values[name]
        if isinstance(raw, str) and '$' in raw:
            for ref in set(m.group(1) or m.group(2) for m in _REF_RE.finditer(raw) if m.group(0) != '$$'):
                if ref in values:
                    resolve(ref)
            raw = substitute(raw, dict(values, **resolved), 'general value %s' % name)
        visiting.pop()
        resolved[name] = raw
        return raw

    for key in sorted(values):
        resolve(key)
    return resolved


def _ordered_sections(sections):
    names = sorted(sections, key=str)
    if 'DEFAULT' in sections:
        names.remove('DEFAULT')
        names.insert(0, 'DEFAULT')
    return names


def _python_literal(value, values, where, keep):
    if isinstance(value, str):
        return repr(substitute(value, values, where, keep))
    if isinstance(value, (list, tuple)):
        return '[%s]' % ', '.join(_python_literal(item, values, where, keep) for item in value)
    if isinstance(value, dict):
        return '{%s}' % ', '.join('%r: %s' % (str(k), _python_literal(value[k], values, where, keep))
                                  for k in sorted(value, key=str))
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise RenderError('%s: %r cannot be written as a Python literal' % (where, value))


def _render_python(sections, values, filename, keep):
    lines = ['# Rendered by openstack_k8s.deploy from the config tree; do not edit.']
    for section in _ordered_sections(sections):
        options = sections[section] or {}
        if not isinstance(options, dict):
            raise RenderError('%s [%s]: must be {key: value}' % (filename, section))
        if section == 'DEFAULT':
            for key in sorted(options, key=str):
                lines.append('%s = %s' % (key, _python_literal(options[key], values,
                                                               '%s [%s] %s' % (filename, section, key), keep)))
        else:
            lines.append('%s = %s' % (section, _python_literal(options, values, '%s [%s]' % (filename, section), keep)))
    return '\n'.join(lines) + '\n'


def render_file(sections, values, filename='file', keep=(), fmt='oslo'):
    """Text of one file from ``{section: {key: value}}``."""
    if fmt not in FORMATS:
        raise RenderError('%s: unknown format %r; use one of %s' % (filename, fmt, ', '.join(FORMATS)))
    if not isinstance(sections, dict):
        raise RenderError('%s: must be {section: {key: value}}' % filename)
    if fmt == 'python':
        return _render_python(sections, values, filename, keep)
    lines = []
    for section in _ordered_sections(sections):
        options = sections[section]
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise RenderError('%s [%s]: must be {key: value}' % (filename, section))
        if fmt != 'dotted':
            if lines:
                lines.append('')
            lines.append('[%s]' % section)
        for key in sorted(options, key=str):
            if options[key] is None:
                continue
            where = '%s [%s] %s' % (filename, section, key)
            text = format_value(options[key], where)
            text = substitute(text, values, where, keep, escape_dollar=(fmt == 'oslo'))
            if fmt == 'dotted' and section != 'DEFAULT':
                lines.append('%s.%s = %s' % (section, key, text))
            else:
                lines.append('%s = %s' % (key, text))
    return '\n'.join(lines) + '\n'


def render_files(files, values, keep=(), formats=None, where=''):
    """``{file: text}`` for ``{file: {section: {key: value}}}``."""
    formats = formats or {}
    out = {}
    for filename in sorted(files):
        label = '%s%s' % (where, filename)
        out[filename] = render_file(files[filename], values, label, keep, formats.get(filename, 'oslo'))
    return out


def render_config(config, values, keep=(), formats=None, prefix=''):
    """``{node_role: {file: text}}`` for a service's ``{node_role: {file: {section: {key: value}}}}`` tree.

    ``values`` is general values and credentials merged (credentials win); general
    values may refer to each other. ``prefix`` (e.g. ``"glance: "``) starts every error.
    """
    merged = resolve_values(values)
    out = {}
    for role in sorted(config or {}):
        out[role] = render_files(config[role] or {}, merged, keep, formats, '%s%s/' % (prefix, role))
    return out


def merge_trees(base, override):
    """A copy of ``base`` with ``override`` merged in (mappings recursively; other values replaced; None deletes)."""
    result = dict(base or {})
    for key, value in (override or {}).items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_trees(result[key], value)
        else:
            result[key] = value
    return result
