"""playbooks/rotate_credentials.yml for a RabbitMQ service password: alternating users, no window.

Real etcd, a real RabbitMQ 3.10 node (tests/harness/rabbitmq.py), the Kubernetes sandbox and
the collection's own rollout code (``rabbitmq`` and ``heat`` rolled out next to the ``cloud``
fixture's keystone). Each ``rabbitmq-server-<n>`` pod's exec runs the real ``rabbitmqctl``
against that node, so the users, passwords, tags, permissions and connections the rotation
reads and changes are RabbitMQ's own.

``MqObserver`` watches from outside while the playbook runs: it maps every heat pod to the
(user, password) its config was rendered with and, at every sample, logs in over AMQP with
each of them: a live pod's credentials must be accepted at every moment it was seen.
"""
import json
import os
import re

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import rotation
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m
from harness.rabbitmq import RabbitServer
from rotate_helpers import NAMESPACE, PREFIX, Observer, etcd_value

pytestmark = [pytest.mark.slow, pytest.mark.galera]

TRANSPORT_RE = re.compile(r'rabbit://([^:]+):([^@]+)@')
TRANSPORT_KEY = 'controller/heat/heat.conf/DEFAULT/transport_url'
NO_CONFIG = m.checksum({})
ENABLED = ['mariadb', 'memcached', 'keystone', 'rabbitmq', 'heat']


def seed(cloud, service, transport=None):
    with cloud.etcd.client() as cli:
        for role, files in (cloud.catalog[service].get('config') or {}).items():
            for fname, sections in files.items():
                for section, options in sections.items():
                    for key, value in options.items():
                        cli.put('%s/%s/%s/%s/%s/%s' % (PREFIX, role, service, fname, section, key), etcd_value(value))
        if transport:
            cli.put('%s/%s' % (PREFIX, TRANSPORT_KEY), transport)


ADMIN_PERMS = {'/': ['.*', '.*', '.*']}


@pytest.fixture(scope='module')
def mq(cloud, tmp_path_factory):
    """rabbitmq and heat deployed as an existing deployment had them: the user literal in transport_url."""
    server = RabbitServer(base_dir=str(tmp_path_factory.mktemp('rabbitmq'))).start()
    try:
        server.add_user('admin', 'admin-not-rotated', tags=['administrator'], permissions=ADMIN_PERMS)
        server.delete_user('guest')
        server.add_user('heat', cloud.secret()['HEAT_RABBITMQ_PASSWORD'], permissions=ADMIN_PERMS)
        rules = [r for r in cloud.sandbox.control.settings().get('exec', []) if not r['name'].startswith('rabbitmq-')]
        cloud.sandbox.control.settings(exec=rules + [
            {'namespace': NAMESPACE, 'name': 'rabbitmq-server-*', 'container': 'server', 'mode': 'local',
             'workdir': server.directory, 'timeout': 60,
             'env': {'PATH': '%s:%s' % (server.ctl_dir, os.environ['PATH'])}}])
        seed(cloud, 'rabbitmq')
        seed(cloud, 'heat', transport='rabbit://heat:$HEAT_RABBITMQ_PASSWORD@$RABBITMQ_HOST:$RABBITMQ_PORT/')
        result = runner.run(cloud.rollout_params(['rabbitmq', 'heat']))
        assert not result.get('failed'), result.get('msg')
        yield server
        cloud.sandbox.control.settings(exec=rules)
    finally:
        server.stop()


def rotate(cloud, run_playbook, make_inventory, names, check=False, **extra):
    inventory = make_inventory(group_vars=cloud.group_vars(openstack_enabled_services=ENABLED, **extra))
    cloud.sandbox.control.clear_request_log()
    return run_playbook('playbooks/rotate_credentials.yml', inventory, extra_vars={'rotate': names}, check=check)


def heat_jobs(cloud, key):
    jobs, _version = cloud.client.list('batch/v1', 'Job', namespace=NAMESPACE, label_selector='app.kubernetes.io/name=heat')
    return [j for j in jobs if j['metadata']['name'].startswith('heat-%s-' % key)]


