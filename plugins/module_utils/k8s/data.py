# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting the data volumes of removed services (``destroy.yml`` with data deletion confirmed).

PersistentVolumeClaims are never pruned by a rollout (:data:`prune.NEVER_PRUNED`): deleting
one deletes a database. This is the one deliberate path that does, and it refuses while any
workload of the same services still exists, so a claim is never pulled from under a running
MariaDB or RabbitMQ: remove the services first (``k8s_openstack_service`` with ``state=absent``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import prune
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError

WORKLOAD_KINDS = (('apps/v1', 'StatefulSet'), ('apps/v1', 'Deployment'), ('apps/v1', 'DaemonSet'),
                  ('batch/v1', 'Job'), ('batch/v1', 'CronJob'))
CLAIM = ('v1', 'PersistentVolumeClaim')


class DataError(Exception):
    """A refusal: the message names what is in the way and what to do."""


def _selector(services):
    if services:
        return prune.services_selector(services)
    return '%s=%s' % (prune.MANAGED_BY, prune.MANAGED_BY_VALUE)


def _list(client, api_version, kind, namespace, selector):
    try:
        items, _version = client.list(api_version, kind, namespace=namespace, label_selector=selector)
    except K8sError as exc:
        if exc.status == 404:
            return []
        raise
    return items


def _owned(obj, services):
    labels = (obj.get('metadata') or {}).get('labels') or {}
    if labels.get(prune.MANAGED_BY) != prune.MANAGED_BY_VALUE:
        return False
    return not services or labels.get(prune.NAME_LABEL) in services


def claims(client, namespace, services=None):
    """The claims labelled as the collection's (of ``services`` when given), sorted by name."""
    found = [obj for obj in _list(client, CLAIM[0], CLAIM[1], namespace, _selector(services))
             if _owned(obj, services)]
    return sorted(found, key=lambda obj: obj['metadata']['name'])


def workloads_in_the_way(client, namespace, services=None):
    """``Kind/name`` of every workload of the same services that still exists."""
    selector = _selector(services)
    blocking = []
    for api_version, kind in WORKLOAD_KINDS:
        for obj in _list(client, api_version, kind, namespace, selector):
            if _owned(obj, services):
                blocking.append('%s/%s' % (kind, obj['metadata']['name']))
    return sorted(blocking)


def remove_claims(client, namespace, services=None, check_mode=False):
    """Delete the claims; refuse before any delete while a workload of the services exists.

    In check mode existing workloads are a warning, not a refusal: the preview of a
    ``destroy.yml`` run sees the workloads its earlier tasks would have removed.

    :returns: ``{'changed', 'removed': [names], 'before': [names], 'warnings': [text]}``.
    :raises DataError: workloads still exist (not in check mode).
    """
    warnings = []
    blocking = workloads_in_the_way(client, namespace, services)
    if blocking and check_mode:
        warnings.append('the workloads %s still exist in namespace %s; a real run deletes the data only once '
                        'they are removed' % (', '.join(blocking), namespace))
    elif blocking:
        raise DataError('the workloads %s still exist in namespace %s; remove the services first '
                        '(destroy.yml does, in order), then delete their data'
                        % (', '.join(blocking), namespace))
    present = claims(client, namespace, services)
    names = [obj['metadata']['name'] for obj in present]
    doomed = [name for obj, name in zip(present, names) if not obj['metadata'].get('deletionTimestamp')]
    if not check_mode:
        for name in doomed:
            try:
                client.delete(CLAIM[0], CLAIM[1], name, namespace=namespace)
            except K8sError as exc:
                if exc.status != 404:
                    raise
    return {'changed': bool(doomed), 'removed': doomed, 'before': names, 'warnings': warnings}
