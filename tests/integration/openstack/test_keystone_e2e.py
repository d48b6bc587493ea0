"""A real Keystone, deployed and registered the way the collection's Jobs do it.

1. The catalog is rendered with the general values pointed at this machine: the database
   at the session's MariaDB fixture, Keystone's URLs at a loopback port.
2. The Jobs of Keystone's ``db-init``, ``db-sync`` and ``bootstrap`` phases run their own
   container command and environment, with the files their pods mount laid out in a temp
   dir: keystone.conf from the config Secret, the Fernet and credential keys and the
   credential files their scripts read from the credentials Secret (each Job's credential
   mounts in a directory of its own, their container paths mapped to it in the command,
   as a volume mount would place them). The rendered
   keystone.conf is used as is, but for the paths of those mounts and an in-process cache
   instead of the memcached cluster.
3. Keystone's WSGI application (the one the catalog's uwsgi command names) serves on loopback.
4. The ``register`` Job of every enabled service that has a ``keystone`` section runs its
   script with the OpenStack client, as in its pod.
5. openstacksdk gets a token for the generated admin credentials and reads the catalog;
   each service must list its public, internal and admin endpoints as the catalog data
   describes. A second registration run must leave every id and URL unchanged.
"""
import concurrent.futures
import contextlib
import json
import pathlib
import shlex
import socket
import subprocess
import time
import urllib.request

import pymysql
import pytest
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini

REPO = pathlib.Path(__file__).resolve().parents[3]
HELPERS = REPO / 'tests' / 'openstack'


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _jobs(phases, phase):
    return [o for p in phases if p['name'] == phase for o in p['objects'] if o['kind'] == 'Job']


def _workload(phases, kind):
    return [o for p in phases if p['name'] == 'workloads' for o in p['objects'] if o['kind'] == kind][0]


class Pods(object):
    """Runs the containers of rendered pods as local processes of the OpenStack venv."""

    def __init__(self, cloud, venv, root, extra_env=None):
        self.cloud = cloud
        self.venv = venv
        self.root = pathlib.Path(root)
        self.extra_env = extra_env or {}
        self.log = []

    def host_path(self, path):
        """Where a path of the pod's filesystem lives on this machine."""
        return self.root / str(path).lstrip('/')

    def lay_out(self, pod, config_files):
        """Write what the pod mounts from the config Secret and the credentials Secret."""
        volumes = dict((v['name'], v) for v in pod.get('volumes') or [])
        for mount in pod['containers'][0].get('volumeMounts') or []:
            volume = volumes.get(mount['name']) or {}
            secret = (volume.get('secret') or {}).get('secretName', '')
            target = self.host_path(mount['mountPath'])
            if secret.endswith('-config-controller'):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(config_files[mount['subPath']], encoding='utf-8')
            elif secret == 'openstack-credentials':
                target.mkdir(parents=True, exist_ok=True)
                for item in volume['secret']['items']:
                    (target / item['path']).write_text(self.cloud.credentials[item['key']], encoding='utf-8')
                    (target / item['path']).chmod(0o600)

    def env(self, container):
        env = {}
        for item in container.get('env') or []:
            if 'value' in item:
                env[item['name']] = item['value']
            elif 'secretKeyRef' in item.get('valueFrom', {}):
                env[item['name']] = self.cloud.credentials[item['valueFrom']['secretKeyRef']['key']]
        env.update(self.extra_env)
        return env

    def credential_mounts(self, job):
        """Lay out the credentials Secret volumes of a Job's pod in a directory of that Job: ``{mountPath: dir}``."""
        pod = job['spec']['template']['spec']
        volumes = dict((v['name'], v) for v in pod.get('volumes') or [])
        mapping = {}
        for mount in pod['containers'][0].get('volumeMounts') or []:
            volume = volumes.get(mount['name']) or {}
            if (volume.get('secret') or {}).get('secretName') != 'openstack-credentials':
                continue
            target = self.root / 'jobs' / job['metadata']['name'] / mount['mountPath'].lstrip('/')
            target.mkdir(parents=True, exist_ok=True)
            for item in volume['secret']['items']:
                (target / item['path']).write_text(self.cloud.credentials[item['key']], encoding='utf-8')
                (target / item['path']).chmod(0o400)
            mapping[mount['mountPath']] = str(target)
        return mapping

    @staticmethod
    def localize(arg, mapping):
        """``arg`` with each container mount path replaced by where it is laid out here."""
        for path in sorted(mapping, key=len, reverse=True):
            arg = arg.replace(path, mapping[path])
        return arg

    def run_job(self, job, timeout=600):
        """Run a Job's container like Kubernetes: restarted on failure up to its backoffLimit.

        The toolbox image's commands (the OpenStack CLI) come from the client venv, the
        service images' commands (keystone-manage) from the service venv. Returns the
        number of failed attempts; fails the test when every attempt failed.
        """
        spec = job['spec']
        container = spec['template']['spec']['containers'][0]
        venv = self.venv.client if '/kolla-toolbox:' in container['image'] else self.venv
        mapping = self.credential_mounts(job)
        command = [self.localize(arg, mapping) for arg in container['command'] + (container.get('args') or [])]
        started = time.monotonic()
        failures = []
        for _attempt in range(spec.get('backoffLimit', 6) + 1):
            result = subprocess.run(command, capture_output=True,
                                    text=True, env=venv.env(**self.env(container)), timeout=timeout, check=False,
                                    cwd=str(self.root))
            if result.returncode == 0:
                break
            failures.append('rc %d: %s' % (result.returncode, '\n'.join(
                line for line in result.stderr.strip().splitlines() if ' ERROR ' not in line or 'Error' in line)[-2500:]))
        else:
            pytest.fail('Job %s (%s) failed %d times; first:\n%s\nlast:\n%s' % (
                job['metadata']['name'], shlex.join(container['command'][:2]), len(failures), failures[0],
                failures[-1]), pytrace=False)
        self.log.append({'job': job['metadata']['name'], 'seconds': round(time.monotonic() - started, 1),
                         'failed_attempts': failures})
        return len(failures)


