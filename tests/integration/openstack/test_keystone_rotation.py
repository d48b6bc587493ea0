"""The Keystone side of a service-user rotation, against the real Keystone of this tier.

``rotation.KeystoneUsers`` is what ``openstack_rotate_credentials`` uses to switch a service
between two Keystone users (``cinder`` and ``cinder-b``) with no moment where the password a
running pod holds is rejected (the orchestration around it, shared with the RabbitMQ
rotation, is proven end to end in tests/integration/rotate/). Here, against Keystone 30
deployed by the collection's own Jobs (``test_keystone_e2e.keystone``) and the register Jobs
of the services involved:

* the new user gets the new password, the old user's default project and every role
  assignment; both users authenticate until the old one is deleted; a second call changes
  nothing; a project-scoped token of the new user carries the roles the service needs;
* switching back to the base name later works the same way (the alternation);
* bad inputs fail with a message that names the fix, and never echo a password.
"""
import json
import urllib.request

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import rotation
from test_keystone_e2e import _jobs, keystone  # noqa: F401  pylint: disable=unused-import

SERVICE = 'cinder'


@pytest.fixture(scope='module')
def users(keystone):  # noqa: F811  pylint: disable=redefined-outer-name
    """The register Job of SERVICE run against the real Keystone; a KeystoneUsers store as the admin user."""
    cloud = keystone['cloud']
    for job in _jobs(cloud.phases(SERVICE), 'register'):
        keystone['pods'].run_job(job)
    store = rotation.KeystoneUsers('http://127.0.0.1:%d' % keystone['port'], cloud.credentials['KEYSTONE_ADMIN_PASSWORD'])
    return dict(store=store, cloud=cloud, port=keystone['port'])


def scoped_roles(port, user, password, project='service'):
    """Role names of a project-scoped token of ``user`` (what keystonemiddleware checks)."""
    body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
        'name': user, 'domain': {'name': 'Default'}, 'password': password}}},
        'scope': {'project': {'name': project, 'domain': {'name': 'Default'}}}}}
    request = urllib.request.Request('http://127.0.0.1:%d/v3/auth/tokens' % port, data=json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
    with urllib.request.urlopen(request, timeout=30) as response:
        return sorted(r['name'] for r in json.loads(response.read())['token']['roles'])


def test_switch_to_the_other_user_keeps_both_valid_until_the_old_one_is_deleted(users):
    store, cloud, port = users['store'], users['cloud'], users['port']
    entry = cloud.catalog[SERVICE]['keystone']['user']
    base, old = entry['name'], cloud.credentials[entry['password']]
    other = base + '-b'
    assert store.authenticates(base, old) and not store.exists(other)
    before = scoped_roles(port, base, old)
    assert set(entry['roles']) <= set(before)

    new = 'n3w-' + old[::-1]
    notes = store.ensure_like(other, new, base)
    assert notes[0] == 'Keystone user %s made with the new password' % other
    assert len([n for n in notes if ' given role ' in n]) == len(entry['roles'])
    assert not [n for n in notes if old in n or new in n], 'a password reached the notes'
    # no window: the pods not rolled yet (old user) and the rolled ones (new user) both authenticate
    assert store.authenticates(base, old) and store.authenticates(other, new)
    assert not store.authenticates(other, old), 'the new user must not take the old password'
    assert store.assignments(store.user(other)['id']) == store.assignments(store.user(base)['id'])
    assert store.user(other).get('default_project_id') == store.user(base).get('default_project_id')
    assert scoped_roles(port, other, new) == before
    assert store.ensure_like(other, new, base) == [], 'a second run must change nothing'
    store.wait_accepted(other, new, 5, 'CINDER_KEYSTONE_PASSWORD')

    store.delete(base)
    assert not store.exists(base) and not store.authenticates(base, old)
    store.delete(base)  # already gone: nothing to do
    assert store.authenticates(other, new)

    # the next rotation goes back to the base name, taking the roles from the b user
    third = 'th1rd-' + new[::-1]
    notes = store.ensure_like(base, third, other)
    assert notes[0] == 'Keystone user %s made with the new password' % base
    assert scoped_roles(port, base, third) == before
    store.delete(other)
    assert store.authenticates(base, third) and not store.exists(other)


def test_an_existing_new_user_gets_the_new_password_and_loses_extra_roles(users):
    """A leftover b user (an interrupted earlier rotation) is brought to the new password and the old user's roles."""
    store, port = users['store'], users['port']
    base = users['cloud'].catalog[SERVICE]['keystone']['user']['name']
    base_id = store.user(base)['id']
    leftover = store.ensure_like(base + '-b', 'leftover-password-1', base)
    assert leftover
    extra_role = store._call('POST', '/roles', {'role': {'name': 'rotation-test-extra'}})[1]['role']['id']
    b_id = store.user(base + '-b')['id']
    project = sorted(a for a in store.assignments(base_id) if a[0] == 'project')[0][1]
    store._call('PUT', '/projects/%s/users/%s/roles/%s' % (project, b_id, extra_role))
    try:
        notes = store.ensure_like(base + '-b', 'fresh-password-2', base)
        assert 'Keystone user %s-b given the new password' % base in notes
        assert [n for n in notes if ' loses role %s ' % extra_role in n]
        assert store.assignments(b_id) == store.assignments(base_id)
        assert store.authenticates(base + '-b', 'fresh-password-2')
        assert not store.authenticates(base + '-b', 'leftover-password-1')
        assert 'rotation-test-extra' not in scoped_roles(port, base + '-b', 'fresh-password-2')
    finally:
        store.delete(base + '-b')
        store._call('DELETE', '/roles/%s' % extra_role)


REFUSED = [
    ('wrong admin password', lambda port: rotation.KeystoneUsers('http://127.0.0.1:%d' % port, 'not-the-admin-password'),
     "Keystone rejects the admin user admin with the credentials Secret's KEYSTONE_ADMIN_PASSWORD"),
    ('nothing listening', lambda port: rotation.KeystoneUsers('http://127.0.0.1:9', 'x', timeout=5),
     'is not reachable'),
    ('not keystone', lambda port: rotation.KeystoneUsers('http://127.0.0.1:%d/nothing-here' % port, 'x'),
     'answered HTTP 404'),
]


@pytest.mark.parametrize('case, make, message', REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_connection_fails_naming_the_fix(users, case, make, message):
    store = make(users['port'])
    with pytest.raises(rotation.RotationError) as caught:
        store.exists('cinder')
    assert message in caught.value.message
    if case == 'nothing listening':
        assert 'rotate_credentials_keystone_url' in caught.value.message
    assert users['cloud'].credentials['KEYSTONE_ADMIN_PASSWORD'] not in caught.value.message


def test_refused_while_keystone_serves_two_regions(users):
    """Regions sharing one Keystone share its service users: switching one region's users would strand the other."""
    store = users['store']
    assert store.refusal() is None and store.regions() == ['RegionOne']
    region = store._call('POST', '/regions', {'region': {'id': 'RegionTwo'}})[1]['region']['id']
    service = store._call('GET', '/services?type=identity')[1]['services'][0]['id']
    endpoint = store._call('POST', '/endpoints', {'endpoint': {
        'service_id': service, 'interface': 'public', 'region_id': region, 'url': 'http://keystone.two.example:5000'}})
    try:
        message = store.refusal()
        assert 'this Keystone serves the regions RegionOne, RegionTwo' in message
        assert 'maintenance window of every region' in message
    finally:
        store._call('DELETE', '/endpoints/%s' % endpoint[1]['endpoint']['id'])
        store._call('DELETE', '/regions/%s' % region)
    assert store.refusal() is None
