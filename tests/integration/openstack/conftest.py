"""Fixtures of the OpenStack validation tier (see docs/openstack-validation.md).

* ``openstack_venv``: the real OpenStack service code of the targeted release, from PyPI,
  built (or reused: a stamp marks a finished build) by ``scripts/openstack_venv.sh`` in
  ``.venv-openstack``, with the option data of every rendered file.
* ``checkov_venv``: the manifest scanner, ``scripts/checkov_venv.sh`` → ``.venv-checkov``.
* ``cloud``: the service catalog with generated credentials, rendering config files and
  manifests through the collection's own renderers (the path ``k8s_openstack_service`` takes).

Every test here is marked ``openstack``: ``pytest -m openstack`` runs the tier alone,
``-m "not openstack"`` skips it. Both venvs live outside the project venv: their pins
clash with it, and the tests only call into them through subprocesses.
"""
import os
import pathlib
import subprocess
import time

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import credentials
from ansible_collections.openstack_k8s.deploy.plugins.module_utils import service_users
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini, manifests

REPO = pathlib.Path(__file__).resolve().parents[3]
RELEASE = '2026.2'
CATALOG_DIR = REPO / 'roles' / 'catalog' / 'files' / 'services'
NODE_ROLES_FILE = REPO / 'roles' / 'catalog' / 'files' / 'node_roles.yml'
NAMESPACE = 'openstack'
TIMINGS = {}


def pytest_configure(config):
    config.addinivalue_line('markers', 'openstack: the OpenStack validation tier (real service code from PyPI)')


def pytest_collection_modifyitems(items):
    here = pathlib.Path(__file__).resolve().parent
    for item in items:
        if here in pathlib.Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.openstack)
            item.add_marker(pytest.mark.slow)


def _build(script, venv, what):
    started = time.monotonic()
    env = dict(os.environ, OPENSTACK_VENV=str(venv)) if 'openstack' in script else dict(os.environ, CHECKOV_VENV=str(venv))
    result = subprocess.run([str(REPO / 'scripts' / script)], capture_output=True, text=True, env=env, check=False)
    TIMINGS['%s venv' % what] = round(time.monotonic() - started, 1)
    if result.returncode != 0:
        noise = "is ignored: it is neither a file nor a directory"  # pip's note on absent local indexes
        output = '\n'.join(line for line in (result.stdout + result.stderr).splitlines() if noise not in line)
        pytest.fail('scripts/%s could not build %s (rc %d); it needs the package index once, later runs '
                    'reuse the venv:\n%s' % (script, venv, result.returncode, output[-6000:]), pytrace=False)
    return venv


class Venv(object):
    """A venv the tests call into through subprocesses."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.bin = self.path / 'bin'
        self.python = str(self.bin / 'python')

    def env(self, **extra):
        """The environment of a process of this venv: its bin first on PATH, no inherited OS_* variables."""
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('OS_') and k != 'PYTHONPATH')
        env['PATH'] = '%s:%s' % (self.bin, env.get('PATH', '/usr/bin:/bin'))
        env.update(extra)
        return env

    def versions(self, *names):
        """``{distribution: version}`` as installed in this venv."""
        code = ('import importlib.metadata as m, json, sys\n'
                'print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))')
        result = subprocess.run([self.python, '-c', code] + list(names), capture_output=True, text=True, check=True)
        return yaml.safe_load(result.stdout)


@pytest.fixture(scope='session')
def openstack_venv():
    """The OpenStack release's service code (built once, then reused)."""
    venv = Venv(_build('openstack_venv.sh', pathlib.Path(os.environ.get('OPENSTACK_VENV', REPO / '.venv-openstack')),
                       'OpenStack'))
    venv.option_data = venv.path / 'option-data'
    venv.client = Venv(venv.path / 'client')  # the OpenStack CLI and openstacksdk, without service plugins
    return venv


