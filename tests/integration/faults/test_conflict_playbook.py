"""A concurrent writer during site.yml: the playbook's write meets 409, reads again and keeps
the other writer's value (never overwritten blindly).

The race is made deterministic with the sandbox: the first create of a Secret in the
namespace is held for 2 s and its connection dropped (an injected "timeout"); in that window
another writer (an operator with kubectl, here the official client) creates
openstack-credentials with a value of its own. The client's retry of the create gets
409 AlreadyExists, and k8s_credentials must read the Secret again and add only what is missing.
Module-level conflict cases: tests/integration/credentials (ConcurrentWriter) and
tests/integration/cluster_nodes/test_node_roles_conflict.py.
"""
import base64
import threading
import time

import pytest

pytestmark = pytest.mark.slow

SECRETS_PATH = r'^/api/v1/namespaces/openstack/secrets$'
OPERATOR_VALUE = 'operator-chosen-value-0123456789'
KEY = 'KEYSTONE_ADMIN_PASSWORD'


def test_credentials_created_meanwhile_are_kept(site):
    site.sandbox.control.settings(faults=[{'verbs': ['create'], 'path': SECRETS_PATH, 'responses': ['timeout'],
                                           'timeout_seconds': 2, 'count': 1}])
    site.sandbox.control.clear_request_log()
    secrets = site.sandbox.dynamic_client().resources.get(api_version='v1', kind='Secret')
    raced = {}

    def operator():
        # Wait for the playbook's read of the (absent) Secret, then create it inside the held window.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            reads = [e for e in site.sandbox.control.request_log()
                     if e['verb'] == 'get' and e['resource'] == 'secrets' and e['name'] == 'openstack-credentials']
            if reads:
                time.sleep(0.5)
                secrets.create(namespace='openstack', body={
                    'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'openstack-credentials'},
                    'data': {KEY: base64.b64encode(OPERATOR_VALUE.encode()).decode()}})
                raced['done'] = time.time()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    result = site.run(tags=['credentials'], clear_log=False)
    thread.join(5)
    assert result.rc == 0, result.explain()
    assert 'done' in raced, 'the concurrent writer never ran'
    stored = site.credentials()
    assert stored[KEY] == OPERATOR_VALUE          # theirs, not overwritten
    assert len(stored) > 1 and all(stored.values())        # ours, added around it
    sequence = [(e['verb'], e['code'], e['field_manager']) for e in result.log if e['resource'] == 'secrets'
                and e['verb'] in ('get', 'create', 'patch') and (e['name'] == 'openstack-credentials' or e['verb'] == 'create')]
    assert ('create', 201, None) in sequence, sequence    # the operator's
    sequence = [(verb, code) for verb, code, manager in sequence if manager is not None or verb == "get"]
    # read (404), create held and dropped, the operator's create (201), our retried create (409),
    # read again (200), patch of only the missing keys (200).
    assert ('create', 0) in sequence and ('create', 409) in sequence, sequence
    conflict = sequence.index(('create', 409))
    assert ('get', 200) in sequence[conflict:] and ('patch', 200) in sequence[conflict:], sequence
    assert OPERATOR_VALUE not in result.output, 'a credential reached the output'
