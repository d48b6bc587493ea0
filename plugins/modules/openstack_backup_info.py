#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: openstack_backup_info
short_description: List the backup runs of a backup directory with their manifests
version_added: 0.1.0
description:
  - Lists the complete runs under O(backup_root) (newest first) with a summary of each manifest - time, release,
    components, databases with table and row counts, tables that changed while they were backed up, files and
    their sha256 - and the directories that are not complete runs (interrupted runs, foreign directories).
  - With O(verify), recomputes the sha256 of every file of each run and reports the differences.
  - Changes nothing.
author:
  - openstack_k8s.deploy developers (@openstack-k8s)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  backup_root:
    description:
      - Directory holding one subdirectory per backup run.
    type: path
    required: true
  run:
    description:
      - Only this run.
    type: str
  verify:
    description:
      - Recompute the sha256 of every file and compare it with the manifest.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: openstack_k8s.deploy.openstack_backup
  - module: openstack_k8s.deploy.openstack_restore
'''

EXAMPLES = r'''
- name: List and verify the backups
  openstack_k8s.deploy.openstack_backup_info:
    backup_root: /srv/openstack-backups
    verify: true
  register: backups
'''

RETURN = r'''
backups:
  description: The complete runs, newest first, each with its manifest summary, C(problems) (damaged or missing files)
    and C(verified).
  returned: always
  type: list
  elements: dict
latest:
  description: Name of the newest complete run, or null.
  returned: always
  type: str
  sample: 20261123T190000Z
incomplete:
  description: Directories under O(backup_root) that are not complete runs.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.backup.manifest import ManifestError


def main():
    module = AnsibleModule(argument_spec=runner.INFO_SPEC, supports_check_mode=True)
    try:
        result = runner.run_backup_info(module.params)
    except (runner.BackupError, ManifestError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
