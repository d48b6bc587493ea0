"""The dependency-driven rollout schedule: who starts when, what a failure stops, cycles refused.

The pure :class:`runner.Schedule` is run on simulated readiness times (:func:`runner.simulate`),
then the threaded driver (:func:`runner.run_schedule`) on short real sleeps.
"""
import threading
import time

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as catalog_utils
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner


def entry(name, depends_on=(), after=()):
    return dict(name=name, depends_on=list(depends_on), after=list(after))


# The OpenStack part of the catalog as its files say (depends_on, after), infrastructure not given.
OPENSTACK = [entry('keystone', ['mariadb', 'memcached']), entry('glance', ['mariadb', 'memcached', 'keystone']),
             entry('placement', ['mariadb', 'memcached', 'keystone']),
             entry('nova', ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'glance', 'placement']),
             entry('neutron', ['mariadb', 'rabbitmq', 'memcached', 'keystone'], after=['nova']),
             entry('nova-compute', ['nova', 'neutron', 'placement', 'glance']),
             entry('cinder', ['keystone'], after=['nova-compute']), entry('heat', ['keystone'], after=['nova-compute']),
             entry('horizon', ['keystone'], after=['nova-compute'])]


@pytest.mark.parametrize('entries, expected', [
    # Edges to services not given are ignored, as catalog.order_waves does.
    (OPENSTACK, {'keystone': [], 'glance': ['keystone'], 'placement': ['keystone'],
                 'nova': ['glance', 'keystone', 'placement'], 'neutron': ['keystone', 'nova'],
                 'nova-compute': ['glance', 'neutron', 'nova', 'placement'], 'cinder': ['keystone', 'nova-compute'],
                 'heat': ['keystone', 'nova-compute'], 'horizon': ['keystone', 'nova-compute']}),
    ([entry('glance', ['keystone']), entry('placement', ['keystone'])], {'glance': [], 'placement': []}),
    ([entry('a', after=['b']), entry('b')], {'a': ['b'], 'b': []}),
    ([entry('a')], {'a': []}),
])
def test_edges_are_depends_on_and_after_among_the_services_given(entries, expected):
    assert runner.rollout_edges(entries) == expected


@pytest.mark.parametrize('entries, cycle', [
    ([entry('a', ['b']), entry('b', ['a'])], 'a -> b -> a'),
    ([entry('a', after=['c']), entry('b', ['a']), entry('c', ['b'])], 'a -> c -> b -> a'),
    ([entry('a', ['a'])], 'a -> a'),
])
def test_a_cycle_is_refused_naming_it(entries, cycle):
    with pytest.raises(runner.RolloutError) as caught:
        runner.rollout_edges(entries)
    assert cycle in caught.value.message and 'remove one of these depends_on/after links' in caught.value.message


EDGES = {'db': [], 'mq': [], 'id': ['db'], 'img': ['id'], 'net': ['id', 'mq'], 'cmp': ['img', 'net'], 'ui': ['id']}


@pytest.mark.parametrize('durations, failing, starts, end, not_started', [
    # Each service starts when its last dependency is ready, not when a wave ends:
    # ui starts at 3 (id ready) though net, in the same wave, is ready only at 9.
    ({'db': 2, 'mq': 5, 'id': 1, 'img': 4, 'net': 4, 'cmp': 1, 'ui': 1}, (),
     [(0, 'db'), (0, 'mq'), (2, 'id'), (3, 'img'), (3, 'ui'), (5, 'net'), (9, 'cmp')], 10, {}),
    # A slow mq delays net, hence cmp, but not img or ui.
    ({'db': 1, 'mq': 20, 'id': 1, 'img': 1, 'net': 1, 'cmp': 1, 'ui': 1}, (),
     [(0, 'db'), (0, 'mq'), (1, 'id'), (2, 'img'), (2, 'ui'), (20, 'net'), (21, 'cmp')], 22, {}),
    # id fails: everything needing it stays unstarted; mq, already running, finishes.
    ({'db': 1, 'mq': 5, 'id': 1, 'img': 1, 'net': 1, 'cmp': 1, 'ui': 1}, ('id',),
     [(0, 'db'), (0, 'mq'), (1, 'id')], 5,
     {'img': ['id'], 'net': ['id'], 'cmp': ['id'], 'ui': ['id']}),
    # img fails while net waits for a slow mq: net and ui need nothing that failed but do not start either.
    ({'db': 1, 'mq': 9, 'id': 1, 'img': 1, 'net': 1, 'cmp': 1, 'ui': 3}, ('img',),
     [(0, 'db'), (0, 'mq'), (1, 'id'), (2, 'img'), (2, 'ui')], 9,
     {'net': [], 'cmp': ['img']}),
    # A failure of a service nothing needs, after everything else started: nothing is left.
    ({'db': 1, 'mq': 1, 'id': 1, 'img': 1, 'net': 1, 'cmp': 1, 'ui': 5}, ('ui',),
     [(0, 'db'), (0, 'mq'), (1, 'id'), (2, 'img'), (2, 'net'), (2, 'ui'), (3, 'cmp')], 7, {}),
    # Two failures at once: both are named as what the unstarted service needs.
    ({'db': 1, 'mq': 1, 'id': 1, 'img': 1, 'net': 1, 'cmp': 1, 'ui': 1}, ('db', 'mq'),
     [(0, 'db'), (0, 'mq')], 1, {'id': ['db'], 'img': ['db'], 'net': ['db', 'mq'], 'cmp': ['db', 'mq'], 'ui': ['db']}),
])
def test_starts_on_simulated_readiness_times(durations, failing, starts, end, not_started):
    got_starts, got_end, schedule = runner.simulate(EDGES, durations, failing)
    assert got_starts == starts
    assert got_end == end
    assert schedule.not_started() == not_started
    assert sorted(schedule.failures) == sorted(failing)


