"""Each role's meta/argument_specs.yml documents exactly its defaults, with the same values.

Drift between defaults and argument specs is how roles end up accepting variables nobody
documented, or documenting defaults they no longer have.
"""
import pathlib

import pytest
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[3] / 'roles'
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if (p / 'tasks').is_dir())


def _load(path):
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def test_roles_exist():
    assert ROLE_DIRS, 'no roles found under %s' % ROLES


@pytest.mark.parametrize('role', ROLE_DIRS, ids=lambda p: p.name)
def test_role_has_argument_specs(role):
    specs = _load(role / 'meta' / 'argument_specs.yml')
    assert 'main' in specs.get('argument_specs', {}), '%s: meta/argument_specs.yml needs a main entry point' % role.name


@pytest.mark.parametrize('role', ROLE_DIRS, ids=lambda p: p.name)
def test_defaults_equal_argument_specs(role):
    defaults = _load(role / 'defaults' / 'main.yml')
    specs = _load(role / 'meta' / 'argument_specs.yml').get('argument_specs', {}).get('main', {})
    options = specs.get('options') or {}
    assert set(defaults) <= set(options), '%s: defaults without a spec: %s' % (role.name, sorted(set(defaults) - set(options)))
    for name, value in defaults.items():
        spec = options[name]
        assert spec.get('default') == value, '%s: %s defaults to %r but its spec says %r' % (role.name, name, value, spec.get('default'))
    for name, spec in options.items():
        if name not in defaults:
            assert spec.get('required'), '%s: option %s has no default and is not required' % (role.name, name)


@pytest.mark.parametrize('role', ROLE_DIRS, ids=lambda p: p.name)
def test_defaults_are_role_prefixed(role):
    defaults = _load(role / 'defaults' / 'main.yml')
    prefix = role.name + '_'
    wrong = [name for name in defaults if not name.startswith(prefix)]
    assert not wrong, '%s: defaults must start with %s: %s' % (role.name, prefix, wrong)
