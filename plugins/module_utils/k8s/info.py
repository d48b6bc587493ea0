# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is deployed: each service's objects, readiness, images, endpoints and config checksum.

:func:`summarize` is pure (live objects in, report out); :func:`collect` lists the objects.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.prune import (
    MANAGED_BY, MANAGED_BY_VALUE, NAME_LABEL, OWNED_KINDS)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.waiter import readiness

CONFIG_CHECKSUM = 'openstack-k8s.io/config-checksum'
COMPONENT_LABEL = 'app.kubernetes.io/component'


def _meta(obj):
    return obj.get('metadata') or {}


def _workload(obj):
    spec = obj.get('spec') or {}
    status = obj.get('status') or {}
    template = spec.get('template') or {}
    pod = template.get('spec') or {}
    if obj['kind'] == 'DaemonSet':
        desired, ready_n = status.get('desiredNumberScheduled') or 0, status.get('numberReady') or 0
    else:
        desired = 1 if spec.get('replicas') is None else spec['replicas']
        ready_n = status.get('readyReplicas') or 0
    state = readiness(obj)
    return dict(kind=obj['kind'], name=_meta(obj).get('name'), component=(_meta(obj).get('labels') or {}).get(COMPONENT_LABEL),
                desired=desired, ready=ready_n, rolled_out=state.ready, status=state.detail,
                images=sorted(set(c.get('image') for c in (pod.get('containers') or []) + (pod.get('initContainers') or [])
                                  if c.get('image'))),
                config_checksum=((template.get('metadata') or {}).get('annotations') or {}).get(CONFIG_CHECKSUM))


def _endpoints(obj, namespace, cluster_domain):
    spec = obj.get('spec') or {}
    name = _meta(obj).get('name')
    host = '%s.%s.svc.%s' % (name, namespace, cluster_domain)
    return [dict(service=name, port_name=port.get('name'), port=port.get('port'), host=host,
                 url='%s:%s' % (host, port.get('port'))) for port in spec.get('ports') or []]


def summarize(objects, namespace, cluster_domain='cluster.local', only=None):
    """{service: report} from the live objects labelled as managed by the collection."""
    services = {}
    for obj in objects:
        labels = _meta(obj).get('labels') or {}
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or not labels.get(NAME_LABEL):
            continue
        name = labels[NAME_LABEL]
        if only and name not in only:
            continue
        report = services.setdefault(name, dict(name=name, objects=[], workloads=[], endpoints=[], jobs=[], images=[]))
        report['objects'].append(dict(kind=obj['kind'], name=_meta(obj).get('name')))
        if obj['kind'] in ('Deployment', 'StatefulSet', 'DaemonSet'):
            report['workloads'].append(_workload(obj))
        elif obj['kind'] == 'Service':
            report['endpoints'].extend(_endpoints(obj, namespace, cluster_domain))
        elif obj['kind'] == 'Job':
            state = readiness(obj)
            report['jobs'].append(dict(name=_meta(obj).get('name'), complete=state.ready, failed=state.failed, status=state.detail))
    for report in services.values():
        report['objects'].sort(key=lambda o: (o['kind'], o['name']))
        report['workloads'].sort(key=lambda w: w['name'])
        report['endpoints'].sort(key=lambda e: (e['service'], e['port'] or 0))
        report['jobs'].sort(key=lambda j: j['name'])
        report['images'] = sorted(set(image for w in report['workloads'] for image in w['images']))
        report['ready'] = all(w['rolled_out'] for w in report['workloads']) and not any(j['failed'] for j in report['jobs'])
        report['replicas_ready'] = sum(w['ready'] for w in report['workloads'])
        report['replicas_desired'] = sum(w['desired'] for w in report['workloads'])
        checksums = sorted(set(w['config_checksum'] for w in report['workloads'] if w['config_checksum']))
        report['config_checksum'] = checksums[0] if len(checksums) == 1 else (checksums or None)
    if only:
        for name in only:
            services.setdefault(name, dict(name=name, objects=[], workloads=[], endpoints=[], jobs=[], images=[],
                                           ready=False, replicas_ready=0, replicas_desired=0, config_checksum=None,
                                           missing=True))
    return services


def collect(client, namespace, kinds=OWNED_KINDS):
    """Every object in ``namespace`` labelled as managed by the collection."""
    found = []
    for api_version, kind in kinds:
        try:
            items, _version = client.list(api_version, kind, namespace=namespace,
                                          label_selector='%s=%s' % (MANAGED_BY, MANAGED_BY_VALUE))
        except K8sError as exc:
            if exc.status == 404:
                continue
            raise
        found.extend(items)
    return found
