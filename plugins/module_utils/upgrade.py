# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release upgrades, pure: supported paths, the steps of each service, the progress record.

* :func:`check_releases` validates ``roles/catalog/files/releases.yml`` (``releases``:
  ``[{name, slurp}]`` oldest first, ``upgrade_order``: every catalog service once).
* :func:`check_path` decides whether ``current -> target`` is supported: the next series
  always, a SLURP release to the next SLURP release (skipping one), nothing else.
* :func:`service_steps` turns a catalog entry's ``upgrade.order`` into steps: a Job (an
  ``upgrade-expand|migrate|contract`` Job, or a deploy Job such as Heat's ``db-sync``) or a
  component (rolling update of its workloads), then ``converge`` (the whole service as
  ``site.yml`` renders it at the new release, stale Jobs pruned).
* :func:`record_data` / :func:`parse_record` are the ConfigMap ``openstack-release``:
  the deployed release and, during an upgrade, the target and the finished steps.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

RECORD_NAME = 'openstack-release'
CONVERGE = 'converge'
UPGRADE_PHASES = ('upgrade-expand', 'upgrade-migrate', 'upgrade-contract')


class UpgradeError(Exception):
    """An upgrade that cannot (or must not) be done; the message names the fix."""


# --------------------------------------------------------------------------- releases

def check_releases(data, catalog=None):
    """Validate the releases file; return ``{'releases': [...], 'upgrade_order': [...]}``."""
    errors = []
    if not isinstance(data, dict):
        raise UpgradeError('releases.yml must be a mapping with releases and upgrade_order')
    releases = data.get('releases')
    if not isinstance(releases, list) or not releases:
        errors.append('releases: list every supported series, oldest first, as {name, slurp}')
        releases = []
    names = []
    for index, release in enumerate(releases):
        if not isinstance(release, dict) or not isinstance(release.get('name'), str):
            errors.append('releases[%d]: give name (a string such as "2026.2") and slurp' % index)
            continue
        if not isinstance(release.get('slurp'), bool):
            errors.append('releases[%d] (%s): slurp must be true or false' % (index, release['name']))
        if release['name'] in names:
            errors.append('releases[%d]: %s is listed twice' % (index, release['name']))
        names.append(release['name'])
    if names and names != sorted(names, key=_series_key):
        errors.append('releases: list the series oldest first (%s)' % ', '.join(sorted(names, key=_series_key)))
    order = data.get('upgrade_order')
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        errors.append('upgrade_order: list the service names in upgrade order')
        order = []
    if len(set(order)) != len(order):
        errors.append('upgrade_order: a service is listed twice')
    if catalog is not None:
        missing = sorted(set(catalog) - set(order))
        unknown = sorted(set(order) - set(catalog))
        if missing:
            errors.append('upgrade_order: add %s (every catalog service has its place)' % ', '.join(missing))
        if unknown:
            errors.append('upgrade_order: %s not in the catalog; remove them' % ', '.join(unknown))
        for name in order:
            for dep in (catalog.get(name) or {}).get('depends_on') or []:
                if dep in order and order.index(dep) > order.index(name):
                    errors.append('upgrade_order: %s depends on %s, so %s must come first' % (name, dep, dep))
    if errors:
        raise UpgradeError('invalid releases file:\n  - ' + '\n  - '.join(errors))
    return {'releases': releases, 'upgrade_order': order}


def _series_key(name):
    try:
        return tuple(int(part) for part in str(name).split('.'))
    except ValueError:
        return (0, 0)


def check_path(releases, current, target):
    """``'none'`` when ``current == target``, ``'upgrade'`` for a supported path; raise otherwise."""
    names = [r['name'] for r in releases]
    current, target = str(current), str(target)
    if target not in names:
        raise UpgradeError('openstack_release %s is not a supported release; supported: %s (roles/catalog/files/'
                           'releases.yml)' % (target, ', '.join(names)))
    if current not in names:
        raise UpgradeError('the cloud runs %s, which is not a supported release (%s); it cannot be upgraded by this '
                           'collection' % (current, ', '.join(names)))
    if current == target:
        return 'none'
    here, there = names.index(current), names.index(target)
    if there < here:
        raise UpgradeError('openstack_release %s is older than the deployed %s: downgrades are not supported '
                           '(restore the backup taken before the upgrade instead, see the upgrade runbook)'
                           % (target, current))
    allowed = allowed_targets(releases, current)
    if target not in allowed:
        raise UpgradeError('%s -> %s skips %s, which is not a supported upgrade path: from %s upgrade to %s first '
                           '(OpenStack supports N -> N+1, and SLURP releases to the next SLURP release)'
                           % (current, target, ', '.join(names[here + 1:there]), current, ' or '.join(allowed)))
    return 'upgrade'


