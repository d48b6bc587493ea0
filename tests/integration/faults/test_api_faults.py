"""site.yml while the Kubernetes API misbehaves: injected 500/503/504/429, dropped connections
and watch streams cut without a clean end, on a share of every request.

The run must still converge (bounded retries with backoff, Retry-After honoured), and the
next run, under the same faults, must report changed=0 and write nothing. The runner-level
case (one service, no playbook) is tests/integration/rollout/test_runner_sandbox.py
test_rollout_survives_injected_api_faults; this one drives the whole playbook. The unit
cases of each request path are tests/unit/k8s/test_retry_paths.py.

Which requests fail is decided by the sandbox from ``fault_seed`` and the request itself
(verb, path, how many times it was asked before), so a failing seed reproduces:
``FAULT_SEED=5 pytest tests/integration/faults/test_api_faults.py`` (default 11).
"""
import os

import pytest

pytestmark = pytest.mark.slow

RETRY_AFTER = 1
FAULTS = [
    # Once each, whatever the seed: every kind of fault on the paths that once did not retry
    # (the opening of a watch, a discovery group list) and on the common verbs.
    {'rate': 1.0, 'count': 1, 'verbs': ['watch'], 'responses': [503]},
    {'rate': 1.0, 'count': 1, 'verbs': ['watch'], 'responses': [429], 'retry_after': RETRY_AFTER},
    {'rate': 1.0, 'count': 1, 'path': '^/apis/apps/v1$', 'responses': [503]},
    {'rate': 1.0, 'count': 1, 'path': '^/apis$', 'responses': ['drop']},
    {'rate': 1.0, 'count': 1, 'verbs': ['apply'], 'responses': [500]},
    {'rate': 1.0, 'count': 1, 'verbs': ['list'], 'responses': [504]},
    # Then a random share of every request.
    {'rate': 0.06, 'responses': [500, 503, 504, 'drop']},
    {'rate': 0.03, 'responses': [429], 'retry_after': RETRY_AFTER},
]
CONNECTION = {'api_retries': 8, 'api_timeout': 10}
SEED = int(os.environ.get('FAULT_SEED', '11'))


def _same_request(entry):
    return (entry['method'], entry['path'], tuple(sorted((k, str(v)) for k, v in entry['query'].items())),
            entry['user_agent'])


def retries(log):
    """[(entry, seconds until the same request came again, or None)] for every injected fault."""
    found = []
    for index, entry in enumerate(log):
        if entry.get('fault') is None:
            continue
        key = _same_request(entry)
        later = [e['ts'] for e in log[index + 1:] if _same_request(e) == key]
        found.append((entry, later[0] - entry['ts'] if later else None))
    return found


def test_site_converges_under_faults_and_reruns_unchanged(site):
    site.sandbox.control.settings(faults=FAULTS, fault_seed=SEED, watch_drop_after=0.5)
    connection = dict(site.group_vars['openstack_k8s_connection'], **CONNECTION)
    first = site.run(openstack_k8s_connection=connection)
    assert first.rc == 0, 'FAULT_SEED=%d\n%s' % (SEED, first.explain())
    found = retries(first.log)
    # 'drop' is logged with code 0; every kind was injected at least once, on watches too.
    assert {500, 503, 504, 429, 'drop'} <= set(e['fault'] for e, _gap in found), found
    assert {'watch', 'apply', 'list'} <= set('apply' if e['apply'] else e['verb'] for e, _gap in found), found
    assert len(found) >= 10
    # Every faulted request was sent again: nothing gave up or went around the retries.
    missing = [(e['verb'], e['path'], e['fault']) for e, gap in found if gap is None]
    assert not missing, 'FAULT_SEED=%d: never retried: %s' % (SEED, missing)
    # Retry-After was honoured: no 429'd request came back sooner than the server asked.
    gaps = [(gap, e['verb'], e['path']) for e, gap in found if e['fault'] == 429]
    assert min(gaps)[0] >= RETRY_AFTER - 0.05, 'FAULT_SEED=%d: %s' % (SEED, sorted(gaps)[:5])
    # Backoff: a 5xx'd or dropped request is not sent again at once (first step >= 0.1 s).
    gaps = [(gap, e['verb'], e['path']) for e, gap in found if e['fault'] != 429]
    assert min(gaps)[0] >= 0.09, 'FAULT_SEED=%d: %s' % (SEED, sorted(gaps)[:5])
    for kind, name in (('Deployment', 'keystone-api'), ('StatefulSet', 'mariadb-server'), ('StatefulSet', 'rabbitmq-server')):
        assert site.live('apps/v1', kind, name)['status']['readyReplicas'] == 3, name
    # Watches were cut (watch_drop_after) and the waits re-read and re-watched.
    watches = [e for e in first.log if e['verb'] == 'watch']
    assert watches

    second = site.run(openstack_k8s_connection=connection)
    assert second.rc == 0, 'FAULT_SEED=%d\n%s' % (SEED, second.explain())
    assert second.changed() == 0, 'FAULT_SEED=%d\n%s' % (SEED, changed_tasks(second))
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
