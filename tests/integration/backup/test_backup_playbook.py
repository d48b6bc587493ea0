"""playbooks/backup.yml and playbooks/restore.yml through real ansible-playbook runs.

Source: the session Galera cluster, etcd and the Kubernetes sandbox (``source``). The
database password is not in the inventory: the module reads it from the credentials Secret.
"""
import json
import os

import pytest

from backup_helpers import ENCRYPTION_KEY, read_secret

pytestmark = pytest.mark.slow


def _group_vars(source, root, tmp_path, **extra):
    values = {
        'openstack_namespace': source['namespace'],
        'openstack_etcd_endpoints': source['etcd'].endpoints,
        'openstack_etcd_prefix': source['prefix'],
        'openstack_k8s_connection': {'kubeconfig': source['sandbox'].kubeconfig},
        'openstack_backup_encryption_key': ENCRYPTION_KEY,
        'openstack_backup_root': str(root),
        'galera_replicas': 3,
        'backup_db_host': '127.0.0.1', 'backup_db_port': source['cluster'].members[0].port,
        'backup_db_user': source['cluster'].admin_user, 'backup_databases': source['databases'],
        'backup_script_path': str(tmp_path / 'bin' / 'openstack-backup.sh'),
        'restore_script_path': str(tmp_path / 'bin' / 'openstack-backup.sh'),
        'backup_keep': 2,
    }
    values.update(extra)
    return values


def test_backup_playbook_idempotent_retention_and_quiet(source, make_inventory, run_playbook, tmp_path):
    root = tmp_path / 'backups'
    inventory = make_inventory(group_vars=_group_vars(source, root, tmp_path))
    secrets = list(source['secret'].values()) + [ENCRYPTION_KEY]

    first = run_playbook('playbooks/backup.yml', inventory, extra_vars={'backup_run': '20261101T000000Z'}, verbosity=3)
    assert first.rc == 0, first.explain()
    assert first.changed() >= 2  # the script installed, the run taken
    for value in secrets:
        assert value not in first.output, 'a secret reached the ansible-playbook output'
    assert sorted(os.listdir(root)) == ['20261101T000000Z']

    again = run_playbook('playbooks/backup.yml', inventory, extra_vars={'backup_run': '20261101T000000Z'})
    assert again.rc == 0 and again.changed() == 0, again.explain()

    taken = run_playbook('playbooks/backup.yml', inventory, extra_vars={'backup_run': '20261103T000000Z', 'backup_keep': 1})
    assert taken.rc == 0 and taken.changed() == 1, taken.explain()
    assert sorted(os.listdir(root)) == ['20261103T000000Z'], 'retention keeps the newest 1'
    manifest = json.loads((root / '20261103T000000Z' / 'manifest.json').read_text())
    assert sorted(manifest['databases']) == sorted(source['databases']) and manifest['release'] == '2026.2', (manifest, taken.stdout)

    # the etcd tree and the Secret into a fresh prefix and namespace: check mode, restore, re-run
    prefix, namespace = source['prefix'] + '-restored', source['namespace'] + '-restored'
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
    K8sClient(dict(kubeconfig=source['sandbox'].kubeconfig)).create(
        dict(apiVersion='v1', kind='Namespace', metadata=dict(name=namespace)))
    restore_vars = {'restore_components': ['etcd', 'credentials'], 'restore_etcd_prefix': prefix, 'restore_namespace': namespace}
    plan = run_playbook('playbooks/restore.yml', inventory, extra_vars=restore_vars, check=True)
    assert plan.rc == 0 and 'etcd tree: restore' in plan.stdout and 'credentials Secret: restore' in plan.stdout, plan.explain()
    assert source['etcd'].dump(prefix + '/') == {} and read_secret(source['sandbox'], namespace, 'openstack-credentials') is None
    restored = run_playbook('playbooks/restore.yml', inventory, extra_vars=restore_vars, verbosity=3)
    assert restored.rc == 0, restored.explain()
    for value in secrets:
        assert value not in restored.output, 'a secret reached the ansible-playbook output'
    assert read_secret(source['sandbox'], namespace, 'openstack-credentials') == source['secret']
    original = dict((k[len(source['prefix']):], v) for k, v in source['etcd'].dump(source['prefix'] + '/').items())
    assert dict((k[len(prefix):], v) for k, v in source['etcd'].dump(prefix + '/').items()) == original
    rerun = run_playbook('playbooks/restore.yml', inventory, extra_vars=restore_vars)
    assert rerun.rc == 0 and rerun.changed() == 0, rerun.explain()


def test_playbook_bad_input_fails_before_any_change(source, make_inventory, run_playbook, tmp_path):
    root = tmp_path / 'backups'
    inventory = make_inventory(group_vars=_group_vars(source, root, tmp_path, openstack_backup_encryption_key='short',
                                                      backup_keep=-1))
    result = run_playbook('playbooks/backup.yml', inventory)
    assert result.rc != 0
    assert 'keep must be 0 (no limit) or more, got -1' in result.output
    assert 'encryption_key must be at least 16 characters' in result.output
    assert not root.exists()
