#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: openstack_backup
short_description: Back up the OpenStack databases, the etcd configuration tree and the credentials Secret
version_added: 0.1.0
description:
  - Takes one backup run into O(backup_root)/O(run) - a directory with C(manifest.json) (time, release, server and
    tool versions, every table's row count and C(CHECKSUM TABLE), the sha256 of every file), C(SHA256SUMS),
    one C(mariadb-dump --single-transaction) dump per database (gzip), the etcd tree under the prefix as JSON, and the
    credentials Secret encrypted with O(encryption_key).
  - The work is done by C(openstack-backup.sh) (C(roles/backup/files)), the same script a Kubernetes Job runs. It
    refuses a Galera member that is not C(Synced) in a Primary Component of at least O(min_cluster_size) members.
  - Each table is checksummed before and after its dump; a table that did not change meanwhile is marked verified
    (the dump holds exactly that checksum), one written to during the backup is marked changed.
  - A run appears under its name only when complete (it is written as C(.<run>.partial) and renamed). Afterwards,
    retention deletes complete runs beyond the newest O(keep) and older than O(max_age_days) (the newest is always
    kept), and interrupted partial runs.
  - A run whose name already exists is not taken again (V(changed=false) unless retention deletes something), so
    re-running with the same O(run) is idempotent.
  - Bad options fail before anything is read, naming the option and the fix.
author:
  - openstack_k8s.deploy developers (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.backup
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
options:
  release:
    description:
      - OpenStack release recorded in the manifest (C(openstack_release)).
    type: str
    default: ''
  allow_plaintext_credentials:
    description:
      - Store the credentials Secret unencrypted (C(credentials.json), mode 0600) when O(encryption_key) is unset.
        Anyone who can read the backup can then read every password of the cloud; the module warns loudly.
    type: bool
    default: false
  keep:
    description:
      - Retention - keep the newest N complete runs; V(0) means no count limit.
    type: int
    default: 7
  max_age_days:
    description:
      - Retention - delete complete runs older than this many days (the newest run is always kept); V(0) means no age limit.
    type: int
    default: 0
  transport:
    description:
      - Where C(openstack-backup.sh) runs. V(local) - on the host that runs the module, writing under O(backup_root).
      - V(kubernetes) - as a Job in the cluster (O(job)) writing to the backup PersistentVolumeClaim, mounted at
        O(backup_root) inside the pod. The Job logs in with the key O(login_password_key) of the credentials Secret through
        C(secretKeyRef); the etcd tree and the encrypted Secret reach it in a per-run Secret deleted when the Job ends.
        The run's manifest and retention are written by the Job; read them with M(openstack_k8s.deploy.openstack_backup_info)
        where the volume is mounted.
    type: str
    choices: [local, kubernetes]
    default: local
  job:
    description:
      - The Job of O(transport=kubernetes).
    type: dict
    default: {}
    suboptions:
      image:
        description:
          - Image with bash, the MariaDB client tools (C(mariadb), C(mariadb-dump)), C(gzip) and coreutils.
        type: str
        default: docker.io/library/mariadb:10.11
      pvc:
        description:
          - PersistentVolumeClaim holding the backup runs. Required with O(transport=kubernetes).
        type: str
      namespace:
        description:
          - Namespace of the Job; default O(namespace) (it must hold the credentials Secret and the PVC).
        type: str
      service_account:
        description:
          - Service account of the pod; it needs no API access (its token is not mounted).
        type: str
      timeout:
        description:
          - Seconds the Job may run (C(activeDeadlineSeconds)) and the module waits.
        type: int
        default: 3600
      run_as_user:
        description:
          - UID (and GID, fsGroup) of the pod; 999 is C(mysql) in the official MariaDB image.
        type: int
        default: 999
attributes:
  check_mode:
    support: full
    details: Checks the server's health, lists what would be backed up and which runs retention would delete; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Users and grants (the C(mysql) database) are not backed up - the services' database users are recreated from the
    credentials Secret by the deployment (C(site.yml)).
  - Nothing this module returns or logs contains a password, a Secret value or the encryption key.
seealso:
  - module: openstack_k8s.deploy.openstack_restore
  - module: openstack_k8s.deploy.openstack_backup_info
'''

EXAMPLES = r'''
- name: Back up the cloud (database password read from the credentials Secret)
  openstack_k8s.deploy.openstack_backup:
    backup_root: /srv/openstack-backups
    login_host: mariadb.openstack.svc
    min_cluster_size: 3
    etcd:
      endpoints: [https://etcd.openstack.svc:2379]
      ca_cert: /etc/openstack-deploy/etcd/ca.pem
    namespace: openstack
    encryption_key: "{{ vault_backup_encryption_key }}"
    release: "2026.2"
    keep: 14
    max_age_days: 30
    script: /usr/local/lib/openstack-k8s/openstack-backup.sh

- name: Back up from a Job in the cluster onto the backup volume
  openstack_k8s.deploy.openstack_backup:
    transport: kubernetes
    backup_root: /backup
    job:
      pvc: openstack-backups
    login_host: mariadb.openstack.svc
    min_cluster_size: 3
    etcd:
      endpoints: [https://etcd.openstack.svc:2379]
    namespace: openstack
    encryption_key: "{{ vault_backup_encryption_key }}"
    script: "{{ playbook_dir }}/../roles/backup/files/openstack-backup.sh"
'''

RETURN = r'''
job:
  description: The Job of O(transport=kubernetes) - name, namespace, status; in check mode also the rendered manifest.
  returned: with O(transport=kubernetes)
  type: dict
run:
  description: Name of the run.
  returned: always
  type: str
  sample: 20261123T190000Z
path:
  description: Directory of the run.
  returned: always
  type: str
  sample: /srv/openstack-backups/20261123T190000Z
databases:
  description: Databases dumped (in check mode, the ones that would be).
  returned: when a run was taken or planned
  type: list
  elements: str
  sample: [glance, keystone, nova]
manifest:
  description: Summary of the run's manifest - databases with table and row counts, unverified tables, files and sha256.
  returned: when the run exists
  type: dict
pruned:
  description: Runs deleted by retention (in check mode, that would be).
  returned: always
  type: list
  elements: str
kept:
  description: Runs retention keeps.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.plan import BackupInputError
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.secretbox import (
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import (
    ETCD_IMPORT_ERROR, ETCD_LIBRARY, HAS_ETCD)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR


def check_libraries(module):
    components = module.params['components']
    if 'etcd' in components and not HAS_ETCD:
        module.fail_json(msg=missing_required_lib(ETCD_LIBRARY), exception=str(ETCD_IMPORT_ERROR))
    if not HAS_KUBERNETES and ('credentials' in components or module.params.get('login_password') is None):
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    if module.params.get('encryption_key') is not None and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))


def main():
    module = AnsibleModule(argument_spec=runner.BACKUP_SPEC, supports_check_mode=True,
                           mutually_exclusive=[('login_host', 'login_unix_socket')])
    check_libraries(module)

    def run_command(args, environ):
        return module.run_command(args, environ_update=environ)

    try:
        result = runner.run_backup(module.params, run_command, check_mode=module.check_mode)
    except BackupInputError as exc:
        module.fail_json(msg='invalid options, nothing was done: %s' % exc, errors=exc.errors)
    except runner.RUN_ERRORS as exc:
        module.fail_json(**runner.failure(exc))
    for warning in result.pop('warnings', []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
