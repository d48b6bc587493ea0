"""playbooks/rotate_credentials.yml against real MariaDB Galera, real etcd and the Kubernetes sandbox.

The database password case is watched from outside while the playbook runs (``Observer``):
every password a live keystone pod holds (read from the config its pod template was rendered
with) must be accepted by the real MariaDB at every moment the pod was seen, and afterwards
the old password must be rejected on every Galera member. The fernet case checks with
``cryptography``'s MultiFernet (what keystone validates tokens with) that a token signed before
the rotation stays valid, and that a token of the new primary is valid in a pod not rolled yet.
"""
import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import rotation
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from rotate_helpers import NAMESPACE, Observer

pytestmark = [pytest.mark.slow, pytest.mark.galera]

SLOTS = ['KEYSTONE_FERNET_TOKEN_KEY_0', 'KEYSTONE_FERNET_TOKEN_KEY_1', 'KEYSTONE_FERNET_TOKEN_KEY_2']


def fernet_validator(values):
    """What keystone does with the mounted key files: the highest file signs, every file validates."""
    return MultiFernet([Fernet(values[slot].encode()) for slot in reversed(SLOTS)])


def rotate(cloud, run_playbook, make_inventory, names, check=False, **extra):
    inventory = make_inventory(group_vars=cloud.group_vars(**extra))
    cloud.sandbox.control.clear_request_log()
    return run_playbook('playbooks/rotate_credentials.yml', inventory, extra_vars={'rotate': names}, check=check)


def assert_no_secret(result, *values):
    for value in values:
        assert value not in result.output, 'a secret value reached the ansible-playbook output'


def test_db_password_and_fernet_rotate_with_no_window(cloud, run_playbook, make_inventory):
    before = cloud.secret()
    old = before['KEYSTONE_DB_PASSWORD']
    token = fernet_validator(before).encrypt(b'issued before the rotation')
    observer = Observer(cloud)
    observer.start()
    try:
        result = rotate(cloud, run_playbook, make_inventory, ['KEYSTONE_DB_PASSWORD', 'KEYSTONE_FERNET'])
    finally:
        observer.stop()
    assert result.rc == 0, result.explain()
    after = cloud.secret()
    new = after['KEYSTONE_DB_PASSWORD']
    assert new != old
    assert_no_secret(result, old, new, *[before[s] for s in SLOTS] + [after[s] for s in SLOTS])

    # what the observer saw: both configs on live pods, and never a rejected one
    assert not observer.errors and not observer.unknown, (observer.errors[:3], observer.unknown[:3])
    held = set(p['password'] for p in observer.pods.values())
    assert held == {old, new}, 'the rollout was not observed: pods held %d distinct passwords' % len(held)
    assert any(sample.get(old) and sample.get(new) for _when, sample in observer.samples), 'no moment accepted both'
    assert observer.violations() == []
    # afterwards: only the new password, on every Galera member
    for member in range(len(cloud.galera.members)):
        assert (cloud.accepts(old, member), cloud.accepts(new, member)) == (False, True), member
    assert cloud.secret('openstack-credentials-rotation') is None

    # fernet_rotate: staged -> primary, old primary kept, a new staged key
    assert after['KEYSTONE_FERNET_TOKEN_KEY_2'] == before['KEYSTONE_FERNET_TOKEN_KEY_0']
    assert after['KEYSTONE_FERNET_TOKEN_KEY_1'] == before['KEYSTONE_FERNET_TOKEN_KEY_2']
    assert after['KEYSTONE_FERNET_TOKEN_KEY_0'] not in before.values()
    assert fernet_validator(after).decrypt(token) == b'issued before the rotation'
    fresh = fernet_validator(after).encrypt(b'issued after')
    assert fernet_validator(before).decrypt(fresh) == b'issued after', 'a pod not rolled yet rejects new tokens'
    with pytest.raises(InvalidToken):
        Fernet(before['KEYSTONE_FERNET_TOKEN_KEY_1'].encode()).decrypt(fresh)
    # keystone rolled for the keys, and every pod runs the current template
    api = cloud.client.get('apps/v1', 'Deployment', 'keystone-api', NAMESPACE)
    assert rotation.ROTATION_ANNOTATION in api['spec']['template']['metadata']['annotations']
    pods, _version = cloud.client.list('v1', 'Pod', namespace=NAMESPACE, label_selector='app.kubernetes.io/component=api')
    live = [p for p in pods if p['status'].get('phase') == 'Running']
    assert len(live) == 3 and all(p['metadata']['annotations'] == {
        k: v for k, v in api['spec']['template']['metadata']['annotations'].items() if k in p['metadata']['annotations']}
        for p in live)

    # the deployment stays converged: rolling keystone out again (what site.yml does) changes nothing
    again = runner.run(cloud.rollout_params(['keystone']))
    assert not again.get('failed') and again['changed'] is False, again.get('msg')