class MqObserver(Observer):
    """heat's pods against RabbitMQ: the (user, password) of each pod's transport_url must log in."""

    service = 'heat'
    filename = 'heat.conf'
    key = 'creds'
    skip = (NO_CONFIG,)        # a Job pod that mounts no heat.conf (mq-init, db-init)

    def __init__(self, cloud, rabbit):
        self.rabbit = rabbit
        super(MqObserver, self).__init__(cloud)

    def extract(self, text):
        return TRANSPORT_RE.search(text).groups()

    def accepted(self, value):
        return self.rabbit.authenticates(*value)


def assert_clean(observer, users):
    assert not observer.errors and not observer.unknown, (observer.errors[:3], observer.unknown[:3])
    held = set(p['creds'][0] for p in observer.pods.values())
    assert held == set(users), 'the rollout was not observed: pods held the users %s' % sorted(held)
    assert observer.violations() == []


def test_existing_deployment_converges_unchanged(cloud, mq):
    """site.yml writes the catalog's transport_url ($HEAT_RABBITMQ_USER, absent from the Secret: "heat"): no object changes."""
    seed(cloud, 'heat')
    again = runner.run(cloud.rollout_params(['heat']))
    assert not again.get('failed') and again['changed'] is False, again.get('objects')


def test_check_mode_reports_and_writes_nothing(cloud, mq):
    """The module's check mode (the role's check-mode path is the database test's): reads only."""
    seed(cloud, 'heat')
    before, state = cloud.secret(), mq.users()
    params = dict(names=['HEAT_RABBITMQ_PASSWORD'], namespace=NAMESPACE, credentials_secret='openstack-credentials',
                  catalog=cloud.catalog, enabled_services=ENABLED)
    cloud.sandbox.control.clear_request_log()
    result = rotation.Rotation(cloud.client, None, params, mq=rabbitmqctl(cloud),
                               config_reader=lambda: read_config(cloud)).run(check_mode=True)
    assert result['plan'] == {'HEAT_RABBITMQ_PASSWORD': {
        'kind': 'messaging', 'action': 'rotate', 'services': ['heat'], 'workloads': [], 'rabbitmq_user': 'heat -> heat-b'}}
    assert cloud.writes() == [] and cloud.secret() == before
    assert mq.users() == state, 'check mode changed RabbitMQ'


def test_rabbitmq_password_rotates_with_no_window_then_resumes_back(cloud, mq, run_playbook, make_inventory):
    seed(cloud, 'heat')
    old = cloud.secret()['HEAT_RABBITMQ_PASSWORD']
    observer = MqObserver(cloud, mq)
    observer.start()
    try:
        result = rotate(cloud, run_playbook, make_inventory, ['HEAT_RABBITMQ_PASSWORD'])
    finally:
        observer.stop()
    assert result.rc == 0, result.explain()
    after = cloud.secret()
    new = after['HEAT_RABBITMQ_PASSWORD']
    assert after['HEAT_RABBITMQ_USER'] == 'heat-b' and new != old
    assert old not in result.output and new not in result.output
    assert_clean(observer, ['heat', 'heat-b'])
    users = mq.users()
    assert sorted(users) == ['admin', 'heat-b'] and mq.authenticates('heat-b', new)
    assert not mq.authenticates('heat', old), 'the old user must be gone'
    assert users['heat-b']['permissions'] == ADMIN_PERMS
    assert mq.argv() and not [argv for argv in mq.argv() if old in argv or new in argv], 'a password reached argv'
    assert cloud.secret('openstack-credentials-rotation') is None
    # the mq-init Job now names heat-b, and rolling heat out again (site.yml) changes nothing
    assert [j for j in heat_jobs(cloud, 'mq-init') if 'heat-b' in j['spec']['template']['spec']['containers'][0]['command'][2]]
    again = runner.run(cloud.rollout_params(['heat']))
    assert not again.get('failed') and again['changed'] is False, again.get('msg')

    # the next rotation goes back to "heat"; heat's new pods never turn ready: it stops half way
    cloud.sandbox.control.settings(delays=[{'kind': 'Deployment', 'name': 'heat-api', 'seconds': 3600}])
    observer = MqObserver(cloud, mq)
    observer.start()
    try:
        failed = rotate(cloud, run_playbook, make_inventory, ['HEAT_RABBITMQ_PASSWORD'], rotate_credentials_wait_timeout=3)
        assert failed.rc != 0, failed.explain()
        pending = json.loads(cloud.secret('openstack-credentials-rotation')['HEAT_RABBITMQ_PASSWORD'])
        assert pending['user'] == 'heat' and cloud.secret()['HEAT_RABBITMQ_USER'] == 'heat'
        assert mq.authenticates('heat-b', new) and mq.authenticates('heat', pending['password']), 'both users must stay valid'
        cloud.sandbox.control.settings(delays=[])
        resumed = rotate(cloud, run_playbook, make_inventory, ['HEAT_RABBITMQ_PASSWORD'])
    finally:
        cloud.sandbox.control.settings(delays=[])
        observer.stop()
    assert resumed.rc == 0, resumed.explain()
    assert cloud.secret()['HEAT_RABBITMQ_PASSWORD'] == pending['password']
    assert sorted(mq.users()) == ['admin', 'heat'] and mq.authenticates('heat', pending['password'])
    assert cloud.secret('openstack-credentials-rotation') is None
    assert_clean(observer, ['heat', 'heat-b'])


