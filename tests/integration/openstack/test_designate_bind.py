"""BIND 9 of Designate's pool: its rendered start script and named.conf, checked by BIND's own tools.

The designate-bind StatefulSet's container writes the rndc key statement from the
credentials Secret, then execs named with the named.conf of its ConfigMap; designate-worker
writes the same statement before it starts. Here both scripts, taken from the rendered
manifests, run up to their ``exec`` with the pod's files placed in a scratch directory
(the credential as the projected file holds it, as generated), then:

* ``named-checkconf`` (Debian's bind9-utils, the BIND 9.18 parser) accepts the named.conf
  with the key included, and refuses broken variants;
* ``rndc`` reads each key file: with a good key it gets as far as connecting (refused:
  no server here), with a bad one it stops at the key ("bad base64 encoding").
"""
import pathlib
import shutil
import socket
import subprocess

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests

NEEDS = [tool for tool in ('named-checkconf', 'rndc') if not shutil.which(tool)]
pytestmark = pytest.mark.skipif(bool(NEEDS), reason='bind9-utils is not installed (scripts/bootstrap.sh test installs it)')

# (case id, (old, new) in named.conf, what named-checkconf says)
BROKEN = [
    ('misspelled option', ('allow-new-zones yes;', 'allow-new-zone yes;'), "unknown option 'allow-new-zone'"),
    ('controls naming an unknown key', ('keys { "designate"; }', 'keys { "rndc-key"; }'), 'rndc-key'),
    ('missing semicolon', ('recursion no;', 'recursion no'), "missing ';'"),
]


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _pod(cloud, service, workload, root, credentials):
    """(script before its exec, the exec line, {mount path: local path}) of one rendered workload."""
    objects = manifests.all_objects(cloud.phases(service))
    by_name = dict(((o['kind'], o['metadata']['name']), o) for o in objects)
    spec = [o for o in objects if o['kind'] in ('StatefulSet', 'Deployment') and o['metadata']['name'] == workload][0]
    pod = spec['spec']['template']['spec']
    container = pod['containers'][0]
    volumes = dict((v['name'], v) for v in pod.get('volumes') or [])
    places = {}
    for mount in container['volumeMounts']:
        local = root / mount['name']
        source = volumes.get(mount['name'], {})
        local.mkdir(exist_ok=True)
        if 'configMap' in source:
            data = by_name[('ConfigMap', source['configMap']['name'])]['data']
            for item in source['configMap']['items']:
                (local / item['path']).write_text(data[item['key']], encoding='utf-8')
        elif source.get('secret', {}).get('secretName') == 'openstack-credentials':
            for item in source['secret']['items']:
                (local / item['path']).write_text(credentials[item['key']], encoding='utf-8')
        elif 'subPath' in mount:
            continue
        places[mount['mountPath']] = str(local)
    script = container['command'][2]
    before, _sep, after = script.partition('\nexec ')
    assert after, 'the script of %s ends in no exec' % workload
    return before + '\n', 'exec ' + after.strip(), places


def _localise(text, places):
    for index, path in enumerate(sorted(places, key=len, reverse=True)):
        text = text.replace(path, '@@%d@@' % index)
    for index, path in enumerate(sorted(places, key=len, reverse=True)):
        text = text.replace('@@%d@@' % index, places[path])
    return text


@pytest.fixture(scope='module')
def started(cloud, tmp_path_factory):
    """Both start scripts run up to their exec; returns what they left behind."""
    out = {}
    for service, workload in (('designate-bind', 'designate-bind-server'), ('designate', 'designate-worker')):
        root = tmp_path_factory.mktemp(workload)
        before, exec_line, places = _pod(cloud, service, workload, root, cloud.credentials)
        result = subprocess.run(['/bin/sh', '-ec', _localise(before, places)], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        out[workload] = {'root': root, 'exec': exec_line, 'places': places}
    bind = out['designate-bind-server']
    conf_path = bind['exec'].split(' -c ')[1].split()[0]
    local_conf = pathlib.Path(_localise(conf_path, bind['places']))
    local_conf.write_text(_localise(local_conf.read_text(encoding='utf-8'), bind['places']), encoding='utf-8')
    bind['conf'] = local_conf
    return out


def test_bind_runs_named_in_the_foreground_with_the_shipped_config(started):
    assert started['designate-bind-server']['exec'] == 'exec /usr/sbin/named -g -c /etc/bind/openstack-k8s/named.conf'
    assert started['designate-worker']['exec'] == 'exec designate-worker'


def test_named_conf_is_valid_for_bind(started):
    conf = started['designate-bind-server']['conf']
    result = subprocess.run(['named-checkconf', str(conf)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize('case_id, change, expected', BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_named_conf_is_refused(started, tmp_path, case_id, change, expected):
    text = started['designate-bind-server']['conf'].read_text(encoding='utf-8')
    assert change[0] in text, case_id
    broken = tmp_path / 'named.conf'
    broken.write_text(text.replace(*change), encoding='utf-8')
    result = subprocess.run(['named-checkconf', str(broken)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr, result.stdout + result.stderr


KEY_FILES = [('designate-bind-server', '/run/named/rndc.key'), ('designate-worker', '/run/designate/rndc.key')]


@pytest.mark.parametrize('workload, key_file', KEY_FILES)
def test_rndc_reads_the_written_key(started, workload, key_file):
    local = pathlib.Path(_localise(key_file, started[workload]['places']))
    assert oct(local.stat().st_mode & 0o777) == '0o600'
    result = subprocess.run(['rndc', '-k', str(local), '-s', '127.0.0.1', '-p', str(_free_port()), 'status'],
                            capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    # The key parsed: rndc went on to connect, and nobody listens.
    assert 'connect failed' in output and 'base64' not in output, output


def test_both_sides_hold_the_same_key(started, cloud):
    bind = pathlib.Path(_localise('/run/named/rndc.key', started['designate-bind-server']['places']))
    worker = pathlib.Path(_localise('/run/designate/rndc.key', started['designate-worker']['places']))
    assert bind.read_text(encoding='utf-8') == worker.read_text(encoding='utf-8')
    assert cloud.credentials['DESIGNATE_RNDC_KEY'] in bind.read_text(encoding='utf-8')


def test_a_key_bind_cannot_decode_is_refused(started, tmp_path):
    """The check above can fail: urlsafe base64 (what a fernet_key credential would be) is not BIND's."""
    text = pathlib.Path(_localise('/run/named/rndc.key', started['designate-bind-server']['places'])).read_text(
        encoding='utf-8')
    bad = tmp_path / 'rndc.key'
    secret = text.split('secret "')[1].split('"')[0]
    bad.write_text(text.replace(secret, secret[:-2] + '-_'), encoding='utf-8')
    result = subprocess.run(['rndc', '-k', str(bad), '-s', '127.0.0.1', '-p', str(_free_port()), 'status'],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and 'bad base64' in result.stdout + result.stderr
