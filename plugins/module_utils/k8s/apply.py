# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply of one object, sent only when it would change something.

Deciding is pure (:func:`plan_object`): the desired manifest carries an annotation with
the checksum of everything we send; an object is left alone when the live copy carries
the same checksum (so the set of fields we own is unchanged) AND still holds every value
we send (so nobody changed them since). Anything else is applied with our one field
manager; check mode sends the same request with ``dryRun=All``. A second run over an
unchanged deployment therefore makes reads only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy
import hashlib
import json
import re
import time
from decimal import Decimal, InvalidOperation

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError

FIELD_MANAGER = 'openstack-k8s-deploy'
APPLIED_CHECKSUM = 'openstack-k8s.io/applied-checksum'

CREATE = 'create'
UPDATE = 'update'
NOOP = 'noop'
RECREATE = 'recreate'

# Keys that identify the elements of a list the API server merges by key (list-map
# semantics in SSA and strategic merge); tried in order on lists of dicts.
_LIST_MAP_KEYS = ('name', 'mountPath', 'devicePath', 'containerPort', 'port', 'ip', 'type', 'key')
# Kinds whose spec is immutable once created: a change means delete + create.
IMMUTABLE_SPEC_KINDS = ('Job',)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(',', ':'), default=str)


def checksum(obj):
    return hashlib.sha256(canonical(obj).encode('utf-8')).hexdigest()


def normalize(manifest):
    """The manifest as we send it: Secret stringData folded into data, checksum annotated."""
    desired = copy.deepcopy(manifest)
    if desired.get('kind') == 'Secret' and desired.get('stringData'):
        data = desired.setdefault('data', {}) or {}
        for key, value in desired.pop('stringData').items():
            data[key] = base64.b64encode(str(value).encode('utf-8')).decode('ascii')
        desired['data'] = data
    meta = desired.setdefault('metadata', {})
    annotations = dict(meta.get('annotations') or {})
    annotations.pop(APPLIED_CHECKSUM, None)
    if annotations:
        meta['annotations'] = annotations
    else:
        meta.pop('annotations', None)
    digest = checksum(desired)
    meta.setdefault('annotations', {})[APPLIED_CHECKSUM] = digest
    return desired