def rabbitmqctl(cloud):
    """The module's RabbitCtl: rabbitmqctl through the sandbox's pod exec (the real node, here)."""
    from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import build_api_client
    return rotation.RabbitCtl(cloud.client, CoreV1Api(build_api_client({'kubeconfig': cloud.sandbox.kubeconfig})),
                              NAMESPACE, 'rabbitmq-server', 'server')


def read_config(cloud):
    """The flat config tree, read as the module reads it."""
    return runner.read_etcd(dict(endpoints=cloud.etcd.endpoints, prefix=PREFIX))[0]


REFUSED = [
    # (names, what is broken, message; USER is the user the credentials Secret names now)
    (['HEAT_RABBITMQ_PASSWORD'], 'wrong password', "RabbitMQ rejects the credentials Secret's password of user USER"),
    (['HEAT_RABBITMQ_PASSWORD'], 'no user', 'RabbitMQ has no user USER (the user the credentials name)'),
    (['HEAT_RABBITMQ_PASSWORD'], 'literal user in etcd', 'the config value %s/%s holds $HEAT_RABBITMQ_PASSWORD with a '
                                                         'literal user name' % (PREFIX, TRANSPORT_KEY)),
    (['RABBITMQ_ADMIN_PASSWORD'], 'admin', 'RABBITMQ_ADMIN_PASSWORD cannot be rotated here: it is the password of the '
                                           'RabbitMQ admin user'),
]


@pytest.mark.parametrize('names, broken, message', REFUSED, ids=[r[1] for r in REFUSED])
def test_refused_before_any_change(cloud, mq, names, broken, message):
    """Planned as the module does (real Rotation, rabbitmqctl by pod exec, etcd read); no write on a refusal."""
    saved = mq.users()
    current = cloud.secret().get('HEAT_RABBITMQ_USER', 'heat')
    password = cloud.secret()['HEAT_RABBITMQ_PASSWORD']
    if broken == 'wrong password':
        mq.set_password(current, 'not-the-secret')
    elif broken == 'no user':
        mq.delete_user(current)
    seed(cloud, 'heat', transport='rabbit://heat:$HEAT_RABBITMQ_PASSWORD@$RABBITMQ_HOST:$RABBITMQ_PORT/'
         if broken == 'literal user in etcd' else None)
    params = dict(names=names, namespace=NAMESPACE, credentials_secret='openstack-credentials', catalog=cloud.catalog,
                  enabled_services=ENABLED)
    cloud.sandbox.control.clear_request_log()
    try:
        with pytest.raises(rotation.RotationError) as caught:
            rotation.Rotation(cloud.client, None, params, mq=rabbitmqctl(cloud), config_reader=lambda: read_config(cloud)).run()
    finally:
        if broken == 'wrong password':
            mq.set_password(current, password)
        elif broken == 'no user':
            mq.add_user(current, password, permissions=saved[current]['permissions'])
        seed(cloud, 'heat')
    assert message.replace('USER', current) in caught.value.message
    assert cloud.writes() == []
    assert mq.users() == saved and mq.authenticates(current, password)
