# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding and removing the objects a service owned before but no longer renders.

Ownership is by labels only: every object the collection renders carries
``app.kubernetes.io/managed-by=openstack_k8s.deploy`` and ``app.kubernetes.io/name=<service>``.
:func:`plan_prune` is pure; :func:`find_owned` lists the kinds a service may own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError

MANAGED_BY = 'app.kubernetes.io/managed-by'
MANAGED_BY_VALUE = 'openstack_k8s.deploy'
NAME_LABEL = 'app.kubernetes.io/name'

# Every namespaced kind a service may own, in the order objects are deleted: consumers
# first (workloads and Jobs), then what they use (Services, RBAC, config).
OWNED_KINDS = (
    ('apps/v1', 'Deployment'),
    ('apps/v1', 'StatefulSet'),
    ('apps/v1', 'DaemonSet'),
    ('batch/v1', 'CronJob'),
    ('batch/v1', 'Job'),
    ('policy/v1', 'PodDisruptionBudget'),
    ('networking.k8s.io/v1', 'NetworkPolicy'),
    ('networking.k8s.io/v1', 'Ingress'),
    ('v1', 'Service'),
    ('rbac.authorization.k8s.io/v1', 'RoleBinding'),
    ('rbac.authorization.k8s.io/v1', 'Role'),
    ('v1', 'ServiceAccount'),
    ('v1', 'ConfigMap'),
    ('v1', 'Secret'),
    ('v1', 'PersistentVolumeClaim'),
)
# PersistentVolumeClaims hold data: listed for reports, never pruned automatically.
NEVER_PRUNED = ('PersistentVolumeClaim',)
_DELETE_ORDER = dict((kind, index) for index, (_v, kind) in enumerate(OWNED_KINDS))


def service_selector(service):
    return '%s=%s,%s=%s' % (MANAGED_BY, MANAGED_BY_VALUE, NAME_LABEL, service)


def key_of(obj):
    meta = obj.get('metadata') or {}
    return (obj.get('kind'), meta.get('namespace') or '', meta.get('name'))


def plan_prune(live_objects, rendered, service):
    """Refs of the live objects of ``service`` that ``rendered`` no longer contains, in delete order.

    An object is only a candidate when its own labels say it belongs to the service, so a
    list that ignored the selector can never make us delete someone else's object.
    """
    keep = set(key_of(obj) for obj in rendered)
    doomed = []
    for obj in live_objects:
        labels = (obj.get('metadata') or {}).get('labels') or {}
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or labels.get(NAME_LABEL) != service:
            continue
        if obj.get('kind') in NEVER_PRUNED or key_of(obj) in keep:
            continue
        if (obj.get('metadata') or {}).get('deletionTimestamp'):
            continue
        meta = obj['metadata']
        doomed.append(dict(apiVersion=obj.get('apiVersion'), kind=obj.get('kind'), name=meta.get('name'),
                           namespace=meta.get('namespace')))
    doomed.sort(key=lambda ref: (_DELETE_ORDER.get(ref['kind'], -1), ref['name']))
    return doomed


def services_selector(services):
    """One selector for the objects of several services (one list per kind for a whole wave)."""
    return '%s=%s,%s in (%s)' % (MANAGED_BY, MANAGED_BY_VALUE, NAME_LABEL, ','.join(sorted(services)))


def find_owned(client, namespace, service, kinds=OWNED_KINDS):
    """Every live object labelled as the service's (a name, or a list of names), over ``kinds``.

    Kinds the server does not serve are skipped.
    """
    selector = service_selector(service) if isinstance(service, str) else services_selector(service)
    found = []
    for api_version, kind in kinds:
        try:
            items, _version = client.list(api_version, kind, namespace=namespace, label_selector=selector)
        except K8sError as exc:
            if exc.status == 404:
                continue
            raise
        found.extend(items)
    return found