def test_the_whole_catalog_finishes_on_its_critical_path():
    """Every catalog file's edges: the makespan is the heaviest depends_on+after chain, where waves
    would add up the slowest service of each wave."""
    import os
    path = os.path.join(os.path.dirname(catalog_utils.__file__), '..', '..', 'roles', 'catalog', 'files', 'services')
    names = sorted(f[:-4] for f in os.listdir(path) if f.endswith('.yml') and not f.startswith('_'))
    import yaml
    entries = []
    for name in names:
        with open(os.path.join(path, name + '.yml')) as handle:
            data = yaml.safe_load(handle)
        if isinstance(data, dict) and data.get('name') == name:
            entries.append(data)
    edges = runner.rollout_edges(entries)
    durations = dict((e['name'], 1.0 + (len(e['name']) % 5)) for e in entries)
    _starts, end, schedule = runner.simulate(edges, durations)
    memo = {}

    def chain(name):
        if name not in memo:
            memo[name] = durations[name] + max([chain(d) for d in edges[name]] or [0.0])
        return memo[name]
    assert end == max(chain(name) for name in edges)
    waves = catalog_utils.order_waves(dict((e['name'], e) for e in entries), [e['name'] for e in entries])
    assert end <= sum(max(durations[n] for n in wave) for wave in waves)
    assert set(schedule.state.values()) == {'ready'}


def test_a_service_cannot_start_before_its_dependencies():
    schedule = runner.Schedule({'a': [], 'b': ['a']})
    with pytest.raises(ValueError):
        schedule.start('b')
    schedule.start('a')
    with pytest.raises(ValueError):
        schedule.finished('b', True)


@pytest.mark.parametrize('failing, ran, not_started', [
    ((), ['db', 'mq', 'id', 'img', 'ui', 'net', 'cmp'], []),
    (('id',), ['db', 'mq', 'id'], ['cmp', 'img', 'net', 'ui']),
    (('mq',), ['db', 'mq', 'id', 'img', 'ui'], ['cmp', 'net']),
])
def test_threads_start_each_service_when_its_dependencies_are_ready(failing, ran, not_started):
    """The threaded driver on real (short) sleeps: the order and overlap the simulation predicts."""
    durations = {'db': 0.05, 'mq': 0.4, 'id': 0.05, 'img': 0.05, 'net': 0.05, 'cmp': 0.05, 'ui': 0.05}
    lock = threading.Lock()
    began, ended = {}, {}
    origin = time.monotonic()

    def launch(name):
        with lock:
            began[name] = time.monotonic() - origin
        time.sleep(durations[name])
        with lock:
            ended[name] = time.monotonic() - origin
        if name in failing:
            raise RuntimeError('%s failed' % name)  # an exception counts as a failure
        return True

    schedule = runner.run_schedule(runner.Schedule(EDGES), launch)
    assert sorted(began) == sorted(ran)
    assert sorted(schedule.not_started()) == not_started
    for name in began:
        for dep in EDGES[name]:
            assert began[name] >= ended[dep], (name, dep, began, ended)
    if not failing:
        # img and ui started while mq (0.4 s) was still running: no barrier between waves.
        assert began['img'] < ended['mq'] and began['ui'] < ended['mq']
        assert began['net'] >= ended['mq']