@pytest.fixture(scope='session')
def checkov_venv():
    """The manifest scanner's venv (built once, then reused)."""
    return Venv(_build('checkov_venv.sh', pathlib.Path(os.environ.get('CHECKOV_VENV', REPO / '.venv-checkov')),
                       'checkov'))


# Credential types the catalog declares, as the credentials generator names them.
_GENERATOR_TYPES = {'hex_key': 'hex', 'erlang_cookie': 'password'}


class Cloud(object):
    """The catalog rendered as ``k8s_openstack_service`` renders it, with generated credentials."""

    def __init__(self, general=None):
        with open(NODE_ROLES_FILE, encoding='utf-8') as handle:
            self.node_roles = yaml.safe_load(handle)
        self.catalog = cat.load_directory(str(CATALOG_DIR), self.node_roles)
        self.general = dict(general or {})
        self.credentials = {}
        for entry in self.catalog.values():
            for secret in entry.get('secrets') or []:
                kind = _GENERATOR_TYPES.get(secret['type'], secret['type'])
                self.credentials.setdefault(secret['name'], credentials.generate(kind))

    def openstack_services(self):
        """Catalog names of the OpenStack services (not the infrastructure)."""
        return sorted(n for n, e in self.catalog.items() if e.get('kind') == 'openstack')

    def tree(self, name, overrides=None):
        """The service's config tree: catalog defaults merged with ``{node_role: {file: {section: {key: value}}}}``.

        The overrides go through ``service_config_tree`` in the operator's shape
        (``openstack_config_overrides``: ``{node_role: {service: {file: ...}}}``).
        """
        operator = dict((role, {name: files}) for role, files in (overrides or {}).items())
        return manifests.service_config_tree(self.catalog[name], operator)

    def options(self):
        return {'namespace': NAMESPACE, 'variables': {'release': RELEASE, 'node_roles': self.node_roles}}

    def values(self):
        """General values (deployment defaults + ``general``) and credentials, as the renderer substitutes them."""
        general = manifests.make_deployment(namespace=NAMESPACE, release=RELEASE, node_roles=self.node_roles,
                                            general=self.general)['general']
        values = dict(general)
        values.update(self.credentials)
        return values

    def config_files(self, name, overrides=None):
        """``{node_role: {file: text}}`` of one service, rendered by ``render/ini.py``."""
        entry = self.catalog[name]
        values = self.values()
        values.update(service_users.user_values(entry, self.credentials))
        return ini.render_config(self.tree(name, overrides), values, formats=entry.get('config_formats'),
                                 prefix='%s: ' % name)

    def oslo_files(self, name):
        """``[(node_role, file)]`` of the service's oslo.config files (other formats are not oslo.config's)."""
        entry = self.catalog[name]
        formats = entry.get('config_formats') or {}
        return [(role, fname) for role, files in sorted((entry.get('config') or {}).items())
                for fname in sorted(files) if formats.get(fname, 'oslo') == 'oslo']

    def phases(self, name, overrides=None):
        """The manifests of one service in apply phases (``render_service``), as the module renders them."""
        return runner.default_render(self.catalog[name], self.general, self.tree(name, overrides), self.credentials,
                                     self.options())


@pytest.fixture(scope='session')
def cloud():
    """The whole catalog with generated credentials and the default general values."""
    return Cloud()


@pytest.fixture(scope='session')
def cloud_factory():
    """``make(general=None)``: a :class:`Cloud` with some general values replaced (hosts, URLs)."""
    return Cloud


@pytest.fixture(scope='session')
def tier_timings():
    """Seconds per step of this tier, printed at the end of the session (docs/openstack-validation.md)."""
    yield TIMINGS
    if TIMINGS:
        lines = ['%s: %.1fs' % (k, v) for k, v in sorted(TIMINGS.items())]
        print('\nOpenStack validation tier timings:\n  ' + '\n  '.join(lines))
