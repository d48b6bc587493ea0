"""Every dnsmasq the catalog runs (Ironic's DHCP/TFTP helper), checked by dnsmasq itself.

The component's config file is rendered from the catalog exactly as for a deployment
(catalog defaults merged with operator overrides), and ``dnsmasq --test`` parses it with
the component's own command-line arguments (``$(VAR)`` of the pod's environment filled in
as Kubernetes would). The second table gives deliberately broken overrides, each of which
dnsmasq must refuse: the check can fail. dnsmasq comes from Debian's ``dnsmasq-base``
(``scripts/bootstrap.sh`` installs it for the tests).
"""
import os
import re
import shutil
import subprocess

import pytest

# What Kubernetes puts into the pod's environment for a downward-API field.
FIELD_VALUES = {'status.hostIP': '192.0.2.10', 'status.podIP': '192.0.2.10', 'spec.nodeName': 'bm-1'}
_VAR = re.compile(r'\$\(([A-Za-z_][A-Za-z0-9_]*)\)')


def _dnsmasq_components(cloud):
    """``[(service, component, node role, {file: mount path}, args)]`` of every component running dnsmasq."""
    found = []
    for name in sorted(cloud.catalog):
        for cname, comp in sorted((cloud.catalog[name].get('components') or {}).items()):
            command = list(comp.get('command') or []) + list(comp.get('args') or [])
            if not command or command[0] != 'dnsmasq':
                continue
            env = {}
            for item in comp.get('env') or []:
                env[item['name']] = FIELD_VALUES[item['field']] if 'field' in item else item.get('value', '')
            args = [_VAR.sub(lambda match, env=env: env[match.group(1)], arg) for arg in command[1:]]
            found.append((name, cname, comp.get('node_role') or 'controller', comp.get('config_files') or {}, args))
    return found


@pytest.fixture(scope='module')
def dnsmasq():
    path = shutil.which("dnsmasq") or next((p for p in ("/usr/sbin/dnsmasq",) if os.path.exists(p)), None)
    if not path:
        pytest.fail('dnsmasq is not installed: apt-get install dnsmasq-base (scripts/bootstrap.sh test installs it)',
                    pytrace=False)
    return path


def _test(dnsmasq, cloud, tmp_path, component, overrides=None):
    name, _cname, role, config_files, args = component
    rendered = cloud.config_files(name, overrides)[role]
    mapped = []
    for fname, mount in sorted(config_files.items()):
        path = tmp_path / fname
        path.write_text(rendered[fname], encoding='utf-8')
        mapped.append((mount, str(path)))
    # The files are mounted where the command names them: point those arguments at the rendered copies.
    for index, arg in enumerate(args):
        for mount, path in mapped:
            args[index] = arg.replace(mount, path)
    result = subprocess.run([dnsmasq, '--test'] + args, capture_output=True, text=True, check=False, timeout=30)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_the_catalog_runs_a_dnsmasq(cloud):
    """Ironic's PXE helper is found: the checks below are not vacuous."""
    assert [(c[0], c[1]) for c in _dnsmasq_components(cloud)] == [('ironic', 'dnsmasq')]


def test_rendered_dnsmasq_config_and_arguments_are_valid(dnsmasq, cloud, tmp_path):
    for component in _dnsmasq_components(cloud):
        rc, output = _test(dnsmasq, cloud, tmp_path, component)
        assert rc == 0 and 'syntax check OK' in output, '%s %s: %s' % (component[0], component[1], output)


BROKEN = [
    # (case id, override of dnsmasq.conf's options, what dnsmasq says)
    ('not an address', {'dhcp-range': '10.42.0.300,10.42.0.400'}, 'bad dhcp-range'),
    ('bad lease time', {'dhcp-range': '10.42.0.100,10.42.0.200,255.255.255.0,ten'}, 'bad dhcp-range'),
    ('unknown option', {'dhcp-rnage': '10.42.0.100,10.42.0.200'}, 'bad option'),
    ('port not a number', {'port': 'sixty-seven'}, 'error at line'),
]


@pytest.mark.parametrize('options, expected', [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_dnsmasq_config_is_refused(dnsmasq, cloud, tmp_path, options, expected):
    component = _dnsmasq_components(cloud)[0]
    rc, output = _test(dnsmasq, cloud, tmp_path, component, {component[2]: {'dnsmasq.conf': {'DEFAULT': options}}})
    assert rc != 0 and expected in output, output
