# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup as a Kubernetes Job: the same openstack-backup.sh, in a pod that mounts the backup volume.

:func:`render` is pure: it returns the three objects a run needs -

* a ConfigMap holding the script (mounted at /scripts, mode 0555);
* a Secret holding this run's extra files (``etcd.json``, the *encrypted* credentials and
  the manifest's extra block), mounted at /payload, deleted when the Job has finished;
* the Job: the MariaDB client image runs ``openstack-backup.sh backup`` with
  ``BACKUP_ROOT`` the PVC's mount point (``backup_root``), the connection in plain variables and ``DB_PASSWORD``
  from the credentials Secret through ``secretKeyRef`` - the password is in no manifest,
  no argument and no log; non-root, read-only root filesystem, no privilege escalation.

:func:`run_job` creates them, waits until the Job completes or fails (the message then names
the Job, its last condition and how to read its log), and deletes the payload Secret.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import re
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.waiter import job_ready

JOB_SPEC = dict(
    image=dict(type='str', default='docker.io/library/mariadb:10.11'),
    pvc=dict(type='str'),
    namespace=dict(type='str'),
    service_account=dict(type='str'),
    timeout=dict(type='int', default=3600),
    run_as_user=dict(type='int', default=999),
)
SCRIPT_KEY = 'openstack-backup.sh'
LABELS = {
    'app.kubernetes.io/managed-by': 'openstack_k8s.deploy',
    'app.kubernetes.io/part-of': 'openstack',
    'app.kubernetes.io/name': 'backup',
}
FIELD_MANAGER = 'openstack-k8s-deploy'


class JobError(RuntimeError):
    """The Job failed or did not finish; the message names it and its last status."""


def job_name(run):
    """A DNS-1123 name for the run's Job (run names may hold upper case and dots)."""
    slug = re.sub(r'[^a-z0-9-]+', '-', run.lower()).strip('-')
    return ('openstack-backup-' + slug)[:63].rstrip('-')


def _labels(component, run=None):
    labels = dict(LABELS, **{'app.kubernetes.io/component': component})
    if run:
        labels['openstack-k8s.deploy/backup-run'] = job_name(run)[len('openstack-backup-'):]
    return labels