def allowed_targets(releases, current):
    """The releases ``current`` may upgrade to: the next one, and the next SLURP one from a SLURP release."""
    names = [r['name'] for r in releases]
    if current not in names:
        return []
    here = names.index(current)
    out = names[here + 1:here + 2]
    if releases[here].get('slurp') and here + 2 < len(releases) and releases[here + 2].get('slurp'):
        out.append(names[here + 2])
    return out


# --------------------------------------------------------------------------- steps

def instances(entry, component):
    """Workload names (the ``app.kubernetes.io/component`` label) of one component: one per node role."""
    spec = entry['components'][component]
    roles = spec.get('node_roles') or [spec.get('node_role') or 'controller']
    if len(roles) == 1:
        return [component]
    return ['%s-%s' % (component, role) for role in roles]


def service_steps(entry):
    """``[{'id', 'service', 'kind': 'job'|'component'|'converge', 'name', 'phase'}]`` of one service.

    ``upgrade.order`` names Jobs of the entry (upgrade phases or deploy phases such as
    Heat's ``db-sync``) and components; components it leaves out roll in ``converge``.
    """
    name = entry['name']
    jobs = dict((job['name'], job) for job in entry.get('jobs') or [])
    components = entry.get('components') or {}
    order = ((entry.get('upgrade') or {}).get('order')) or []
    steps, problems = [], []
    for item in order:
        if item in jobs:
            steps.append({'id': '%s/%s' % (name, item), 'service': name, 'kind': 'job', 'name': item,
                          'phase': jobs[item]['phase']})
        elif item in components:
            steps.append({'id': '%s/%s' % (name, item), 'service': name, 'kind': 'component', 'name': item,
                          'phase': 'workloads'})
        else:
            problems.append(item)
    if problems:
        raise UpgradeError('%s: upgrade.order names %s, which is neither a job nor a component of the entry; '
                           'fix roles/catalog/files/services/%s.yml' % (name, ', '.join(problems), name))
    steps.append({'id': '%s/%s' % (name, CONVERGE), 'service': name, 'kind': CONVERGE, 'name': CONVERGE,
                  'phase': CONVERGE})
    return steps


def plan(entries):
    """The steps of every entry, in the given order (the upgrade order)."""
    out = []
    for entry in entries:
        out.extend(service_steps(entry))
    return out


# --------------------------------------------------------------------------- the record

def parse_record(configmap):
    """``{'release', 'target', 'from', 'completed': [...], 'failed': {...}|None}`` or None without a ConfigMap."""
    if configmap is None:
        return None
    data = configmap.get('data') or {}
    try:
        completed = json.loads(data.get('completed') or '[]')
        failed = json.loads(data.get('failed') or 'null')
    except ValueError:
        raise UpgradeError('ConfigMap %s holds unreadable progress (completed/failed are JSON); fix or delete those keys'
                           % RECORD_NAME)
    return {'release': data.get('release') or None, 'target': data.get('target') or None,
            'from': data.get('from') or None, 'completed': list(completed or []), 'failed': failed}


def record_data(release, target=None, source=None, completed=(), failed=None):
    """The ``data`` of the record ConfigMap (strings only, as a ConfigMap holds them)."""
    data = {'release': str(release)}
    if target:
        data.update({'target': str(target), 'from': str(source or release),
                     'completed': json.dumps(list(completed)),
                     'failed': json.dumps(failed, sort_keys=True) if failed else ''})
    return data


def resume_hint(target, step):
    """What the operator runs after fixing the cause of a failed step."""
    return ('the upgrade to %s stopped at step %s; its progress is recorded in ConfigMap %s. Fix the cause, then '
            're-run playbooks/upgrade.yml -e openstack_release=%s: it resumes at %s (finished steps are not repeated)'
            % (target, step, RECORD_NAME, target, step))
