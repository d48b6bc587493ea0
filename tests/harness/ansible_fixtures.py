"""Real ``ansible-playbook`` runs of the collection, as a pytest plugin.

``run_playbook`` starts ``ansible-playbook`` in a subprocess with the checkout on
``ANSIBLE_COLLECTIONS_PATH`` (through ``.collections``) and the virtual environment's
interpreter, and returns a :class:`PlaybookResult` with the exit code, the output and
the per-host recap, so tests can assert ``changed=0`` on a second run.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / '.collections'
RECAP_RE = re.compile(r'^(?P<host>\S+)\s+:\s+(?P<stats>(?:\w+=\d+\s*)+)$')


class PlaybookResult:
    """Outcome of one ansible-playbook run."""

    def __init__(self, args, rc, stdout, stderr):
        self.args = args
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.recap = parse_recap(stdout)

    @property
    def output(self):
        return self.stdout + self.stderr

    def changed(self, host=None):
        """Changed task count for ``host``, or summed over all hosts."""
        hosts = [host] if host else list(self.recap)
        return sum(self.recap.get(h, {}).get('changed', 0) for h in hosts)

    def failed(self):
        return sum(stats.get('failed', 0) + stats.get('unreachable', 0) for stats in self.recap.values())

    def __repr__(self):
        return 'PlaybookResult(rc=%s, recap=%s)' % (self.rc, self.recap)

    def explain(self, tail=6000):
        """The end of the output, for assertion messages."""
        return '$ %s\nrc=%s\n%s\n%s' % (' '.join(self.args), self.rc, self.stdout[-tail:], self.stderr[-tail:])


def parse_recap(stdout):
    """{host: {ok: n, changed: n, ...}} from the PLAY RECAP of ``stdout``."""
    recap = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith('PLAY RECAP'):
            in_recap = True
            continue
        if in_recap:
            match = RECAP_RE.match(line.strip())
            if match:
                recap[match.group('host')] = dict((k, int(v)) for k, v in
                                                  (item.split('=') for item in match.group('stats').split()))
    return recap


def ansible_env(extra=None):
    """Environment for an ansible-playbook run of this checkout."""
    env = dict(os.environ)
    venv_bin = str(pathlib.Path(sys.executable).parent)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS_PATH),
        'ANSIBLE_CONFIG': str(REPO_ROOT / 'ansible.cfg'),
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_HOST_KEY_CHECKING': '0',
        'ANSIBLE_LOCAL_TEMP': str(REPO_ROOT / 'tests' / 'output' / 'ansible-tmp'),
        'PATH': venv_bin + os.pathsep + env.get('PATH', ''),
        'PYTHONPATH': os.pathsep.join([str(REPO_ROOT / 'tests'), str(COLLECTIONS_PATH)]),
    })
    if extra:
        env.update(extra)
    return env


def run_ansible_playbook(playbook, inventory, extra_vars=None, check=False, diff=False, tags=None,
                         skip_tags=None, limit=None, verbosity=0, env=None, timeout=1200, extra_args=()):
    """Run ansible-playbook; ``playbook`` relative to the repository or absolute."""
    playbook = pathlib.Path(playbook)
    if not playbook.is_absolute():
        playbook = REPO_ROOT / playbook
    args = [str(pathlib.Path(sys.executable).parent / 'ansible-playbook'), str(playbook), '-i', str(inventory)]
    if extra_vars:
        args += ['-e', json.dumps(extra_vars)]
    if check:
        args.append('--check')
    if diff:
        args.append('--diff')
    if tags:
        args += ['--tags', tags if isinstance(tags, str) else ','.join(tags)]
    if skip_tags:
        args += ['--skip-tags', skip_tags if isinstance(skip_tags, str) else ','.join(skip_tags)]
    if limit:
        args += ['--limit', limit]
    if verbosity:
        args.append('-' + 'v' * verbosity)
    args += list(extra_args)
    proc = subprocess.run(args, cwd=str(REPO_ROOT), env=ansible_env(env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return PlaybookResult(args, proc.returncode, proc.stdout, proc.stderr)


def write_inventory(directory, hosts=None, group_vars=None):
    """Write a YAML inventory: ``hosts`` maps group → {host: hostvars}; ``group_vars`` are vars of ``all``.

    Every host runs locally with the test interpreter.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base_vars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    base_vars.update(group_vars or {})
    children = {}
    for group, members in (hosts or {}).items():
        children[group] = {'hosts': dict((name, hv or {}) for name, hv in members.items())}
    inventory = {'all': {'vars': base_vars, 'hosts': {'localhost': None}, 'children': children}}
    path = directory / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory, sort_keys=True))
    return path


@pytest.fixture(name='run_playbook')
def run_playbook_fixture():
    """Callable running ansible-playbook of this checkout; see :func:`run_ansible_playbook`."""
    return run_ansible_playbook


@pytest.fixture(name='make_inventory')
def make_inventory_fixture(tmp_path):
    """Callable writing an inventory into the test's temporary directory."""
    def _make(hosts=None, group_vars=None, name='inventory'):
        return write_inventory(tmp_path / name, hosts=hosts, group_vars=group_vars)
    return _make
