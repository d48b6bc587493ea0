"""site.yml while the Kubernetes API misbehaves: injected 500/503/504/429, dropped connections
and watch streams cut without a clean end, on a share of every request.

The run must still converge (bounded retries with backoff, Retry-After honoured), and the
next run, under the same faults, must report changed=0 and write nothing. The runner-level
case (one service, no playbook) is tests/integration/rollout/test_runner_sandbox.py
test_rollout_survives_injected_api_faults; this one drives the whole playbook.
"""
import pytest

pytestmark = pytest.mark.slow

RETRY_AFTER = 1
FAULTS = [
    {'rate': 0.06, 'responses': [500, 503, 504, 'drop']},
    {'rate': 0.03, 'responses': [429], 'retry_after': RETRY_AFTER},
]
CONNECTION = {'api_retries': 8, 'api_timeout': 10}


def _same_request(entry):
    return (entry['method'], entry['path'], tuple(sorted((k, str(v)) for k, v in entry['query'].items())),
            entry['user_agent'])


def retry_gaps(log, code):
    """For each request answered ``code`` by injection: seconds until the same request came again."""
    gaps = []
    for index, entry in enumerate(log):
        if entry.get('fault') != code:
            continue
        key = _same_request(entry)
        later = [e['ts'] for e in log[index + 1:] if _same_request(e) == key]
        gaps.append(later[0] - entry['ts'] if later else None)
    return gaps


def test_site_converges_under_faults_and_reruns_unchanged(site):
    site.sandbox.control.settings(faults=FAULTS, fault_seed=11, watch_drop_after=0.5)
    connection = dict(site.group_vars['openstack_k8s_connection'], **CONNECTION)
    first = site.run(openstack_k8s_connection=connection)
    assert first.rc == 0, first.explain()
    injected = set(e['fault'] for e in first.log if e.get('fault') is not None)
    # 'drop' is logged with code 0; every kind was injected at least once.
    assert {500, 503, 504, 429, 'drop'} <= injected, injected
    assert sum(1 for e in first.log if e.get('fault') is not None) >= 10
    # Retry-After was honoured: no 429'd request came back sooner than the server asked.
    gaps = [g for g in retry_gaps(first.log, 429) if g is not None]
    assert gaps and min(gaps) >= RETRY_AFTER - 0.05, gaps
    # Backoff: a 5xx'd request is not hammered again at once (first backoff step is >= 0.1 s).
    gaps_5xx = [g for code in (500, 503, 504) for g in retry_gaps(first.log, code) if g is not None]
    assert gaps_5xx and min(gaps_5xx) >= 0.09, sorted(gaps_5xx)[:5]
    for kind, name in (('Deployment', 'keystone-api'), ('StatefulSet', 'mariadb-server'), ('StatefulSet', 'rabbitmq-server')):
        assert site.live('apps/v1', kind, name)['status']['readyReplicas'] == 3, name
    # Watches were cut (watch_drop_after) and the waits re-read and re-watched.
    watches = [e for e in first.log if e['verb'] == 'watch']
    assert watches

    second = site.run(openstack_k8s_connection=connection)
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, changed_tasks(second)
    assert [e for e in second.log if e.get('fault') is not None], 'no fault was injected in the second run'
    assert second.writes == [], second.writes


def changed_tasks(result):
    """The TASK headers followed by a changed line, for the assertion message."""
    lines, task, found = result.stdout.splitlines(), None, []
    for line in lines:
        if line.startswith('TASK ['):
            task = line
        elif line.startswith('changed:'):
            found.append('%s -> %s' % (task, line[:300]))
    return '\n'.join(found) or result.explain()