def test_check_mode_reports_and_writes_nothing(cloud, run_playbook, make_inventory):
    before = cloud.secret()
    result = rotate(cloud, run_playbook, make_inventory, ['KEYSTONE_DB_PASSWORD', 'KEYSTONE_FERNET'], check=True)
    assert result.rc == 0, result.explain()
    assert 'would rotate: KEYSTONE_DB_PASSWORD, KEYSTONE_FERNET' in result.stdout, result.stdout
    assert '"accounts": ["keystone@%"]' in result.stdout and '"services": ["keystone"]' in result.stdout
    assert cloud.writes() == []
    assert cloud.secret() == before and cloud.secret('openstack-credentials-rotation') is None
    assert cloud.accepts(before['KEYSTONE_DB_PASSWORD'])


REFUSED = [
    # (names, what the message must say)
    (['GLANCE_DB_PASSWRD'], 'GLANCE_DB_PASSWRD is not a credential of any catalog service'),
    (['GLANCE_DB_PASSWORD'], 'GLANCE_DB_PASSWORD belongs to glance, which is not enabled'),
    (['KEYSTONE_DB_PASSWORD', 'GLANCE_KEYSTONE_PASSWORD'], 'GLANCE_KEYSTONE_PASSWORD belongs to glance, which is not enabled'),
    (['KEYSTONE_ADMIN_PASSWORD'], 'KEYSTONE_ADMIN_PASSWORD cannot be rotated here: it is the password of the Keystone admin'),
    (['NOVA_RABBITMQ_PASSWORD'], 'NOVA_RABBITMQ_PASSWORD belongs to nova, nova-compute, which is not enabled'),
    (['RABBITMQ_ADMIN_PASSWORD'], 'RABBITMQ_ADMIN_PASSWORD cannot be rotated here: it is the password of the RabbitMQ admin'),
    (['NOVA_DB_PASSWORD'], 'NOVA_DB_PASSWORD cannot be rotated here: it is also stored in the nova_api cell mappings'),
    (['MARIADB_ROOT_PASSWORD'], 'rolling restart of the Galera cluster'),
    (['KEYSTONE_FERNET_TOKEN_KEY_1'], 'rotate the set as KEYSTONE_FERNET'),
    (['KEYSTONE_CREDENTIAL_KEY_0'], 'credential_migrate'),
    (['MEMCACHE_SECRET_KEY'], 'MEMCACHE_SECRET_KEY belongs to'),
]


@pytest.mark.parametrize('names, message', REFUSED, ids=[' '.join(n) for n, _m in REFUSED])
def test_refused_names_before_any_request(cloud, names, message):
    """The planner refuses before it reads anything; the message names the rotatable names."""
    with pytest.raises(rotation.RotationError) as caught:
        rotation.classify(names, cloud.catalog, ['mariadb', 'keystone'])
    assert message in caught.value.message
    assert 'Names this playbook rotates here: KEYSTONE_DB_PASSWORD, KEYSTONE_FERNET' in caught.value.message


