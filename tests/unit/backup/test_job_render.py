"""job.py: the Kubernetes Job of transport=kubernetes, rendered without a cluster."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.job import job_name, render

PARAMS = dict(backup_root='/backup', release='2026.2', databases=['nova', 'keystone'], require_galera=True, min_cluster_size=3,
              keep=14, max_age_days=30, login_host='mariadb.openstack.svc', login_port=3306, login_user='root',
              credentials_secret='openstack-credentials', login_password_key='MARIADB_ROOT_PASSWORD', namespace='openstack',
              components=['databases', 'etcd', 'credentials'],
              job=dict(image='mariadb:10.11', pvc='backups', namespace=None, service_account=None, timeout=600, run_as_user=999))


@pytest.mark.parametrize('run,name', [
    ('20261123T190000Z', 'openstack-backup-20261123t190000z'),
    ('Before_Upgrade.2026.2', 'openstack-backup-before-upgrade-2026-2'),
    ('x' * 80, ('openstack-backup-' + 'x' * 80)[:63]),
])
def test_job_names_are_dns_labels(run, name):
    assert job_name(run) == name and len(name) <= 63


def test_render_takes_the_password_from_the_secret_only():
    configmap, secret, job = render(PARAMS, '20261123T190000Z', '#!/usr/bin/env bash\n', {'etcd.json': b'{}'})
    pod = job['spec']['template']['spec']
    container = pod['containers'][0]
    env = dict((e['name'], e) for e in container['env'])
    assert env['DB_PASSWORD'] == {'name': 'DB_PASSWORD', 'valueFrom': {'secretKeyRef': {
        'name': 'openstack-credentials', 'key': 'MARIADB_ROOT_PASSWORD'}}}
    assert all('valueFrom' in e or 'PASSWORD' not in e['name'] for e in container['env'])
    assert env['BACKUP_DATABASES']['value'] == 'nova,keystone' and env['BACKUP_KEEP']['value'] == '14'
    assert 'BACKUP_SKIP_DATABASES' not in env and 'BACKUP_EXTRA_MANIFEST' not in env
    assert pod['securityContext']['runAsNonRoot'] and not pod['automountServiceAccountToken']
    assert container['securityContext'] == {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True,
                                            'capabilities': {'drop': ['ALL']}}
    volumes = dict((v['name'], v) for v in pod['volumes'])
    assert volumes['backup']['persistentVolumeClaim'] == {'claimName': 'backups'}
    assert volumes['payload']['secret'] == {'secretName': secret['metadata']['name'], 'defaultMode': 0o400}
    assert job['spec']['backoffLimit'] == 0 and job['spec']['activeDeadlineSeconds'] == 600
    assert configmap['data'] == {'openstack-backup.sh': '#!/usr/bin/env bash\n'}


def test_render_without_databases_skips_them():
    _configmap, _secret, job = render(dict(PARAMS, components=['etcd']), 'etcd-only', '', {'.extra-manifest.json': b'{}'})
    env = dict((e['name'], e.get('value')) for e in job['spec']['template']['spec']['containers'][0]['env'])
    assert env['BACKUP_SKIP_DATABASES'] == '1' and env['BACKUP_EXTRA_MANIFEST'] == '/payload/.extra-manifest.json'