_QUANTITY_RE = re.compile(r'^([+-]?[0-9.]+)([eEinumkKMGTP]*)$')
_SUFFIX = {'': 1, 'n': Decimal('1e-9'), 'u': Decimal('1e-6'), 'm': Decimal('1e-3'), 'k': 10 ** 3, 'M': 10 ** 6, 'G': 10 ** 9,
           'T': 10 ** 12, 'P': 10 ** 15, 'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50}


def _quantity(value):
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    match = _QUANTITY_RE.match(str(value))
    if not match or match.group(2) not in _SUFFIX:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        return None


def _scalar_equal(want, have, path):
    if want == have and type(want) is type(have):
        return True
    if any(part in ('limits', 'requests', 'capacity') for part in path):
        a, b = _quantity(want), _quantity(have)
        return a is not None and a == b
    # Numbers survive JSON round trips as int or float (1 vs 1.0).
    if isinstance(want, (int, float)) and isinstance(have, (int, float)) and not isinstance(want, bool) and not isinstance(have, bool):
        return want == have
    return False


def _list_key(items):
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in _LIST_MAP_KEYS:
        values = [item.get(key) for item in items]
        if all(v is not None for v in values) and len(set(canonical(v) for v in values)) == len(values):
            return key
    return None


def differences(want, have, path=()):
    """Paths where ``have`` lacks a value of ``want`` (extra fields in ``have`` are defaults
    or other managers' and do not count). Empty/None values in ``want`` match absence."""
    if want is None or want == {} or want == []:
        # The API server drops empty values (omitempty) and nulls; they cannot drift.
        return []
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return ['.'.join(path) or '.']
        found = []
        for key, value in want.items():
            found.extend(differences(value, have.get(key), path + (str(key),)))
        return found
    if isinstance(want, list):
        if not isinstance(have, list):
            return ['.'.join(path)]
        key = _list_key(want)
        if key and _list_key(have) == key:
            by_key = dict((canonical(item.get(key)), item) for item in have)
            found = []
            for item in want:
                match = by_key.get(canonical(item.get(key)))
                label = '%s[%s=%s]' % ('.'.join(path), key, item.get(key))
                found.extend(differences(item, match, (label,)) if match is not None else [label])
            return found
        if len(want) != len(have):
            return ['.'.join(path)]
        found = []
        for index, (w_item, h_item) in enumerate(zip(want, have)):
            found.extend(differences(w_item, h_item, ('%s[%d]' % ('.'.join(path), index),)))
        return found
    return [] if _scalar_equal(want, have, path) else ['.'.join(path) or '.']


def _annotation(obj, name):
    return (((obj or {}).get('metadata') or {}).get('annotations') or {}).get(name)


def _owned_by(obj, manager):
    return any(entry.get('manager') == manager and entry.get('operation') == 'Apply'
               for entry in ((obj or {}).get('metadata') or {}).get('managedFields') or [])


def plan_object(desired, live, manager=FIELD_MANAGER):
    """(action, reason) for one normalized desired manifest against the live object (or None)."""
    if live is None:
        return CREATE, 'does not exist'
    if ((live.get('metadata') or {}).get('deletionTimestamp')):
        return RECREATE, 'is being deleted'
    drift = [path for path in differences(desired, live) if not path.endswith(APPLIED_CHECKSUM)]
    if _annotation(live, APPLIED_CHECKSUM) == _annotation(desired, APPLIED_CHECKSUM) and not drift and _owned_by(live, manager):
        return NOOP, 'up to date'
    if desired.get('kind') in IMMUTABLE_SPEC_KINDS and differences(desired.get('spec'), live.get('spec')):
        return RECREATE, 'immutable spec changed: %s' % ', '.join(differences(desired.get('spec'), live.get('spec'), ('spec',))[:5])
    if drift:
        return UPDATE, 'differs at %s' % ', '.join(drift[:5])
    if not _owned_by(live, manager):
        return UPDATE, 'not yet managed by %s' % manager
    return UPDATE, 'fields we send changed'


class ApplyConflict(Exception):
    """Another field manager owns fields we want to set."""

    def __init__(self, ref, conflicts, message):
        super(ApplyConflict, self).__init__(message)
        self.ref = ref
        self.conflicts = conflicts
        self.message = message


_CONFLICT_RE = re.compile(r'conflict with "([^"]+)"')


def parse_conflicts(error):
    """[{'manager', 'field', 'message'}] from a 409 apply error's causes."""
    conflicts = []
    for cause in error.causes:
        if cause.get('reason') not in (None, 'FieldManagerConflict'):
            continue
        match = _CONFLICT_RE.search(cause.get('message') or '')
        conflicts.append(dict(manager=match.group(1) if match else None, field=cause.get('field'), message=cause.get('message')))
    if not conflicts:
        for match in _CONFLICT_RE.finditer(error.message or ''):
            conflicts.append(dict(manager=match.group(1), field=None, message=error.message))
    return conflicts


def object_ref(obj):
    meta = obj.get('metadata') or {}
    return dict(apiVersion=obj['apiVersion'], kind=obj['kind'], name=meta.get('name'), namespace=meta.get('namespace'))


def ref_label(ref):
    return '%s %s%s' % (ref['kind'], (ref['namespace'] + '/') if ref.get('namespace') else '', ref['name'])


def project(live, shape):
    """The parts of ``live`` that ``shape`` mentions (for readable diffs)."""
    if isinstance(shape, dict) and isinstance(live, dict):
        return dict((k, project(live.get(k), v)) for k, v in shape.items() if k in live)
    if isinstance(shape, list) and isinstance(live, list):
        key = _list_key(shape)
        if key and _list_key(live) == key:
            wanted = dict((canonical(item.get(key)), item) for item in shape)
            return [project(item, wanted.get(canonical(item.get(key)), item)) for item in live]
        return [project(item, shape[i] if i < len(shape) else item) for i, item in enumerate(live)]
    return live


class Applier(object):
    """Applies normalized manifests through a :class:`K8sClient`; returns a record per object."""

    def __init__(self, client, check_mode=False, manager=FIELD_MANAGER, force=False, clock=time.monotonic):
        self.client = client
        self.check_mode = check_mode
        self.manager = manager
        self.force = force
        self.clock = clock

    def apply(self, desired, live=None, live_known=False):
        ref = object_ref(desired)
        if not live_known:
            live = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'))
        action, reason = plan_object(desired, live, self.manager)
        record = dict(ref, action=action, reason=reason, changed=action != NOOP)
        before = project(live, desired) if live is not None else None
        if action == NOOP:
            record.update(result=live, before=before, after=before)
            return record
        if action == RECREATE:
            self.client.delete(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'),
                               propagation_policy='Background', dry_run=self.check_mode)
            if not self.check_mode:
                self._wait_gone(ref)
        try:
            if action == RECREATE and self.check_mode:
                # The dry-run delete persisted nothing; an apply now would hit the old spec.
                result = desired
            else:
                result = self.client.apply(desired, self.manager, force=self.force, dry_run=self.check_mode)
        except K8sError as exc:
            if self.check_mode and exc.status == 404:
                # A dry run into a namespace that a skipped (check mode) step would have made.
                record.update(result=desired, before=before, after=desired, reason=record['reason'] + '; namespace not there yet')
                return record
            if exc.status == 409:
                conflicts = parse_conflicts(exc)
                fields = ', '.join('%s (owned by %s)' % (c['field'] or '?', c['manager'] or '?') for c in conflicts)
                raise ApplyConflict(ref, conflicts, '%s: server-side apply conflict on %s; another field manager changed '
                                    'fields %s manages. Remove that manager\'s change or let %s take the fields back '
                                    '(force_conflicts: true).' % (ref_label(ref), fields or exc.message, self.manager, self.manager))
            raise
        record.update(result=result, before=before, after=project(result, desired) if result else desired)
        return record

    def _wait_gone(self, ref, timeout=60):
        """A deleted Job may linger with finalizers; follow its watch until it is gone.

        A watch that ends early (cut, expired) is followed by a fresh read and a new watch,
        until ``timeout`` seconds have passed.
        """
        deadline = self.clock() + timeout
        live = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'))
        while live is not None:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise K8sError('%s was deleted for re-creation but still exists after %ds (finalizers: %s)'
                               % (ref_label(ref), timeout, (live.get('metadata') or {}).get('finalizers')))
            version = (live.get('metadata') or {}).get('resourceVersion')
            for event_type, _obj in self.client.watch(ref['apiVersion'], ref['kind'], namespace=ref.get('namespace'),
                                                      name=ref['name'], resource_version=version,
                                                      timeout=max(1, int(remaining + 0.999))):
                if event_type == 'DELETED':
                    return
            live = self.client.get(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'))

    def delete(self, ref):
        gone = self.client.delete(ref['apiVersion'], ref['kind'], ref['name'], ref.get('namespace'),
                                  propagation_policy='Background', dry_run=self.check_mode)
        return dict(ref, action='delete', changed=gone, reason='no longer rendered')