def render(params, run, script_text, payload):
    """(configmap, payload secret, job) for ``run``; ``payload`` maps file names to bytes."""
    job = params['job']
    namespace = job.get('namespace') or params['namespace']
    name = job_name(run)
    configmap = dict(apiVersion='v1', kind='ConfigMap',
                     metadata=dict(name='openstack-backup-script', namespace=namespace, labels=_labels('script')),
                     data={SCRIPT_KEY: script_text})
    secret = dict(apiVersion='v1', kind='Secret', type='Opaque',
                  metadata=dict(name=name + '-payload', namespace=namespace, labels=_labels('payload', run)),
                  data=dict((key, base64.b64encode(value).decode('ascii')) for key, value in sorted(payload.items())))
    env = [
        dict(name='BACKUP_ROOT', value=params['backup_root']),
        dict(name='BACKUP_RUN', value=run),
        dict(name='BACKUP_EXTRA_DIR', value='/payload'),
        dict(name='BACKUP_RELEASE', value=params.get('release') or ''),
        dict(name='BACKUP_DATABASES', value=','.join(params.get('databases') or [])),
        dict(name='BACKUP_REQUIRE_GALERA', value='1' if params.get('require_galera', True) else '0'),
        dict(name='BACKUP_MIN_CLUSTER_SIZE', value=str(params.get('min_cluster_size') or 1)),
        dict(name='BACKUP_KEEP', value=str(params['keep'])),
        dict(name='BACKUP_MAX_AGE_DAYS', value=str(params['max_age_days'])),
        dict(name='DB_HOST', value=params.get('login_host') or ''),
        dict(name='DB_PORT', value=str(params.get('login_port') or 3306)),
        dict(name='DB_USER', value=params.get('login_user') or 'root'),
        dict(name='DB_PASSWORD', valueFrom=dict(secretKeyRef=dict(name=params['credentials_secret'],
                                                                  key=params['login_password_key']))),
        dict(name='TMPDIR', value='/tmp'),
    ]
    if '.extra-manifest.json' in payload:
        env.append(dict(name='BACKUP_EXTRA_MANIFEST', value='/payload/.extra-manifest.json'))
    if 'databases' not in params['components']:
        env.append(dict(name='BACKUP_SKIP_DATABASES', value='1'))
    user = job.get('run_as_user') or 999
    pod_spec = dict(
        restartPolicy='Never',
        automountServiceAccountToken=False,
        securityContext=dict(runAsNonRoot=True, runAsUser=user, runAsGroup=user, fsGroup=user,
                             seccompProfile=dict(type='RuntimeDefault')),
        containers=[dict(
            name='backup', image=job.get('image'), imagePullPolicy='IfNotPresent',
            command=['/bin/bash', '/scripts/' + SCRIPT_KEY, 'backup'], env=env,
            securityContext=dict(allowPrivilegeEscalation=False, readOnlyRootFilesystem=True,
                                 capabilities=dict(drop=['ALL'])),
            resources=dict(requests=dict(cpu='100m', memory='256Mi'), limits=dict(memory='1Gi')),
            volumeMounts=[dict(name='backup', mountPath=params['backup_root']), dict(name='script', mountPath='/scripts', readOnly=True),
                          dict(name='payload', mountPath='/payload', readOnly=True), dict(name='tmp', mountPath='/tmp')])],
        volumes=[dict(name='backup', persistentVolumeClaim=dict(claimName=job.get('pvc'))),
                 dict(name='script', configMap=dict(name='openstack-backup-script', defaultMode=0o555)),
                 dict(name='payload', secret=dict(secretName=name + '-payload', defaultMode=0o400)),
                 dict(name='tmp', emptyDir=dict(medium='Memory', sizeLimit='64Mi'))])
    if job.get('service_account'):
        pod_spec['serviceAccountName'] = job['service_account']
    manifest = dict(apiVersion='batch/v1', kind='Job',
                    metadata=dict(name=name, namespace=namespace, labels=_labels('backup', run)),
                    spec=dict(backoffLimit=0, activeDeadlineSeconds=int(job.get('timeout') or 3600),
                              ttlSecondsAfterFinished=7 * 86400,
                              template=dict(metadata=dict(labels=_labels('backup', run)), spec=pod_spec)))
    return configmap, secret, manifest


def run_job(client, objects, timeout, sleep=time.sleep, clock=time.monotonic, poll=2.0):
    """Create the objects, wait for the Job, delete the payload Secret; returns the Job's last state."""
    configmap, secret, job = objects
    namespace = job['metadata']['namespace']
    client.apply(configmap, FIELD_MANAGER, force=True)
    client.create(secret, field_manager=FIELD_MANAGER)
    try:
        client.create(job, field_manager=FIELD_MANAGER)
        deadline = clock() + timeout
        while True:
            current = client.get('batch/v1', 'Job', job['metadata']['name'], namespace)
            state = job_ready(current or {})
            if state.ready:
                return dict(name=job['metadata']['name'], namespace=namespace, status=state.detail)
            hint = ('read its log: kubectl -n %s logs job/%s (it holds no secret)' % (namespace, job['metadata']['name']))
            if state.failed:
                raise JobError('backup Job %s/%s failed: %s; %s' % (namespace, job['metadata']['name'], state.detail, hint))
            if clock() > deadline:
                raise JobError('backup Job %s/%s did not finish within %ds, waiting for %s; last status: %s; %s'
                               % (namespace, job['metadata']['name'], timeout, state.condition, state.detail, hint))
            sleep(poll)
    finally:
        client.delete('v1', 'Secret', secret['metadata']['name'], namespace)
