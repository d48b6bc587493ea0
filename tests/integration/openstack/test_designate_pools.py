"""Designate's pool: the rendered pool-update Job, run against the real designate-manage.

The catalog ships pools.yaml (roles/catalog/files/designate/) in the designate-scripts
ConfigMap, and the ``pool-update`` post Job fills in the designate-mdns address and the
deployment's names, then runs ``designate-manage pool update``. Here the Job's own script,
taken from the rendered manifest, runs with the files the pod would mount (the ConfigMap's
pools.yaml, the config Secret's designate.conf) and only the cluster replaced: ``getent``
answers the designate-mdns Service name with an address, and the config override points
RabbitMQ at oslo.messaging's in-process ``fake://`` transport. The real designate-manage
then parses the command line, loads the file and asks designate-central for the pool,
which nobody serves: "No response received from designate-central" is the proof that
everything before the RPC was accepted. The file the script wrote is then checked with
Designate's own loader (``tests/openstack/check_pools.py``), and broken variants must be
refused, so the check can fail.
"""
import base64
import json
import pathlib
import subprocess

import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests

REPO = pathlib.Path(__file__).resolve().parents[3]
MDNS_ADDRESS = '10.96.0.53'
FAKE_RPC = {'controller': {'designate.conf': {'DEFAULT': {'transport_url': 'fake://', 'rpc_response_timeout': 1}}}}

# (case id, change of the Job's script, text expected in its output, exit code)
RUNS = [
    ('the Job as rendered', None, 'No response received from designate-central', 1),
    ('a misspelled subcommand', ('pool update', 'pool updte'), "invalid choice: 'updte'", 2),
]

# (case id, (old, new) in the written pools.yaml, expected finding)
BROKEN = [
    ('primary not an address', (MDNS_ADDRESS, 'mdns primary!'), 'is not IP address or host name'),
    ('unknown backend', ('type: bind9', 'type: bind10'), 'Unable to find designate backend driver type: bind10'),
    ('NS record without the final dot', ('ns1.openstack.local."', 'ns1.openstack.local"'),
     'does not end with a dot'),
    ('port out of range', ('port: 5354', 'port: 70000'), 'Value too high for port'),
]


def _job(phases):
    jobs = [o for o in manifests.all_objects(phases) if o['kind'] == 'Job'
            and o['metadata']['labels']['app.kubernetes.io/component'] == 'pool-update']
    assert len(jobs) == 1
    return jobs[0]


def _stub_getent(directory):
    stub = directory / 'getent'
    stub.write_text('#!/bin/sh\n'
                    '[ "$1" = hosts ] && [ "$2" = designate-mdns.openstack.svc.cluster.local ] || exit 2\n'
                    'echo "%s       $2"\n' % MDNS_ADDRESS, encoding='utf-8')
    stub.chmod(0o755)


@pytest.fixture(scope='module')
def pod(cloud, tmp_path_factory):
    """The pool-update Job's script, environment and mounted files, placed in a scratch directory."""
    root = tmp_path_factory.mktemp('pool-update')
    phases = cloud.phases('designate', FAKE_RPC)
    job = _job(phases)
    spec = job['spec']['template']['spec']
    container = spec['containers'][0]
    volumes = dict((v['name'], v) for v in spec['volumes'])
    objects = dict(((o['kind'], o['metadata']['name']), o) for o in manifests.all_objects(phases))
    script = container['command'][2]
    places = []
    for mount in container['volumeMounts']:
        source = volumes[mount['name']]
        local = root / mount['name']
        if 'configMap' in source:
            data = objects[('ConfigMap', source['configMap']['name'])]['data']
            local.mkdir()
            for item in source['configMap']['items']:
                (local / item['path']).write_text(data[item['key']], encoding='utf-8')
        elif 'secret' in source and mount.get('subPath'):
            data = objects[('Secret', source['secret']['secretName'])]['data']
            local.mkdir(exist_ok=True)
            local = local / mount['subPath']
            local.write_bytes(base64.b64decode(data[mount['subPath']]))
        elif 'emptyDir' in source:
            local.mkdir()
        else:
            continue
        places.append((mount['mountPath'], str(local)))
    # Longest mount path first, through tokens: a local path may itself contain /tmp.
    places.sort(key=lambda place: -len(place[0]))
    for index, (mount_path, _local) in enumerate(places):
        script = script.replace(mount_path, '@@MOUNT%d@@' % index)
    for index, (_mount_path, local) in enumerate(places):
        script = script.replace('@@MOUNT%d@@' % index, local)
    bin_dir = root / 'bin'
    bin_dir.mkdir()
    _stub_getent(bin_dir)
    env = dict((e['name'], e['value']) for e in container.get('env') or [])
    return {'root': root, 'script': script, 'env': env, 'bin': bin_dir, 'written': root / 'tmp' / 'pools.yaml'}


