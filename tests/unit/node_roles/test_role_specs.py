"""host_prep and cluster_nodes agree with the modules they call and with the catalog's node
roles (tests/unit/roles keeps every role's argument specs equal to its defaults)."""
import pathlib

import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep import defaults

REPO = pathlib.Path(__file__).resolve().parents[3]


def _options(role):
    return yaml.safe_load((REPO / 'roles' / role / 'meta/argument_specs.yml').read_text())['argument_specs']['main']['options']


def test_host_prep_defaults_match_the_module():
    role_defaults = yaml.safe_load((REPO / 'roles/host_prep/defaults/main.yml').read_text())
    assert role_defaults['host_prep_modules_load_file'] == defaults.MODULES_LOAD_FILE
    assert role_defaults['host_prep_sysctl_file'] == defaults.SYSCTL_FILE
    assert _options('host_prep')['host_prep_roles']['choices'] == list(defaults.ROLES)


def test_both_roles_read_the_catalogs_node_roles():
    host_prep = yaml.safe_load((REPO / 'roles/host_prep/defaults/main.yml').read_text())['host_prep_node_roles']
    cluster_nodes = yaml.safe_load((REPO / 'roles/cluster_nodes/defaults/main.yml').read_text())['cluster_nodes_node_roles']
    assert host_prep == cluster_nodes
    assert 'openstack_node_roles' in host_prep and "/../catalog/files/node_roles.yml'" in host_prep


def test_node_roles_of_the_catalog_are_the_roles_node_prep_knows():
    catalog = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
    assert sorted(catalog) == sorted(defaults.ROLES)
