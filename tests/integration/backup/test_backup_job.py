"""transport=kubernetes against the Kubernetes sandbox: the Job, its ConfigMap and payload Secret.

The sandbox validates every object against the real API schemas and runs the Job's pod to
completion (or failure, by fault injection); it cannot run the script, which the other
tests in this directory run against real servers. What is checked here is what only the
Kubernetes path has: the password only as a secretKeyRef, the payload holding only the
encrypted Secret, the payload deleted afterwards, re-runs and failures reported by name.
"""
import base64
import json

import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.plan import BackupInputError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.secretbox import decrypt
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient

from backup_helpers import ENCRYPTION_KEY, SCRIPT, TREE, make_secret
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import run_config_tree

SECRET = {'MARIADB_ROOT_PASSWORD': 'root-pw-' + 'x' * 24, 'NOVA_DB_PASSWORD': 'nova-pw-' + 'y' * 24}


@pytest.fixture
def cluster(sandbox, etcd):
    client = K8sClient(dict(kubeconfig=sandbox.kubeconfig))
    make_secret(client, 'openstack', 'openstack-credentials', SECRET)
    prefix = '/bk-job'
    run_config_tree(dict(etcd.connection(), prefix=prefix, tree=TREE, prune=True, state='present', max_txn_ops=128))
    params = dict(
        backup_root='/backup', run='20261123T190000Z', components=['databases', 'etcd', 'credentials'], databases=[],
        login_host='mariadb.openstack.svc', login_port=3306, login_user='root', login_password=None, login_unix_socket=None,
        login_password_key='MARIADB_ROOT_PASSWORD', require_galera=True, min_cluster_size=3,
        etcd=dict(etcd.connection(), prefix=prefix, timeout=10), credentials_secret='openstack-credentials', namespace='openstack',
        encryption_key=ENCRYPTION_KEY, script=SCRIPT, script_env={}, release='2026.2', allow_plaintext_credentials=False,
        keep=7, max_age_days=0, transport='kubernetes',
        job=dict(image='docker.io/library/mariadb:10.11', pvc='openstack-backups', namespace=None, service_account=None,
                 timeout=60, run_as_user=999),
        kubeconfig=sandbox.kubeconfig, context=None, host=None, api_key=None, ca_cert=None, validate_certs=None,
        api_timeout=20, api_retries=2)
    yield sandbox, client, params
    run_config_tree(dict(etcd.connection(), prefix=prefix, tree=None, prune=False, state='absent', max_txn_ops=128))


def test_job_backup_in_the_sandbox(cluster, monkeypatch):
    sandbox, client, params = cluster
    planned = runner.run_backup(params, None, check_mode=True)
    assert planned['changed'] and planned['job']['manifest']['kind'] == 'Job'
    assert client.get('batch/v1', 'Job', 'openstack-backup-20261123t190000z', 'openstack') is None

    payloads = []
    original_create = K8sClient.create

    def spy(self, manifest, **kwargs):  # keep the payload Secret to inspect it after it was deleted
        if manifest['kind'] == 'Secret':
            payloads.append(manifest)
        return original_create(self, manifest, **kwargs)

    monkeypatch.setattr(K8sClient, 'create', spy)
    result = runner.run_backup(params, None)
    monkeypatch.undo()
    assert result['changed'] and 'Complete=True' in result['job']['status']
    job = client.get('batch/v1', 'Job', 'openstack-backup-20261123t190000z', 'openstack')
    container = job['spec']['template']['spec']['containers'][0]
    env = dict((e['name'], e) for e in container['env'])
    assert env['DB_PASSWORD'] == {'name': 'DB_PASSWORD', 'valueFrom': {'secretKeyRef': {
        'name': 'openstack-credentials', 'key': 'MARIADB_ROOT_PASSWORD'}}}
    assert env['BACKUP_ROOT']['value'] == '/backup' and env['BACKUP_MIN_CLUSTER_SIZE']['value'] == '3'
    assert container['command'] == ['/bin/bash', '/scripts/openstack-backup.sh', 'backup']
    configmap = client.get('v1', 'ConfigMap', 'openstack-backup-script', 'openstack')
    with open(SCRIPT) as handle:
        assert configmap['data']['openstack-backup.sh'] == handle.read()
    # no secret value in any object the Job path wrote; the payload is deleted once the Job ends
    everything = json.dumps([job, configmap] + payloads)
    for value in list(SECRET.values()) + [ENCRYPTION_KEY]:
        assert value not in everything
    assert client.get('v1', 'Secret', 'openstack-backup-20261123t190000z-payload', 'openstack') is None
    payload = dict((k, base64.b64decode(v)) for k, v in payloads[0]['data'].items())
    assert sorted(payload) == ['.extra-manifest.json', 'credentials.enc', 'etcd.json']
    assert decrypt(payload['credentials.enc'], ENCRYPTION_KEY)['data'] == SECRET
    assert json.loads(payload['.extra-manifest.json'])['credentials']['keys'] == sorted(SECRET)

    again = runner.run_backup(params, None)  # the run's Job already completed: nothing to do
    assert not again['changed']


def test_job_failure_names_the_job_and_the_log(cluster):
    sandbox, client, params = cluster
    sandbox.control.settings(job_failures=[{'kind': 'Job', 'name': 'openstack-backup-*'}])
    with pytest.raises(runner.BackupError) as failure:
        runner.run_backup(dict(params, run='failing'), None)
    assert 'backup Job openstack/openstack-backup-failing failed' in failure.value.message
    assert 'kubectl -n openstack logs job/openstack-backup-failing' in failure.value.message
    assert client.get('v1', 'Secret', 'openstack-backup-failing-payload', 'openstack') is None
    with pytest.raises(runner.BackupError) as again:
        runner.run_backup(dict(params, run='failing'), None)
    assert 'exists and failed' in again.value.message and 'delete job openstack-backup-failing' in again.value.message


def test_job_bad_input(cluster):
    _sandbox, _client, params = cluster
    with pytest.raises(BackupInputError) as failure:
        runner.run_backup(dict(params, login_password='inline', job=dict(params['job'], pvc=None)), None)
    assert failure.value.errors == [
        'job.pvc is required with transport=kubernetes (the PersistentVolumeClaim holding the backups)',
        'login_password cannot be used with transport=kubernetes: the Job reads login_password_key from the credentials Secret '
        'through secretKeyRef; remove login_password']
