#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: openstack_restore
short_description: Restore the OpenStack databases, the etcd configuration tree and the credentials Secret from a backup run
version_added: 0.1.0
description:
  - Restores run O(run) (default the newest complete one) of O(backup_root), written by
    M(openstack_k8s.deploy.openstack_backup).
  - Before anything is changed - every file is checked against the sha256 in the manifest, the credentials are
    decrypted, the target server's health is checked (a Galera member must be C(Synced) in a Primary Component),
    and each component of the target is compared with the backup.
  - A component that already holds exactly the backup is left alone (a re-run changes nothing). An empty one is
    restored. One that holds something else (a database with tables, keys under the etcd prefix, an existing
    Secret with other values) is refused - unless O(force), which replaces it.
  - Databases are loaded by C(openstack-backup.sh restore), which then compares every table with the manifest
    (row count and C(CHECKSUM TABLE) of every table that was verified at backup time, and the set of tables) and
    fails on any difference. The etcd tree is written with the same planner as M(openstack_k8s.deploy.etcd_config_tree)
    with prune; the Secret is created or replaced.
author:
  - openstack_k8s.deploy developers (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.backup
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
options:
  force:
    description:
      - Replace components of the target that are not empty and differ from the backup. Destroys what is there.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Does every check and returns the plan (per component - restore, replace or unchanged); writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The database password is, in order, O(login_password), the key O(login_password_key) of the credentials Secret now
    in the cluster, or that key of the backed-up Secret.
  - Nothing this module returns or logs contains a password, a Secret value or the encryption key.
seealso:
  - module: openstack_k8s.deploy.openstack_backup
  - module: openstack_k8s.deploy.openstack_backup_info
'''

EXAMPLES = r'''
- name: Restore the newest backup into an empty cluster
  openstack_k8s.deploy.openstack_restore:
    backup_root: /srv/openstack-backups
    login_host: mariadb.openstack.svc
    min_cluster_size: 3
    etcd:
      endpoints: [https://etcd.openstack.svc:2379]
    namespace: openstack
    encryption_key: "{{ vault_backup_encryption_key }}"
    script: /usr/local/lib/openstack-k8s/openstack-backup.sh
'''

RETURN = r'''
run:
  description: The run restored.
  returned: always
  type: str
  sample: 20261123T190000Z
plan:
  description: Per component what was (check mode - would be) done - restore, replace or unchanged; databases per database.
  returned: always
  type: dict
  sample: {databases: {keystone: restore, nova: unchanged}, etcd: restore, credentials: unchanged}
verification:
  description: Comparison of the restored tables with the manifest - matched, mismatched, missing, unexpected, unverifiable, ok.
  returned: when databases were restored
  type: dict
restored_databases:
  description: Databases loaded.
  returned: when databases were restored
  type: list
  elements: str
etcd:
  description: Keys added, updated and removed under the prefix, and the etcd revision after.
  returned: when the etcd tree was restored
  type: dict
credentials:
  description: The Secret written - name, namespace, key names (never values) and action.
  returned: when the Secret was restored
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.plan import BackupInputError, RestoreRefused
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.secretbox import (
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import (
    ETCD_IMPORT_ERROR, ETCD_LIBRARY, HAS_ETCD)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR


def main():
    module = AnsibleModule(argument_spec=runner.RESTORE_SPEC, supports_check_mode=True,
                           mutually_exclusive=[('login_host', 'login_unix_socket')])
    components = module.params['components']
    if 'etcd' in components and not HAS_ETCD:
        module.fail_json(msg=missing_required_lib(ETCD_LIBRARY), exception=str(ETCD_IMPORT_ERROR))
    if not HAS_KUBERNETES and ('credentials' in components or module.params.get('login_password') is None):
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    if module.params.get('encryption_key') is not None and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))

    def run_command(args, environ):
        return module.run_command(args, environ_update=environ)

    try:
        result = runner.run_restore(module.params, run_command, check_mode=module.check_mode)
    except BackupInputError as exc:
        module.fail_json(msg='invalid options, nothing was changed: %s' % exc, errors=exc.errors)
    except RestoreRefused as exc:
        module.fail_json(msg=str(exc), refusals=exc.refusals, reason='not_empty')
    except runner.RUN_ERRORS as exc:
        module.fail_json(**runner.failure(exc))
    for warning in result.pop('warnings', []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