WITH_HEAT = ['mariadb', 'rabbitmq', 'memcached', 'keystone', 'heat']
REFUSED_WITH_HEAT = [
    (['HEAT_KEYSTONE_PASSWORD'], 'HEAT_KEYSTONE_PASSWORD cannot be rotated here: it is the password of Keystone user '
                                 'heat, the trustee of the trusts users delegated to heat'),
    (['HEAT_DOMAIN_ADMIN_PASSWORD'], 'HEAT_DOMAIN_ADMIN_PASSWORD cannot be rotated here: it is the password of the heat '
                                     'stack domain admin'),
]


@pytest.mark.parametrize('names, message', REFUSED_WITH_HEAT, ids=[' '.join(n) for n, _m in REFUSED_WITH_HEAT])
def test_refused_keystone_users_of_heat(cloud, names, message):
    """heat's own user is a trustee (catalog keystone.user.trustee): switching users would orphan its stacks' trusts."""
    with pytest.raises(rotation.RotationError) as caught:
        rotation.classify(names, cloud.catalog, WITH_HEAT)
    assert message in caught.value.message
    assert 'HEAT_KEYSTONE_PASSWORD' not in caught.value.message.split('rotates here:')[-1]
    assert 'HEAT_RABBITMQ_PASSWORD' in caught.value.message.split('rotates here:')[-1]


def test_playbook_refuses_an_unknown_name_before_any_change(cloud, run_playbook, make_inventory):
    before = cloud.secret()
    result = rotate(cloud, run_playbook, make_inventory, ['KEYSTONE_DB_PASSWORD', 'NO_SUCH_PASSWORD'])
    assert result.rc != 0
    assert 'NO_SUCH_PASSWORD is not a credential of any catalog service' in result.output, result.explain()
    assert 'rotates here: KEYSTONE_DB_PASSWORD, KEYSTONE_FERNET' in result.output
    assert cloud.writes() == [] and cloud.secret() == before
    assert not [e for e in cloud.sandbox.control.request_log() if e['subresource'] == 'exec'], 'SQL ran before the refusal'


def test_interrupted_rotation_keeps_both_accepted_and_resumes(cloud, run_playbook, make_inventory):
    old = cloud.secret()['KEYSTONE_DB_PASSWORD']
    # new keystone pods never turn ready: the rollout times out half way
    cloud.sandbox.control.settings(delays=[{'kind': 'Deployment', 'name': 'keystone-api', 'seconds': 3600}])
    observer = Observer(cloud)
    observer.start()
    try:
        failed = rotate(cloud, run_playbook, make_inventory, ['KEYSTONE_DB_PASSWORD'], rotate_credentials_wait_timeout=3)
        assert failed.rc != 0
        assert 'accept the old and the new password until the rollout is done' in failed.output, failed.explain()
        pending = cloud.secret('openstack-credentials-rotation')['KEYSTONE_DB_PASSWORD']
        assert cloud.secret()['KEYSTONE_DB_PASSWORD'] == pending != old
        for member in range(len(cloud.galera.members)):
            assert cloud.accepts(old, member) and cloud.accepts(pending, member), member
        assert_no_secret(failed, old, pending)

        cloud.sandbox.control.settings(delays=[])
        resumed = rotate(cloud, run_playbook, make_inventory, ['KEYSTONE_DB_PASSWORD'])
    finally:
        cloud.sandbox.control.settings(delays=[])
        observer.stop()
    assert resumed.rc == 0, resumed.explain()
    assert cloud.secret()['KEYSTONE_DB_PASSWORD'] == pending, 'the resumed run must finish with the value it started'
    assert (cloud.accepts(old), cloud.accepts(pending)) == (False, True)
    assert cloud.secret('openstack-credentials-rotation') is None
    assert not observer.errors and not observer.unknown, (observer.errors[:3], observer.unknown[:3])
    assert set(p['password'] for p in observer.pods.values()) == {old, pending}
    assert observer.violations() == []
