# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the two places a Galera member keeps its position.

``grastate.dat`` (written by the Galera provider in the data directory)::

    # GALERA saved state
    version: 2.1
    uuid:    9831284b-e76b-11f1-9982-5f25257f8ea1
    seqno:   -1
    safe_to_bootstrap: 0

and the line ``mariadbd --wsrep-recover`` logs (``WSREP: Recovered position: UUID:SEQNO``),
which the start script reduces to ``UUID:SEQNO``. Pure functions; errors raise
:class:`GrastateError` with the offending text.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

ZERO_UUID = '00000000-0000-0000-0000-000000000000'
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
POSITION_RE = re.compile(r'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(-?[0-9]+)')


class GrastateError(ValueError):
    """A grastate.dat or a recovered position that cannot be understood."""


def parse_grastate(text):
    """Return ``{'version', 'uuid', 'seqno', 'safe_to_bootstrap'}`` from grastate.dat text.

    ``safe_to_bootstrap`` is None for files written before the field existed (version 2.0).
    """
    fields = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        key, sep, value = line.partition(':')
        if not sep:
            raise GrastateError('grastate.dat: line %r is not "key: value"' % raw)
        fields[key.strip()] = value.strip()
    missing = [k for k in ('uuid', 'seqno') if k not in fields]
    if missing:
        raise GrastateError('grastate.dat: missing %s in %r' % (', '.join(missing), text))
    uuid = fields['uuid'].lower()
    if not UUID_RE.match(uuid):
        raise GrastateError('grastate.dat: uuid %r is not a UUID' % fields['uuid'])
    try:
        seqno = int(fields['seqno'])
    except ValueError:
        raise GrastateError('grastate.dat: seqno %r is not an integer' % fields['seqno'])
    if seqno < -1:
        raise GrastateError('grastate.dat: seqno %d is below -1' % seqno)
    safe = fields.get('safe_to_bootstrap')
    if safe is not None:
        if safe not in ('0', '1'):
            raise GrastateError('grastate.dat: safe_to_bootstrap %r is neither 0 nor 1' % safe)
        safe = int(safe)
    return {'version': fields.get('version'), 'uuid': uuid, 'seqno': seqno, 'safe_to_bootstrap': safe}


def parse_position(text):
    """Return ``{'uuid', 'seqno'}`` from the last ``UUID:SEQNO`` in ``text`` (recover output)."""
    matches = POSITION_RE.findall(text.lower())
    if not matches:
        raise GrastateError('no UUID:SEQNO position in %r' % text.strip()[-300:])
    uuid, seqno = matches[-1]
    return {'uuid': uuid, 'seqno': int(seqno)}