def _run(openstack_venv, pod, script):
    env = openstack_venv.env(**pod['env'])
    env['PATH'] = '%s:%s' % (pod['bin'], env['PATH'])
    return subprocess.run(['/bin/sh', '-ec', script], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


@pytest.fixture(scope='module')
def runs(openstack_venv, pod):
    out = {}
    for case_id, change, _expected, _rc in RUNS:
        script = pod['script'] if change is None else pod['script'].replace(*change)
        assert change is None or script != pod['script']
        out[case_id] = _run(openstack_venv, pod, script)
    return out


@pytest.mark.parametrize('case_id, change, expected, rc', RUNS, ids=[r[0] for r in RUNS])
def test_pool_update_job_runs_the_real_designate_manage(runs, case_id, change, expected, rc):
    del change
    result = runs[case_id]
    output = result.stdout + result.stderr
    assert expected in output, output[-3000:]
    assert result.returncode == rc, output[-3000:]


def _check(openstack_venv, paths):
    result = subprocess.run([openstack_venv.python, str(REPO / 'tests' / 'openstack' / 'check_pools.py')]
                            + [str(p) for p in paths], capture_output=True, text=True, env=openstack_venv.env(),
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope='module')
def verdicts(openstack_venv, pod, runs, tmp_path_factory):
    assert runs['the Job as rendered'].returncode == 1
    written = pod['written'].read_text(encoding='utf-8')
    work = tmp_path_factory.mktemp('pools')
    paths = {'as written': pod['written']}
    for case_id, (old, new), _expected in BROKEN:
        assert old in written, old
        path = work / ('%s.yaml' % case_id.replace(' ', '-'))
        path.write_text(written.replace(old, new), encoding='utf-8')
        paths[case_id] = path
    found = _check(openstack_venv, list(paths.values()))
    return dict((case_id, found[str(path)]) for case_id, path in paths.items())


def test_written_pool_is_valid_for_designate(verdicts, pod):
    verdict = verdicts['as written']
    assert verdict['errors'] == []
    # Every placeholder was filled in.
    assert '@' not in json.dumps(yaml.safe_load(pod['written'].read_text(encoding='utf-8')))
    (pool,) = verdict['pools']
    # Designate's default pool, the one its migrations create and [service:central] names.
    assert (pool['name'], pool['id']) == ('default', '794ccc2c-d751-44fe-b57f-8894c9f5c842')
    (target,) = pool['targets']
    assert target['type'] == 'bind9'
    assert target['masters'] == [[MDNS_ADDRESS, 5354]]
    assert target['options']['rndc_host'] == 'designate-bind.openstack.svc.cluster.local.'
    assert target['options']['rndc_key_file'] == '/run/designate/rndc.key'
    assert pool['nameservers'] == [['designate-bind.openstack.svc.cluster.local.', 53]]


@pytest.mark.parametrize('case_id, change, expected', BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_pool_is_refused(verdicts, case_id, change, expected):
    del change
    errors = verdicts[case_id]['errors']
    assert any(expected in error for error in errors), errors


def test_pool_ports_are_the_bind_services_ports(cloud):
    """The pool reaches BIND on the ports the designate-bind Service publishes, rndc with the worker's key file."""
    text = cloud.catalog['designate']['scripts']['pools.yaml']['content']
    target = yaml.safe_load(text)[0]['targets'][0]
    service = [o for o in manifests.all_objects(cloud.phases('designate-bind'))
               if o['kind'] == 'Service' and o['metadata']['name'] == 'designate-bind'][0]
    published = dict((p['name'], p['port']) for p in service['spec']['ports'])
    assert int(target['options']['port']) == published['dns-tcp'] == published['dns-udp']
    assert int(target['options']['rndc_port']) == published['rndc']