def _state(venv, admin_env):
    result = subprocess.run([venv.client.python, str(HELPERS / 'keystone_state.py')], capture_output=True, text=True,
                            env=venv.env(**admin_env), timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def _wait_http(url, process, log_path, timeout=120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail('Keystone exited with rc %s:\n%s' % (process.returncode, log_path.read_text()[-5000:]),
                        pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status == 200:
                    return
                last = response.status
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    pytest.fail('Keystone did not answer %s within %ds (last: %s):\n%s' % (url, timeout, last, log_path.read_text()[-5000:]),
                pytrace=False)


@contextlib.contextmanager
def _connect(server):
    connection = pymysql.connect(host='127.0.0.1', port=server.port, user=server.admin_user,
                                 password=server.admin_password, autocommit=True)
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


@pytest.fixture(scope='module')
def keystone(openstack_venv, mariadb_server, cloud_factory, tmp_path_factory, tier_timings):
    """Keystone deployed by its rendered Jobs and served on loopback; yields the deployment's handles."""
    started = time.monotonic()
    root = tmp_path_factory.mktemp('keystone-pods')
    port = _free_port()
    cloud = cloud_factory(general={
        'DB_HOST': '127.0.0.1', 'DB_PORT': str(mariadb_server.port),
        'KEYSTONE_PUBLIC_URL': 'http://localhost:%d' % port,
        'KEYSTONE_INTERNAL_URL': 'http://127.0.0.1:%d' % port,
    })
    # The db-init Job logs in as root with MARIADB_ROOT_PASSWORD over TCP, as it does in the cluster.
    # Each module that uses this fixture gets a Keystone of its own (fresh credentials): the
    # session's MariaDB may still hold an earlier module's keystone database.
    with _connect(mariadb_server) as cursor:
        cursor.execute("DROP DATABASE IF EXISTS keystone")
        cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY %s",
                       (cloud.credentials['MARIADB_ROOT_PASSWORD'],))
        cursor.execute("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY %s", (cloud.credentials['MARIADB_ROOT_PASSWORD'],))
        cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")

    pods = Pods(cloud, openstack_venv, root)
    phases = cloud.phases('keystone')
    api = _workload(phases, 'Deployment')['spec']['template']['spec']
    # The rendered keystone.conf, with the key repositories at the mounts' places here and
    # an in-process cache (there is no memcached cluster on this machine).
    tree = cloud.tree('keystone')['controller']['keystone.conf']
    overrides = {'cache': {'backend': 'oslo_cache.dict'},
                 # Every CLI call of the registration Jobs logs in: bcrypt's default cost (12)
                 # would serialise ~0.3 s of hashing per call on this single-worker server.
                 'identity': {'password_hash_rounds': 4}}
    for section in ('fernet_tokens', 'fernet_receipts', 'credential'):
        if tree.get(section, {}).get('key_repository'):
            overrides[section] = {'key_repository': str(pods.host_path(tree[section]['key_repository'])) + '/'}
    overrides = {'controller': {'keystone.conf': overrides}}
    config_files = cloud.config_files('keystone', overrides)['controller']
    phases = cloud.phases('keystone', overrides)
    conf_path = None
    for mount in api['containers'][0]['volumeMounts']:
        if mount.get('subPath') == 'keystone.conf':
            conf_path = pods.host_path(mount['mountPath'])
    # keystone-manage finds /etc/keystone/keystone.conf by oslo.config's search path, which
    # starts at ~/.keystone/: HOME points at the laid-out pod file system's copy. The WSGI
    # application reads OS_KEYSTONE_CONFIG_FILES.
    home = root / 'home'
    (home / '.keystone').mkdir(parents=True)
    (home / '.keystone' / 'keystone.conf').symlink_to(conf_path)
    pods.extra_env = {'HOME': str(home), 'OS_KEYSTONE_CONFIG_FILES': str(conf_path)}

    for phase in ('db-init', 'db-sync', 'bootstrap'):
        for job in _jobs(phases, phase):
            pods.lay_out(job['spec']['template']['spec'], config_files)
            pods.run_job(job)
    pods.lay_out(api, config_files)
    with _connect(mariadb_server) as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'keystone'")
        tables = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM keystone.user")
        users = cursor.fetchone()[0]
    # db-sync built the schema in the fixture's database (not in a default SQLite), bootstrap added admin.
    assert tables > 30 and users == 1, 'keystone database: %d tables, %d users' % (tables, users)
    tier_timings['keystone jobs (db-init, db-sync, bootstrap)'] = round(time.monotonic() - started, 1)

    command = api['containers'][0]['command']
    application = command[command.index('--module') + 1]
    log_path = root / 'keystone.log'
    with open(log_path, 'w', encoding='utf-8') as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [openstack_venv.python, str(HELPERS / 'serve_wsgi.py'), application, str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=openstack_venv.env(**pods.extra_env), cwd=str(root))
    try:
        _wait_http('http://127.0.0.1:%d/v3' % port, process, log_path)
        yield {'cloud': cloud, 'pods': pods, 'port': port, 'log': log_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _registering(cloud):
    return [name for name in cloud.openstack_services() if (cloud.catalog[name].get('keystone') or {}).get('services')]


def _keystone_jobs(cloud):
    """The register Jobs, and the toolbox Jobs of the post phase (they talk to Keystone only: heat's domain)."""
    jobs = []
    for name in cloud.openstack_services():
        phases = cloud.phases(name)
        jobs.extend(_jobs(phases, 'register'))
        jobs.extend(j for j in _jobs(phases, 'post')
                    if '/kolla-toolbox:' in j['spec']['template']['spec']['containers'][0]['image'])
    return jobs


def _register_all(keystone, timings, label):
    """Run every Keystone-facing Job of every enabled service (register, then post), as their phases order them."""
    cloud, pods = keystone['cloud'], keystone['pods']
    jobs = _keystone_jobs(cloud)
    assert jobs, 'no service renders a register Job'
    register = [j for j in jobs if j['metadata']['labels']['app.kubernetes.io/component'] == 'register']
    post = [j for j in jobs if j not in register]
    started = time.monotonic()
    # The services of one wave roll out concurrently in the collection; three Jobs at a time here.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        retries = sum(pool.map(pods.run_job, register))
        retries += sum(pool.map(pods.run_job, post))
    timings[label] = round(time.monotonic() - started, 1)
    timings[label + ', Job restarts'] = retries
    return retries


def _admin_env(keystone):
    cloud = keystone['cloud']
    job = _jobs(cloud.phases(_registering(cloud)[0]), 'register')[0]
    env = keystone['pods'].env(job['spec']['template']['spec']['containers'][0])
    env = dict((k, v) for k, v in env.items() if k.startswith('OS_'))
    # The Job's script reads the admin password from its credential file (OS_PASSWORD is not in its env).
    env['OS_PASSWORD'] = cloud.credentials['KEYSTONE_ADMIN_PASSWORD']
    return env


def _expected_catalog(cloud):
    """``{type: {interface: url}}`` as the catalog data and the general values describe it."""
    values = ini.resolve_values(cloud.values())
    expected = {'identity': {'public': values['KEYSTONE_PUBLIC_URL'], 'internal': values['KEYSTONE_INTERNAL_URL'],
                             'admin': values['KEYSTONE_INTERNAL_URL']}}
    for name in _registering(cloud):
        for service in cloud.catalog[name]['keystone']['services']:
            expected[service['type']] = dict(
                (interface, ini.substitute(url, values, '%s %s' % (name, interface)))
                for interface, url in service['endpoints'].items())
    return expected


def test_keystone_issues_a_token_and_lists_the_complete_catalog(keystone, openstack_venv, tier_timings):
    cloud = keystone['cloud']
    _register_all(keystone, tier_timings, 'registration, first run')
    seen = _state(openstack_venv, _admin_env(keystone))

    assert seen['token']['issued'] and seen['token']['length'] > 100  # a Fernet token, not an error page
    assert seen['token']['user'] == 'admin' and 'admin' in seen['token']['roles']
    region = cloud.values()['REGION_NAME']
    expected = _expected_catalog(cloud)
    project_id = seen['token']['project_id']
    for service_type, endpoints in sorted(expected.items()):
        assert service_type in seen['catalog'], 'the token catalog has no %s service; it has %s' % (
            service_type, sorted(seen['catalog']))
        entries = seen['catalog'][service_type]
        assert len(entries) == 1, 'service type %s is registered %d times' % (service_type, len(entries))
        listed = entries[0]['endpoints']
        for interface in ('public', 'internal', 'admin'):
            # The token's catalog fills in the project of the token (cinder's /v3/%(project_id)s).
            wanted = endpoints[interface].replace('%(project_id)s', project_id).replace('%(tenant_id)s', project_id)
            urls = [(e['url'], e['region']) for e in listed.get(interface, [])]
            assert urls == [(wanted, region)], '%s %s endpoint: expected %s, catalog has %s' % (
                service_type, interface, wanted, urls)
    assert sorted(seen['catalog']) == sorted(expected)
    # The endpoints as stored: the URL templates of the catalog data, verbatim.
    services = dict((sid, stype) for sid, _name, stype, _enabled in seen['state']['services'])
    stored = sorted((services[sid], interface, url) for _eid, sid, interface, url, _region in seen['state']['endpoints'])
    assert stored == sorted((stype, interface, url) for stype, urls in expected.items() for interface, url in urls.items())

    users = dict((name, uid) for uid, name, _domain in seen['state']['users'])
    roles = dict((rid, name) for rid, name in seen['state']['roles'])
    projects = dict((pid, name) for pid, name, _domain in seen['state']['projects'])
    for name in _registering(cloud):
        user = cloud.catalog[name]['keystone'].get('user')
        if not user:
            continue
        assert user['name'] in users, '%s: user %s was not created' % (name, user['name'])
        granted = sorted(roles[r] for u, p, r in seen['state']['assignments']
                         if u == users[user['name']] and projects.get(p) == user.get('project', 'service'))
        project = user.get('project', 'service')
        assert granted == sorted(user['roles']), '%s: %s has roles %s in %s' % (name, user['name'], granted, project)
    keystone['first_state'] = seen['state']


def test_heat_domain_matches_heat_conf(keystone, openstack_venv):
    """heat's post Job creates the stack domain and its admin that the rendered heat.conf names."""
    cloud = keystone['cloud']
    if 'heat' not in cloud.catalog:
        pytest.skip('heat is not in the catalog')
    default = cloud.tree('heat')['controller']['heat.conf']['DEFAULT']
    # A domain-scoped token, asked for with keystoneauth1 alone (no OS_* project from the environment).
    env = {'AUTH_URL': _admin_env(keystone)['OS_AUTH_URL'], 'DOMAIN_ADMIN': default['stack_domain_admin'],
           'DOMAIN': default['stack_user_domain_name'],
           'DOMAIN_ADMIN_PASSWORD': ini.substitute(default['stack_domain_admin_password'], cloud.credentials)}
    code = ('import os, json\n'
            'from keystoneauth1 import session\n'
            'from keystoneauth1.identity import v3\n'
            'auth = v3.Password(auth_url=os.environ["AUTH_URL"], username=os.environ["DOMAIN_ADMIN"],'
            ' password=os.environ["DOMAIN_ADMIN_PASSWORD"], user_domain_name=os.environ["DOMAIN"],'
            ' domain_name=os.environ["DOMAIN"])\n'
            'a = auth.get_access(session.Session(auth=auth))\n'
            'print(json.dumps({"user": a.username, "domain": a.domain_name, "roles": a.role_names}))\n')
    result = subprocess.run([openstack_venv.client.python, '-c', code], capture_output=True, text=True,
                            env=openstack_venv.env(**env), timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen['user'] == default['stack_domain_admin'] and seen['domain'] == default['stack_user_domain_name']
    assert 'admin' in seen['roles']


def test_second_registration_changes_nothing(keystone, openstack_venv, tier_timings):
    if 'first_state' not in keystone:
        pytest.skip('the first registration run did not complete')
    before = keystone['first_state']
    assert _register_all(keystone, tier_timings, 'registration, second run') == 0, 'a Job failed on the second run'
    after = _state(openstack_venv, _admin_env(keystone))['state']
    for kind in sorted(before):
        assert after[kind] == before[kind], 'the second registration run changed %s' % kind


def test_service_user_password_from_the_credentials_authenticates(keystone, openstack_venv):
    """The register Job sets each service user's password from the credentials Secret: the services' config uses it."""
    cloud = keystone['cloud']
    env = _admin_env(keystone)
    checked = 0
    for name in _registering(cloud):
        user = cloud.catalog[name]['keystone'].get('user')
        if not user:
            continue
        env.update({'OS_USERNAME': user['name'], 'OS_PASSWORD': cloud.credentials[user['password']],
                    'OS_PROJECT_NAME': user.get('project', 'service')})
        seen = _state_token_only(openstack_venv, env)
        # The token also carries the roles the granted ones imply (admin > manager > member > reader).
        assert seen['user'] == user['name'] and set(user['roles']) <= set(seen['roles']), (name, seen)
        checked += 1
    assert checked


def _state_token_only(venv, env):
    code = ('import os, json, openstack\n'
            'c = openstack.connect(auth_url=os.environ["OS_AUTH_URL"], username=os.environ["OS_USERNAME"],'
            ' password=os.environ["OS_PASSWORD"], project_name=os.environ["OS_PROJECT_NAME"],'
            ' user_domain_name=os.environ["OS_USER_DOMAIN_NAME"], project_domain_name=os.environ["OS_PROJECT_DOMAIN_NAME"],'
            ' identity_api_version="3")\n'
            'a = c.session.auth.get_access(c.session)\n'
            'print(json.dumps({"user": a.username, "roles": a.role_names}))\n')
    result = subprocess.run([venv.client.python, '-c', code], capture_output=True, text=True, env=venv.env(**env),
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- regions sharing this Keystone

REGION_SERVICE = 'glance'  # one registering service per region keeps this test short


def _shared_keystone_entry():
    """The keystone entry of a region whose Keystone is another region's (roles/catalog/vars, openstack_keystone_mode shared)."""
    data = yaml.safe_load((REPO / 'roles' / 'catalog' / 'vars' / 'main.yml').read_text(encoding='utf-8'))
    return data['__catalog_keystone_shared']


def _region_jobs(cloud, names):
    return [job for name in names for job in _jobs(cloud.phases(name), 'register')]


def test_two_regions_register_into_one_keystone(keystone, openstack_venv, cloud_factory, tier_timings):
    """Region one runs this Keystone; region two (shared mode) registers its identity and glance endpoints in it.

    Region two renders with its own region name and public domain, Keystone's URLs are region one's,
    and its credentials are region one's (pinned from the vault, as validate_inputs requires). Both
    regions' endpoints end up in one catalog, region one's service user still logs in, and a second
    run of region two's Jobs changes nothing.
    """
    one = keystone['cloud']
    two = cloud_factory(general=dict(one.general, REGION_NAME='RegionTwo', PUBLIC_DOMAIN='region-two.example.net'))
    two.catalog['keystone'] = _shared_keystone_entry()
    two.credentials = one.credentials
    pods_two = Pods(two, openstack_venv, keystone['pods'].root / 'region-two', keystone['pods'].extra_env)
    started = time.monotonic()
    if 'first_state' not in keystone:  # region one registered everything in the first test, else now
        for job in _region_jobs(one, [REGION_SERVICE]):
            keystone['pods'].run_job(job)
    jobs_two = _region_jobs(two, ['keystone', REGION_SERVICE])
    assert [j['metadata']['labels']['app.kubernetes.io/name'] for j in jobs_two] == ['keystone', REGION_SERVICE]
    for job in jobs_two:
        pods_two.run_job(job)
    tier_timings['two regions, first registration'] = round(time.monotonic() - started, 1)

    env_two = dict(_admin_env(keystone), OS_REGION_NAME='RegionTwo')
    seen = _state(openstack_venv, env_two)
    expected = {}
    for region, cloud in (('RegionOne', one), ('RegionTwo', two)):
        for stype, urls in _expected_catalog(cloud).items():
            if stype in ('identity', 'image'):
                for interface, url in urls.items():
                    expected.setdefault(stype, []).append((interface, region, url))
    for stype, wanted in sorted(expected.items()):
        entries = seen['catalog'][stype]
        assert len(entries) == 1, '%s is registered as %d services' % (stype, len(entries))
        listed = sorted((interface, e['region'], e['url']) for interface, items in entries[0]['endpoints'].items()
                        for e in items)
        assert listed == sorted(wanted), '%s endpoints: expected %s, catalog has %s' % (stype, sorted(wanted), listed)
    regions_two = [e for e in seen['state']['endpoints'] if e[4] == 'RegionTwo']
    assert sorted(e[3] for e in regions_two if 'region-two.example.net' in e[3]) == [
        'http://glance-api.region-two.example.net:9292'], regions_two

    # Region one's glance user logs in with region one's password: region two did not reset it.
    user = one.catalog[REGION_SERVICE]['keystone']['user']
    token = _state_token_only(openstack_venv, dict(_admin_env(keystone), OS_USERNAME=user['name'],
                                                   OS_PASSWORD=one.credentials[user['password']],
                                                   OS_PROJECT_NAME=user.get('project', 'service')))
    assert token['user'] == user['name']

    started = time.monotonic()
    assert sum(pods_two.run_job(job) for job in jobs_two) == 0, 'a Job of region two failed on its second run'
    tier_timings['two regions, second registration'] = round(time.monotonic() - started, 1)
    assert _state(openstack_venv, env_two)['state'] == seen['state'], 'the second run of region two changed Keystone'
