# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upgrade paths, the releases file, the steps of each catalog service and the progress record."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import upgrade
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.runner import decide

ROOT = pathlib.Path(__file__).resolve().parents[3]
NODE_ROLES = yaml.safe_load((ROOT / 'roles/catalog/files/node_roles.yml').read_text())
RELEASES_FILE = yaml.safe_load((ROOT / 'roles/catalog/files/releases.yml').read_text())


@pytest.fixture(scope='module', name='catalog')
def catalog_fixture():
    return cat.load_directory(str(ROOT / 'roles/catalog/files/services'), NODE_ROLES)


@pytest.fixture(scope='module', name='releases')
def releases_fixture(catalog):
    return upgrade.check_releases(RELEASES_FILE, catalog)['releases']


def test_shipped_releases_file(releases):
    names = [r['name'] for r in releases]
    assert names[-1] == '2026.2', 'the collection targets 2026.2 (FACTS.md)'
    assert {'2025.2', '2026.1', '2026.2'} <= set(names)
    slurp = dict((r['name'], r['slurp']) for r in releases)
    assert slurp['2026.1'] is True and slurp['2025.2'] is False and slurp['2026.2'] is False


@pytest.mark.parametrize('current, target, expected', [
    ('2025.2', '2026.1', 'upgrade'),
    ('2026.1', '2026.2', 'upgrade'),
    ('2025.1', '2026.1', 'upgrade'),      # SLURP to the next SLURP
    ('2026.2', '2026.2', 'none'),
    ('2025.2', '2026.2', 'skips 2026.1, which is not a supported upgrade path: from 2025.2 upgrade to 2026.1 first'),
    ('2025.1', '2026.2', 'from 2025.1 upgrade to 2025.2 or 2026.1 first'),
    ('2026.2', '2026.1', 'older than the deployed 2026.2: downgrades are not supported'),
    ('2026.2', '2027.1', 'openstack_release 2027.1 is not a supported release'),
    ('2024.2', '2025.1', 'the cloud runs 2024.2, which is not a supported release'),
])
def test_check_path(releases, current, target, expected):
    if expected in ('upgrade', 'none'):
        assert upgrade.check_path(releases, current, target) == expected
    else:
        with pytest.raises(upgrade.UpgradeError, match=expected.replace('.', r'\.')):
            upgrade.check_path(releases, current, target)


@pytest.mark.parametrize('change, message', [
    (lambda d: d['releases'].reverse(), 'oldest first'),
    (lambda d: d['releases'][0].pop('slurp'), 'slurp must be true or false'),
    (lambda d: d['upgrade_order'].remove('horizon'), 'add horizon'),
    (lambda d: d['upgrade_order'].append('swift'), 'swift not in the catalog'),
    (lambda d: d['upgrade_order'].insert(0, d['upgrade_order'].pop(d['upgrade_order'].index('nova'))),
     'nova depends on glance, so glance must come first'),
])
def test_bad_releases_file(catalog, change, message):
    data = yaml.safe_load((ROOT / 'roles/catalog/files/releases.yml').read_text())
    change(data)
    with pytest.raises(upgrade.UpgradeError, match=message):
        upgrade.check_releases(data, catalog)


def test_order_is_upstream(catalog):
    order = upgrade.check_releases(RELEASES_FILE, catalog)['upgrade_order']
    openstack = [name for name in order if catalog[name]['kind'] == 'openstack']
    assert openstack[0] == 'keystone' and openstack[-1] == 'nova-compute'
    assert order.index('placement') < order.index('nova') < order.index('neutron')


@pytest.mark.parametrize('service, steps', [
    ('keystone', ['db-expand', 'api', 'db-contract', 'converge']),
    ('glance', ['db-expand', 'api', 'db-migrate', 'db-contract', 'converge']),
    ('nova', ['db-expand', 'conductor', 'scheduler', 'api', 'metadata', 'novncproxy', 'db-migrate', 'converge']),
    ('heat', ['db-sync', 'engine', 'api', 'cfn', 'converge']),
    ('mariadb', ['server', 'converge']),
])
def test_service_steps(catalog, service, steps):
    planned = upgrade.service_steps(catalog[service])
    assert [s['name'] for s in planned] == steps
    assert [s['id'] for s in planned] == ['%s/%s' % (service, s) for s in steps]
    for step in planned:
        if step['kind'] == 'job':
            assert step['phase'] in upgrade.UPGRADE_PHASES + ('db-sync',)


def test_every_catalog_order_resolves(catalog):
    for entry in catalog.values():
        assert upgrade.service_steps(entry)[-1]['kind'] == upgrade.CONVERGE


def test_unknown_order_item_names_the_file(catalog):
    entry = dict(catalog['glance'], upgrade={'order': ['db-expand', 'apii']})
    with pytest.raises(upgrade.UpgradeError, match='glance: upgrade.order names apii.*services/glance.yml'):
        upgrade.service_steps(entry)


@pytest.mark.parametrize('record, target, action, message', [
    (None, '2026.1', 'refused', 'no deployed release is recorded'),
    ({'release': '2025.2'}, '2026.1', 'upgrade', 'upgrade from 2025.2 to 2026.1'),
    ({'release': '2026.1'}, '2026.1', 'none', 'already runs 2026.1'),
    ({'release': '2025.2'}, '2026.2', 'refused', 'skips 2026.1'),
    ({'release': '2025.2', 'target': '2026.1', 'from': '2025.2', 'completed': ['keystone/db-expand']},
     '2026.1', 'resume', 'after 1 finished steps'),
    ({'release': '2025.2', 'target': '2026.1', 'from': '2025.2', 'completed': []},
     '2026.2', 'refused', 'an upgrade from 2025.2 to 2026.1 is in progress'),
])
def test_decide(releases, record, target, action, message):
    if record is not None:
        record = dict({'target': None, 'from': None, 'completed': [], 'failed': None}, **record)
    decision = decide(record, releases, target)
    assert decision['action'] == action and message in decision['message'], decision


def test_record_round_trip():
    data = upgrade.record_data('2025.2', '2026.1', '2025.2', ['keystone/db-expand'], {'step': 'glance/db-expand', 'message': 'x'})
    assert all(isinstance(v, str) for v in data.values())
    record = upgrade.parse_record({'data': data})
    assert record == {'release': '2025.2', 'target': '2026.1', 'from': '2025.2', 'completed': ['keystone/db-expand'],
                      'failed': {'step': 'glance/db-expand', 'message': 'x'}}
    assert upgrade.parse_record({'data': upgrade.record_data('2026.1')}) == {
        'release': '2026.1', 'target': None, 'from': None, 'completed': [], 'failed': None}
    with pytest.raises(upgrade.UpgradeError, match='unreadable progress'):
        upgrade.parse_record({'data': {'release': '2025.2', 'completed': '[not json'}})
