# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config trees to file text: deterministic layout, $VAR substitution, failures that name the place."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini

VALUES = {'DB_HOST': 'db.example', 'DB_PORT': '3306', 'GLANCE_DB_PASSWORD': 's3cr$t', 'REGION_NAME': 'RegionOne'}

CASES = [
    ('DEFAULT first, then sections and keys sorted',
     {'database': {'b': 1, 'a': 2}, 'DEFAULT': {'z': 'x', 'debug': False}, 'cache': {'enabled': True}}, 'oslo', (),
     '[DEFAULT]\ndebug = false\nz = x\n\n[cache]\nenabled = true\n\n[database]\na = 2\nb = 1\n'),
    ('lists are comma separated, None is left out',
     {'ml2': {'mechanism_drivers': ['openvswitch', 'l2population'], 'unset': None}}, 'oslo', (),
     '[ml2]\nmechanism_drivers = openvswitch,l2population\n'),
    ('both reference forms; a generated $ is doubled for oslo.config',
     {'database': {'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@${DB_HOST}:$DB_PORT/glance'}}, 'oslo', (),
     '[database]\nconnection = mysql+pymysql://glance:s3cr$$t@db.example:3306/glance\n'),
    ('plain ini inserts values verbatim',
     {'mysqld': {'wsrep_sst_auth': 'mariabackup:$GLANCE_DB_PASSWORD'}}, 'ini', (),
     '[mysqld]\nwsrep_sst_auth = mariabackup:s3cr$t\n'),
    ('lower-case references belong to oslo.config, $$ stays escaped',
     {'DEFAULT': {'lock_path': '$state_path/lock', 'price': '$$5'}}, 'oslo', (),
     '[DEFAULT]\nlock_path = $state_path/lock\nprice = $$5\n'),
    ('kept names stay placeholders',
     {'database': {'connection': 'mysql://g:$GLANCE_DB_PASSWORD@$DB_HOST/g'}}, 'oslo', ('GLANCE_DB_PASSWORD',),
     '[database]\nconnection = mysql://g:$GLANCE_DB_PASSWORD@db.example/g\n'),
    ('dotted keys for rabbitmq.conf',
     {'DEFAULT': {'default_user': 'admin'}, 'listeners': {'tcp.default': 5672},
      'cluster_formation': {'peer_discovery_backend': 'classic_config'}}, 'dotted', (),
     'default_user = admin\ncluster_formation.peer_discovery_backend = classic_config\nlisteners.tcp.default = 5672\n'),
    ('python literals for Django settings',
     {'DEFAULT': {'DEBUG': False, 'ALLOWED_HOSTS': ['*'], 'SECRET_KEY': "$GLANCE_DB_PASSWORD'"},
      'OPENSTACK_API_VERSIONS': {'identity': 3}}, 'python', (),
     "# Rendered by openstack_k8s.deploy from the config tree; do not edit.\n"
     "ALLOWED_HOSTS = ['*']\nDEBUG = False\nSECRET_KEY = \"s3cr$t'\"\nOPENSTACK_API_VERSIONS = {'identity': 3}\n"),
    ('empty section is still written', {'oslo_concurrency': {}}, 'oslo', (), '[oslo_concurrency]\n'),
]


@pytest.mark.parametrize('tree, fmt, keep, expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_render_file(tree, fmt, keep, expected):
    assert ini.render_file(tree, VALUES, 'glance-api.conf', keep, fmt) == expected


def test_rendering_is_deterministic_whatever_the_input_order():
    one = {'b': {'y': 1, 'x': 2}, 'a': {'k': 'v'}}
    two = {'a': {'k': 'v'}, 'b': {'x': 2, 'y': 1}}
    assert ini.render_file(one, {}) == ini.render_file(two, {})


ERRORS = [
    ('unresolved reference names file, section, key and variable',
     {'keystone_authtoken': {'password': '$GLANCE_KEYSTONE_PASSWORD'}}, 'oslo',
     'glance-api.conf [keystone_authtoken] password: $GLANCE_KEYSTONE_PASSWORD is not defined'),
    ('newline in a value', {'DEFAULT': {'banner': 'a\nb'}}, 'oslo', 'glance-api.conf [DEFAULT] banner: option values must be one line'),
    ('mapping as a value', {'DEFAULT': {'x': {'y': 1}}}, 'oslo', 'a mapping is not an option value'),
    ('section that is not a mapping', {'DEFAULT': ['x']}, 'oslo', 'glance-api.conf [DEFAULT]: must be {key: value}'),
    ('unknown format', {'DEFAULT': {}}, 'toml', "unknown format 'toml'"),
]


@pytest.mark.parametrize('tree, fmt, message', [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_render_errors(tree, fmt, message):
    with pytest.raises(ini.RenderError) as exc:
        ini.render_file(tree, VALUES, 'glance-api.conf', (), fmt)
    assert message in str(exc.value)


def test_error_never_shows_a_value():
    values = {'NEWLINE_PASSWORD': 'line1\nline2'}
    with pytest.raises(ini.RenderError) as exc:
        ini.render_file({'a': {'password': '$NEWLINE_PASSWORD'}}, values, 'f.conf')
    assert 'line1' not in str(exc.value)
    assert '$NEWLINE_PASSWORD' in str(exc.value)


def test_render_config_per_role_with_prefix():
    config = {'network': {'l3_agent.ini': {'DEFAULT': {'interface_driver': 'openvswitch'}}},
              'controller': {'neutron.conf': {'DEFAULT': {'region': '$REGION_NAME'}}}}
    out = ini.render_config(config, VALUES)
    assert out == {'controller': {'neutron.conf': '[DEFAULT]\nregion = RegionOne\n'},
                   'network': {'l3_agent.ini': '[DEFAULT]\ninterface_driver = openvswitch\n'}}
    with pytest.raises(ini.RenderError) as exc:
        ini.render_config({'network': {'l3_agent.ini': {'DEFAULT': {'x': '$MISSING'}}}}, VALUES, prefix='neutron: ')
    assert 'neutron: network/l3_agent.ini [DEFAULT] x: $MISSING is not defined' in str(exc.value)


@pytest.mark.parametrize('values, expected', [
    ({'A': 'x', 'B': '$A/y', 'C': '${B}/z'}, {'A': 'x', 'B': 'x/y', 'C': 'x/y/z'}),
    ({'URL': 'http://keystone.$DOMAIN:5000', 'DOMAIN': 'example.org'},
     {'URL': 'http://keystone.example.org:5000', 'DOMAIN': 'example.org'}),
    ({'N': 3}, {'N': 3}),
])
def test_resolve_values(values, expected):
    assert ini.resolve_values(values) == expected


def test_resolve_values_cycle_is_named():
    with pytest.raises(ini.RenderError) as exc:
        ini.resolve_values({'A': '$B', 'B': '$A'})
    assert 'general values refer to each other in a cycle: A -> B -> A' in str(exc.value)


def test_merge_trees():
    base = {'f': {'s': {'a': 1, 'b': 2}}, 'g': {'t': {'c': 3}}}
    override = {'f': {'s': {'b': 20, 'a': None}, 'new': {'d': 4}}}
    assert ini.merge_trees(base, override) == {'f': {'s': {'b': 20}, 'new': {'d': 4}}, 'g': {'t': {'c': 3}}}
    assert base['f']['s'] == {'a': 1, 'b': 2}
