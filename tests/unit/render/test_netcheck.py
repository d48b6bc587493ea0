"""Node CIDRs: checked before any write (validate_inputs, through the cidr_problems filter) and by the renderer,
and rendered into the NetworkPolicies so host-network pods reach namespace-only ports."""
import pathlib

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.filter.cidr_problems import cidr_problems as cidr_filter
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.netcheck import cidr_problems
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m

ROOT = pathlib.Path(__file__).resolve().parents[3]
NODE_ROLES = yaml.safe_load((ROOT / 'roles' / 'catalog' / 'files' / 'node_roles.yml').read_text())
CATALOG = cat.load_directory(str(ROOT / 'roles' / 'catalog' / 'files' / 'services'), NODE_ROLES)

CASES = [
    # (value, the messages, in order; [] when valid)
    ([], []),
    (['10.0.0.0/24'], []),
    (['10.0.0.0/24', '192.168.10.0/23', 'fd00::/64', '0.0.0.0/0'], []),
    (['10.0.0.1/32', '2001:db8::1/128'], []),
    (['10.0.0.7/24'], ['n[0] 10.0.0.7/24 has host bits set: write the network, 10.0.0.0/24']),
    (['fd00::1/64'], ['n[0] fd00::1/64 has host bits set: write the network, fd00::/64']),
    (['10.0.0.0/33'], ['n[0] is not a valid CIDR']),
    (['300.0.0.0/8'], ['n[0] is not a valid CIDR']),
    (['10.0.0.0'], ["n[0] must be a network in CIDR notation such as 10.0.0.0/24 or fd00::/64, got '10.0.0.0'"]),
    ([24], ['n[0] must be a network in CIDR notation such as 10.0.0.0/24 or fd00::/64, got 24']),
    (['10.0.0.0/24', 'x/y', '10.0.0.9/8'], ['n[1] is not a valid CIDR', 'n[2] 10.0.0.9/8 has host bits set']),
    ('10.0.0.0/24', ['n must be a list of CIDRs (e.g. [10.0.0.0/24, fd00::/64]), got a string']),
    ({'a': '10.0.0.0/24'}, ['n must be a list of CIDRs (e.g. [10.0.0.0/24, fd00::/64]), got a mapping']),
    (None, ['n must be a list of CIDRs (e.g. [10.0.0.0/24, fd00::/64]), got a NoneType']),
]


@pytest.mark.parametrize('value, messages', CASES, ids=[repr(c[0]) for c in CASES])
def test_cidr_problems(value, messages):
    found = cidr_problems(value, 'n')
    assert len(found) == len(messages), found
    assert all(found[i].startswith(messages[i]) for i in range(len(messages))), found
    assert cidr_filter(value, 'n') == found


@pytest.mark.parametrize('node_cidrs, message', [
    (['10.0.0.7/24'], 'node_cidrs (openstack_node_cidrs)[0] 10.0.0.7/24 has host bits set'),
    # One string is not split into characters, each refused on its own: the type is named.
    ('10.0.0.0/24', 'node_cidrs (openstack_node_cidrs) must be a list of CIDRs (e.g. [10.0.0.0/24, fd00::/64]), '
                    'got a string'),
])
def test_the_renderer_refuses_a_bad_cidr_naming_the_variable(node_cidrs, message):
    with pytest.raises(m.RenderError) as caught:
        m.make_deployment(namespace='openstack', node_roles=NODE_ROLES, node_cidrs=node_cidrs)
    assert message in str(caught.value)


def policies(service, node_cidrs):
    deployment = m.make_deployment(namespace='openstack', node_roles=NODE_ROLES, node_cidrs=node_cidrs)
    phases = m.render_service_offline(CATALOG[service], deployment, scripts={})
    return dict((o['metadata']['name'], o) for phase in phases for o in phase['objects'] if o['kind'] == 'NetworkPolicy')


@pytest.mark.parametrize('service, policy', [('rabbitmq', 'rabbitmq-server'), ('mariadb', 'mariadb-server'),
                                             ('memcached', 'memcached-server')])
def test_namespace_only_ports_admit_the_node_cidrs(service, policy):
    """nova-compute and the Neutron agents run with host networking: their packets come from the node addresses."""
    cidrs = ['10.0.0.0/24', 'fd00::/64']
    rules = policies(service, cidrs)[policy]['spec']['ingress']
    blocks = [s['ipBlock']['cidr'] for r in rules for s in r.get('from') or [] if 'ipBlock' in s]
    assert blocks == cidrs
    without = policies(service, [])[policy]['spec']['ingress']
    assert not [s for r in without for s in r.get('from') or [] if 'ipBlock' in s]
