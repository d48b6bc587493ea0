# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by openstack_backup and openstack_restore."""

    DOCUMENTATION = r'''
options:
  backup_root:
    description:
      - Directory holding one subdirectory per backup run (a local path, or the mount point of the backup volume).
    type: path
    required: true
  run:
    description:
      - Name of the run directory, letters, digits, C(.), C(_) and C(-).
      - Backup - default the UTC time C(YYYYmmddTHHMMSSZ); a run that already exists is not taken again.
      - Restore - default the newest complete run.
    type: str
  components:
    description:
      - What to back up or restore - the databases, the etcd configuration tree, the credentials Secret.
    type: list
    elements: str
    choices: [databases, etcd, credentials]
    default: [databases, etcd, credentials]
  databases:
    description:
      - Databases to back up or restore. Empty means every database except C(mysql), C(information_schema),
        C(performance_schema) and C(sys) (backup), or every database of the run (restore).
    type: list
    elements: str
    default: []
  login_host:
    description:
      - MariaDB host (a Galera member or the C(mariadb) Service). Required with O(components=databases) unless
        O(login_unix_socket) is set.
    type: str
  login_port:
    description:
      - MariaDB TCP port.
    type: int
    default: 3306
  login_user:
    description:
      - MariaDB user with the privileges of a full dump (SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES) or a full load.
    type: str
    default: root
  login_password:
    description:
      - Password of O(login_user). When unset, the key O(login_password_key) of the credentials Secret is used,
        so the password never passes through Ansible variables.
      - Given to the backup script only through its environment; it never appears on a command line or in a log.
    type: str
  login_unix_socket:
    description:
      - MariaDB unix socket, instead of O(login_host) and O(login_port).
    type: path
  login_password_key:
    description:
      - Key of the credentials Secret holding the password of O(login_user) when O(login_password) is unset.
        An empty string means no password (socket authentication).
    type: str
    default: MARIADB_ROOT_PASSWORD
  require_galera:
    description:
      - Refuse a server that is not a Galera member. Set V(false) only for a plain MariaDB server.
      - A Galera member must be in a Primary Component and C(Synced), with at least O(min_cluster_size) members.
    type: bool
    default: true
  min_cluster_size:
    description:
      - Refuse when the Galera cluster has fewer members (use the replica count, e.g. V(3)).
    type: int
    default: 1
  etcd:
    description:
      - The etcd holding the configuration tree. Required with O(components=etcd).
    type: dict
    suboptions:
      endpoints:
        description:
          - etcd client URLs, for example V(https://etcd.openstack.svc:2379).
        type: list
        elements: str
      prefix:
        description:
          - Root of the configuration tree.
        type: str
        default: /openstack
      ca_cert:
        description:
          - CA certificate of the etcd servers (https endpoints).
        type: path
      client_cert:
        description:
          - Client certificate; requires O(etcd.client_key).
        type: path
      client_key:
        description:
          - Private key of O(etcd.client_cert).
        type: path
      username:
        description:
          - etcd user; requires O(etcd.password).
        type: str
      password:
        description:
          - Password of O(etcd.username). Never logged.
        type: str
      timeout:
        description:
          - Seconds to wait for each etcd request.
        type: float
        default: 10
  credentials_secret:
    description:
      - Name of the credentials Secret.
    type: str
    default: openstack-credentials
  namespace:
    description:
      - Namespace of the credentials Secret. Required with O(components=credentials), or when the database password
        comes from the Secret.
    type: str
  encryption_key:
    description:
      - Passphrase (at least 16 characters, from Ansible Vault) that encrypts the credentials Secret in the backup
        (scrypt key derivation, Fernet - AES-128-CBC with HMAC-SHA256). Required to back up the Secret unless
        O(ignore:allow_plaintext_credentials=true), and to restore an encrypted one. Losing it loses the backed-up Secret.
    type: str
  script:
    description:
      - Path of C(openstack-backup.sh) (C(roles/backup/files)) on the host that runs the module.
    type: path
    default: /usr/local/lib/openstack-k8s/openstack-backup.sh
  script_env:
    description:
      - Extra environment for the script, for example C(BACKUP_CLIENT) and C(BACKUP_DUMP) (client binaries).
    type: dict
    default: {}
requirements:
  - C(mariadb) and C(mariadb-dump) client tools, C(gzip), C(sha256sum) on the host that runs the module
  - cryptography (for O(encryption_key))
'''
