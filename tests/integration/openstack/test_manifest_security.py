"""Every manifest the collection renders, scanned by checkov's Kubernetes checks.

All catalog services are rendered (every phase, and the upgrade Jobs) through the same
renderer ``k8s_openstack_service`` uses, written one object per file, and scanned with
``checkov --framework kubernetes``. The only accepted findings are those listed, each
with its reason, in ``tests/security/checkov-skips.yml``; they are applied to the
matching objects only, as ``checkov.io/skip<n>`` annotations, so a finding on any other
object still fails. A listed exception that matches no object fails too (stale entries
would otherwise hide future findings).
"""
import json
import pathlib
import subprocess
import time

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests

REPO = pathlib.Path(__file__).resolve().parents[3]
SKIPS_FILE = REPO / 'tests' / 'security' / 'checkov-skips.yml'
UPGRADE_STEPS = ('expand', 'migrate', 'contract')


def _load_skips():
    with open(SKIPS_FILE, encoding='utf-8') as handle:
        data = yaml.safe_load(handle) or {}
    return data.get('skips') or []


def _selects(selector, obj):
    labels = obj['metadata'].get('labels') or {}
    actual = {
        'service': labels.get('app.kubernetes.io/name'),
        'component': labels.get('app.kubernetes.io/component'),
        'kind': obj.get('kind'),
    }
    for field, wanted in selector.items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if '*' not in wanted and actual.get(field) not in wanted:
            return False
    return True


def _matches(rule, obj):
    return any(_selects(selector, obj) for selector in rule.get('objects') or [])


def _all_objects(cloud):
    objects = []
    for name in sorted(cloud.catalog):
        phases = cloud.phases(name)
        objects.extend(manifests.all_objects(phases))
        entry = cloud.catalog[name]
        jobs_in_steps = set(j.get('phase') for j in entry.get('jobs') or [])
        for step in UPGRADE_STEPS:
            if 'upgrade-%s' % step in jobs_in_steps:
                config = cloud.config_files(name)
                objects.extend(manifests.render_upgrade_jobs(entry, _deployment(cloud), config, step))
    return objects


def _deployment(cloud):
    return manifests.make_deployment(namespace='openstack', release='2026.2', node_roles=cloud.node_roles,
                                     general=cloud.general)


@pytest.fixture(scope='module')
def scan(checkov_venv, cloud, tmp_path_factory, tier_timings):
    """Write every object (with its listed exceptions as annotations) and run checkov once."""
    skips = _load_skips()
    used = [0] * len(skips)
    out = tmp_path_factory.mktemp('manifests')
    objects = _all_objects(cloud)
    for index, obj in enumerate(objects):
        annotations = {}
        for number, rule in enumerate(skips):
            if _matches(rule, obj):
                used[number] += 1
                reason = ' '.join(str(rule['reason']).split())
                for check in rule['checks']:
                    annotations['checkov.io/skip%d' % (len(annotations) + 1)] = '%s=%s' % (check, reason)
        if annotations:
            merged = dict(obj['metadata'].get('annotations') or {}, **annotations)
            obj = dict(obj, metadata=dict(obj['metadata'], annotations=merged))
        path = out / ('%03d-%s-%s.yaml' % (index, obj['kind'].lower(), obj['metadata']['name']))
        path.write_text(yaml.safe_dump(obj, sort_keys=True), encoding='utf-8')
    started = time.monotonic()
    result = subprocess.run([str(checkov_venv.bin / 'checkov'), '-d', str(out), '--framework', 'kubernetes',
                             '--compact', '--skip-download', '--output', 'json'],
                            capture_output=True, text=True, env=checkov_venv.env(), timeout=900, check=False)
    tier_timings['checkov scan (%d objects)' % len(objects)] = round(time.monotonic() - started, 1)
    # rc 1 means findings; anything else but 0 is checkov failing to run.
    assert result.returncode in (0, 1), 'checkov failed (rc %d): %s' % (result.returncode, result.stderr[-4000:])
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    if isinstance(report, list):
        report = [r for r in report if r.get('check_type') == 'kubernetes'][0]
    return {'report': report, 'skips': skips, 'used': used, 'objects': objects}


def _findings(scan):
    results = scan['report'].get('results') or {}
    failed = results.get('failed_checks') or []
    return sorted('%s %s (%s) in %s' % (f['check_id'], f['resource'], f['check_name'], pathlib.Path(f['file_path']).name)
                  for f in failed)


def test_every_manifest_passes_the_kubernetes_checks(scan):
    summary = scan['report'].get('summary') or {}
    # Every object written must have been read and checked.
    assert summary.get('passed', 0) > 0 and summary.get('resource_count', 0) >= len(scan['objects']), (
        'checkov did not scan every manifest: %s for %d objects' % (summary, len(scan['objects'])))
    assert summary.get('parsing_errors', 0) == 0, summary
    lines = _findings(scan)
    assert not lines, ('checkov findings (fix the renderer or the catalog, or list the exception with its reason '
                       'in tests/security/checkov-skips.yml):\n  ' + '\n  '.join(lines))


def test_every_exception_has_a_reason_and_matches_an_object(scan):
    problems = []
    fields = ('service', 'component', 'kind')
    for rule, used in zip(scan['skips'], scan['used']):
        if len(' '.join(str(rule.get('reason', '')).split())) < 40:
            problems.append('%s: give the reason (a sentence or two)' % rule.get('checks'))
        if not rule.get('checks') or not all(str(c).startswith(('CKV_K8S_', 'CKV2_K8S_')) for c in rule['checks']):
            problems.append('%s: checks must be checkov Kubernetes ids (CKV_K8S_...)' % rule.get('checks'))
        if not rule.get('objects') or not all(s and set(s) <= set(fields) for s in rule['objects']):
            problems.append('%s: objects must select by %s' % (rule.get('checks'), ', '.join(fields)))
        if not used:
            problems.append('%s matches no rendered object: remove it' % rule.get('checks'))
    assert not problems, '\n'.join(problems)


def test_exceptions_reach_checkov(scan):
    """Each listed exception shows up as skipped by checkov: the annotations were read, not ignored."""
    skipped = set(s['check_id'] for s in (scan['report'].get('results') or {}).get('skipped_checks') or [])
    missing = sorted(set(c for rule in scan['skips'] for c in rule['checks']) - skipped)
    assert not missing, 'checkov did not apply the exceptions for %s' % ', '.join(missing)
