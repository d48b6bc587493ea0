"""The pure planning of node labels and taints (plugins/module_utils/node_roles.py)."""
import copy
import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import node_roles

REPO = pathlib.Path(__file__).resolve().parents[3]
CATALOG = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
COMPUTE_TAINT = {'key': 'openstack-k8s.io/compute', 'value': 'true', 'effect': 'NoSchedule'}
NETWORK_TAINT = {'key': 'openstack-k8s.io/network', 'value': 'true', 'effect': 'NoSchedule'}
# The SAP seed's scheme: one label key, a value per role, tainted hypervisor and network nodes.
SPECIES = {
    'compute': {'group': 'hypervisors', 'label': {'key': 'species', 'value': 'hypervisor'},
                'taint': {'key': 'species', 'value': 'hypervisor', 'effect': 'NoSchedule'}},
    'network': {'group': 'network', 'label': {'key': 'species', 'value': 'network'},
                'taint': {'key': 'species', 'value': 'network', 'effect': 'NoSchedule'}},
}


def node(name, labels=None, taints=None, rv='10'):
    return {'apiVersion': 'v1', 'kind': 'Node', 'metadata': {'name': name, 'resourceVersion': rv, 'labels': labels or {}},
            'spec': {'taints': taints} if taints is not None else {}}


def test_the_catalog_definition_is_valid_and_taints_compute_and_network():
    assert node_roles.validate_definition(CATALOG) == []
    labels, taints = node_roles.managed(CATALOG)
    assert set(labels) == set(spec['label']['key'] for spec in CATALOG.values())
    assert taints == {(COMPUTE_TAINT['key'], 'NoSchedule'), (NETWORK_TAINT['key'], 'NoSchedule')}


@pytest.mark.parametrize('change, fragment', [
    ({'compute': {'group': 'openstack_compute', 'label': {'key': 'openstack-k8s.io/compute', 'value': True}, 'taint': None}},
     "node_roles.compute.label.value: True must be a string; quote it"),
    ({'compute': {'group': 'openstack_compute', 'label': {'key': 'bad key', 'value': 'x'}, 'taint': None}},
     "node_roles.compute.label.key: 'bad key' is not a Kubernetes label/taint key"),
    ({'compute': {'group': 'openstack_compute', 'label': {'key': 'a/b', 'value': 'x'},
                  'taint': {'key': 'a/b', 'value': 'x', 'effect': 'NoShedule'}}},
     "node_roles.compute.taint.effect: 'NoShedule' is not one of NoSchedule, PreferNoSchedule, NoExecute"),
    ({'compute': {'group': 'openstack_network', 'label': {'key': 'a/b', 'value': 'x'}, 'taint': None}},
     'group openstack_network is already the group of role'),
    ({'compute': {'group': '', 'label': {'key': 'a/b', 'value': 'x'}, 'taint': None}},
     'node_roles.compute.group: give the inventory group'),
    ({'compute': {'group': 'g', 'label': {'key': 'a/b', 'value': 'x'}, 'taints': None}},
     'node_roles.compute: unknown field(s) taints; the fields are group, label and taint'),
    ({'compute': {'group': 'g', 'label': {'key': 'a/b', 'value': 'x' * 64}, 'taint': None}},
     'node_roles.compute.label.value'),
    ({'compute': 'openstack_compute'}, 'node_roles.compute must be a mapping'),
])
def test_definition_errors_name_the_field(change, fragment):
    definition = copy.deepcopy(CATALOG)
    definition.update(change)
    errors = node_roles.validate_definition(definition)
    assert any(fragment in error for error in errors), errors


def test_empty_definition_is_an_error():
    assert 'node_roles must be a mapping' in node_roles.validate_definition({})[0]


def test_selectors_and_tolerations_come_from_the_same_definition():
    assert node_roles.node_selector(CATALOG, 'compute') == {'openstack-k8s.io/compute': 'enabled'}
    assert node_roles.tolerations(CATALOG, 'compute') == [
        {'key': 'openstack-k8s.io/compute', 'operator': 'Equal', 'value': 'true', 'effect': 'NoSchedule'}]
    assert node_roles.tolerations(CATALOG, 'controller') == []
    no_value = {'x': {'group': 'g', 'label': {'key': 'k', 'value': ''}, 'taint': {'key': 'k', 'effect': 'NoExecute'}}}
    assert node_roles.tolerations(no_value, 'x') == [{'key': 'k', 'operator': 'Exists', 'effect': 'NoExecute'}]
    assert node_roles.node_selector(no_value, 'x') == {'k': ''}


@pytest.mark.parametrize('groups, names, expected, error', [
    ({'openstack_compute': ['c1', 'c2'], 'openstack_network': ['n1'], 'all': ['c1', 'c2', 'n1', 'x']}, {},
     {'c1': {'hosts': ['c1'], 'roles': ['compute']}, 'c2': {'hosts': ['c2'], 'roles': ['compute']},
      'n1': {'hosts': ['n1'], 'roles': ['network']}}, None),
    ({'openstack_compute': ['c1.example.org'], 'openstack_control_plane': ['c1.example.org']}, {'c1.example.org': 'c1'},
     {'c1': {'hosts': ['c1.example.org'], 'roles': ['compute', 'controller']}}, None),
    ({'openstack_compute': ['Compute_1']}, {}, {}, "host Compute_1: 'Compute_1' is not a Kubernetes node name"),
    ({'openstack_compute': ['a', 'b']}, {'b': 'a'}, None, 'hosts a and b both map to Kubernetes node a'),
    ({}, {}, {}, None),
])
def test_hosts_by_node(groups, names, expected, error):
    nodes, errors = node_roles.hosts_by_node(CATALOG, groups, names)
    if expected is not None:
        assert nodes == expected
    if error:
        assert any(error in e for e in errors), errors
    else:
        assert errors == []


def test_a_node_cannot_take_two_values_of_one_label():
    nodes, errors = node_roles.hosts_by_node(SPECIES, {'hypervisors': ['m1'], 'network': ['m1']}, {})
    assert errors == ['host m1: roles compute and network both set label species (to hypervisor and network); '
                      'a node cannot have both roles']


MANAGED = node_roles.managed(CATALOG)
KUBELET_LABELS = {'kubernetes.io/hostname': 'c1', 'kubernetes.io/os': 'linux'}
NOT_READY = {'key': 'node.kubernetes.io/not-ready', 'effect': 'NoSchedule'}


@pytest.mark.parametrize('name, labels, taints, roles, expected', [
    ('fresh compute node', dict(KUBELET_LABELS), None, ['compute'],
     dict(labels={'openstack-k8s.io/compute': 'enabled'}, taints=[COMPUTE_TAINT],
          taints_added=['openstack-k8s.io/compute=true:NoSchedule'], taints_removed=[])),
    ('already right: nothing', dict(KUBELET_LABELS, **{'openstack-k8s.io/compute': 'enabled'}),
     [dict(COMPUTE_TAINT, timeAdded='2026-01-01T00:00:00Z')], ['compute'], None),
    ('foreign labels and taints survive a move from compute to network',
     dict(KUBELET_LABELS, **{'openstack-k8s.io/compute': 'enabled', 'team': 'blue'}), [NOT_READY, COMPUTE_TAINT], ['network'],
     dict(labels={'openstack-k8s.io/compute': None, 'openstack-k8s.io/network': 'enabled'}, taints=[NOT_READY, NETWORK_TAINT],
          taints_added=['openstack-k8s.io/network=true:NoSchedule'], taints_removed=['openstack-k8s.io/compute=true:NoSchedule'])),
    ('a managed label with a wrong value is reset, the taint value too',
     {'openstack-k8s.io/compute': 'no'}, [dict(COMPUTE_TAINT, value='false')], ['compute'],
     dict(labels={'openstack-k8s.io/compute': 'enabled'}, taints=[COMPUTE_TAINT],
          taints_added=['openstack-k8s.io/compute=true:NoSchedule'], taints_removed=['openstack-k8s.io/compute=false:NoSchedule'])),
    ('a taint with our key but another effect is not ours', {'openstack-k8s.io/controller': 'x', 'openstack-k8s.io/control-plane': 'enabled'},
     [{'key': 'openstack-k8s.io/compute', 'effect': 'NoExecute'}], ['controller'], None),
    ('left every group: managed labels and taints go', dict(KUBELET_LABELS, **{'openstack-k8s.io/network': 'enabled'}),
     [NETWORK_TAINT, NOT_READY], [],
     dict(labels={'openstack-k8s.io/network': None}, taints=[NOT_READY], taints_added=[],
          taints_removed=['openstack-k8s.io/network=true:NoSchedule'])),
    ('duplicate managed taint collapses to one', {'openstack-k8s.io/compute': 'enabled'}, [COMPUTE_TAINT, COMPUTE_TAINT], ['compute'],
     dict(labels={}, taints=[COMPUTE_TAINT], taints_added=[], taints_removed=['openstack-k8s.io/compute=true:NoSchedule'])),
])
def test_plan_node(name, labels, taints, roles, expected):
    want_labels, want_taints, conflicts = node_roles.desired(CATALOG, roles)
    assert conflicts == []
    current = node('c1', labels, taints)
    change = node_roles.plan_node(current, want_labels, want_taints, *MANAGED)
    if expected is None:
        assert change is None, name
        return
    assert change['labels'] == expected['labels'], name
    assert change['taints'] == expected['taints'], name
    assert change['taints_added'] == expected['taints_added'], name
    assert change['taints_removed'] == expected['taints_removed'], name
    after = node_roles.apply_change(current, change)
    # planning again on the result finds nothing left to do
    assert node_roles.plan_node(after, want_labels, want_taints, *MANAGED) is None, name
    foreign = dict((k, v) for k, v in labels.items() if k not in MANAGED[0])
    assert dict((k, v) for k, v in after['metadata']['labels'].items() if k not in MANAGED[0]) == foreign, name


@pytest.mark.parametrize('change, expected', [
    (dict(labels={'a': 'x'}, taints=None), {'metadata': {'resourceVersion': '7', 'labels': {'a': 'x'}}}),
    (dict(labels={}, taints=[]), {'metadata': {'resourceVersion': '7'}, 'spec': {'taints': None}}),
    (dict(labels={'a': None}, taints=[COMPUTE_TAINT]),
     {'metadata': {'resourceVersion': '7', 'labels': {'a': None}}, 'spec': {'taints': [COMPUTE_TAINT]}}),
])
def test_merge_patch_carries_the_resource_version(change, expected):
    assert node_roles.merge_patch(change, '7') == expected
