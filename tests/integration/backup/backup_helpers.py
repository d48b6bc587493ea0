"""Shared pieces of the backup/restore integration tests: real Galera, etcd and the sandbox.

``source`` (module scope, fixture in conftest.py) fills two databases of the session Galera cluster with rows of
every kind of column a service database has (integers, decimals, utf8mb4 text, binary
blobs, NULLs, dates, an empty table, a view, a trigger), seeds a config tree under its own
etcd prefix with the collection's etcd_config_tree code, and a credentials Secret in the
Kubernetes sandbox holding the database password the backup logs in with.
"""
import base64
import os
import pathlib
import random
import subprocess
import uuid

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import run_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient

REPO = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = str(REPO / 'roles' / 'backup' / 'files' / 'openstack-backup.sh')
ENCRYPTION_KEY = 'test-only passphrase ' + uuid.uuid4().hex


def run_command(args, environ):
    """The runner the modules get from AnsibleModule.run_command: (rc, stdout, stderr)."""
    env = dict(os.environ)
    env.update(environ)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    run_command.calls.append((args, environ, proc.stdout, proc.stderr))
    return proc.returncode, proc.stdout, proc.stderr


run_command.calls = []


def checksums(server, databases):
    """{(db, table): (rows, checksum)} read independently of the code under test (PyMySQL)."""
    conn = server.connect()
    found = {}
    try:
        with conn.cursor() as cur:
            for db in databases:
                cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'", (db,))
                for (table,) in cur.fetchall():
                    cur.execute('SELECT COUNT(*) FROM `%s`.`%s`' % (db, table))
                    rows = cur.fetchone()[0]
                    cur.execute('CHECKSUM TABLE `%s`.`%s` EXTENDED' % (db, table))
                    found[(db, table)] = (rows, str(cur.fetchone()[1]))
    finally:
        conn.close()
    return found


def fill_databases(server, suffix, rows=400, seed=7):
    """Create ``bk_keystone_<suffix>`` and ``bk_nova_<suffix>`` with varied data; returns their names."""
    rng = random.Random(seed)
    keystone, nova = 'bk_keystone_%s' % suffix, 'bk_nova_%s' % suffix
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            for db in (keystone, nova):
                cur.execute('CREATE DATABASE `%s` CHARACTER SET utf8mb4' % db)
            cur.execute('CREATE TABLE `%s`.`user` (id VARCHAR(64) PRIMARY KEY, name VARCHAR(255) NOT NULL, '
                        'extra TEXT, enabled TINYINT(1), created_at DATETIME(6), domain_id VARCHAR(64) NULL) '
                        'ENGINE=InnoDB' % keystone)
            cur.execute('CREATE TABLE `%s`.`empty_table` (id INT PRIMARY KEY) ENGINE=InnoDB' % keystone)
            cur.execute('CREATE TABLE `%s`.`instances` (id INT AUTO_INCREMENT PRIMARY KEY, uuid CHAR(36) NOT NULL UNIQUE, '
                        'memory_mb INT, vcpus SMALLINT, price DECIMAL(12,4), metadata BLOB, hostname VARCHAR(255), '
                        'deleted_at TIMESTAMP NULL DEFAULT NULL) ENGINE=InnoDB' % nova)
            cur.execute('CREATE TABLE `%s`.`instance_audit` (id INT AUTO_INCREMENT PRIMARY KEY, instance_id INT) ENGINE=InnoDB' % nova)
            cur.execute('CREATE TRIGGER `%s`.`audit_insert` AFTER INSERT ON `%s`.`instances` FOR EACH ROW '
                        'INSERT INTO `%s`.`instance_audit` (instance_id) VALUES (NEW.id)' % (nova, nova, nova))
            cur.execute('CREATE VIEW `%s`.`big_instances` AS SELECT uuid, memory_mb FROM `%s`.`instances` WHERE memory_mb > 4096'
                        % (nova, nova))
            users = [(uuid.UUID(int=rng.getrandbits(128)).hex, u'user-%d-\u00e9\u4e2d\U0001f600' % i,
                      None if i % 3 else '{"email": "u%d@example.net", "quote": "\\"x\\""}' % i, i % 2,
                      '2026-01-%02d 10:%02d:00.%06d' % (i % 28 + 1, i % 60, i), None if i % 5 else 'default')
                     for i in range(rows)]
            cur.executemany('INSERT INTO `%s`.`user` VALUES (%%s, %%s, %%s, %%s, %%s, %%s)' % keystone, users)
            instances = [(str(uuid.UUID(int=rng.getrandbits(128))), rng.choice([512, 2048, 8192]), rng.randint(1, 64),
                          '%d.%04d' % (rng.randint(0, 99999), rng.randint(0, 9999)), bytes(rng.getrandbits(8) for _i in range(64)),
                          "host-%d'; DROP TABLE x; --" % i, None if i % 4 else '2026-02-01 00:00:00')
                         for i in range(rows)]
            cur.executemany('INSERT INTO `%s`.`instances` (uuid, memory_mb, vcpus, price, metadata, hostname, deleted_at) '
                            'VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)' % nova, instances)
    finally:
        conn.close()
    return [keystone, nova]


def make_secret(client, namespace, name, data):
    if client.get('v1', 'Namespace', namespace) is None:
        client.create(dict(apiVersion='v1', kind='Namespace', metadata=dict(name=namespace)))
    client.create(dict(apiVersion='v1', kind='Secret', type='Opaque', metadata=dict(name=name, namespace=namespace),
                       data=dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())))


def read_secret(sandbox, namespace, name):
    """The Secret's decoded values read with a separate official client, or None."""
    from kubernetes import client as k8s
    from kubernetes.client.rest import ApiException
    try:
        secret = k8s.CoreV1Api(sandbox.api_client()).read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict((k, base64.b64decode(v).decode()) for k, v in (secret.data or {}).items())


TREE = {
    'general': {'REGION_NAME': 'RegionOne', 'DB_HOST': 'mariadb.openstack.svc', 'DB_PORT': 3306},
    'controller': {
        'keystone': {'keystone.conf': {
            'database': {'connection': 'mysql+pymysql://keystone:$KEYSTONE_DB_PASSWORD@$DB_HOST/keystone'},
            'token': {'provider': 'fernet', 'expiration': 3600}}},
        'nova': {'nova.conf': {'DEFAULT': {'cpu_allocation_ratio': 4.0, 'enabled_apis': ['osapi_compute', 'metadata']},
                               'keystone_authtoken': {'password': '$NOVA_KEYSTONE_PASSWORD'}}},
    },
}


def make_source(galera_cluster, etcd, k8s_sandbox):
    """Databases, an etcd tree and a credentials Secret to back up (one set per test module)."""
    suffix = uuid.uuid4().hex[:8]
    databases = fill_databases(galera_cluster.members[0], suffix)
    prefix = '/bk-src-%s' % suffix
    run_config_tree(dict(etcd.connection(), prefix=prefix, tree=TREE, prune=True, state='present', max_txn_ops=128))
    client = K8sClient(dict(kubeconfig=k8s_sandbox.kubeconfig))
    namespace = 'bk-src-%s' % suffix
    secret_values = {'MARIADB_ROOT_PASSWORD': galera_cluster.admin_password,
                     'KEYSTONE_DB_PASSWORD': 'kdb' + uuid.uuid4().hex, 'NOVA_KEYSTONE_PASSWORD': 'nks' + uuid.uuid4().hex}
    make_secret(client, namespace, 'openstack-credentials', secret_values)
    yield dict(cluster=galera_cluster, databases=databases, prefix=prefix, namespace=namespace, secret=secret_values,
               suffix=suffix, etcd=etcd, sandbox=k8s_sandbox)
    with etcd.client() as cli:  # every prefix these tests wrote (source, restored copies)
        cli.delete_prefix('/bk-')
    conn = galera_cluster.members[0].connect()
    try:
        with conn.cursor() as cur:
            for db in databases:
                cur.execute('DROP DATABASE IF EXISTS `%s`' % db)
    finally:
        conn.close()


def backup_params(src, root, **overrides):
    """openstack_backup options for ``src`` into ``root``."""
    params = dict(
        backup_root=str(root), run=None, components=['databases', 'etcd', 'credentials'], databases=list(src['databases']),
        login_host='127.0.0.1', login_port=src['cluster'].members[0].port, login_user=src['cluster'].admin_user,
        login_password=None, login_unix_socket=None, login_password_key='MARIADB_ROOT_PASSWORD',
        require_galera=True, min_cluster_size=3,
        etcd=dict(src['etcd'].connection(), prefix=src['prefix'], timeout=10),
        credentials_secret='openstack-credentials', namespace=src['namespace'], encryption_key=ENCRYPTION_KEY,
        script=SCRIPT, script_env={}, release='2026.2', allow_plaintext_credentials=False, keep=7, max_age_days=0,
        kubeconfig=src['sandbox'].kubeconfig, context=None, host=None, api_key=None, ca_cert=None, validate_certs=None,
        api_timeout=20, api_retries=2)
    params.update(overrides)
    return params


def restore_params(src, root, member, prefix, namespace, **overrides):
    params = backup_params(src, root, login_port=member.port if member else None, etcd=dict(src['etcd'].connection(), prefix=prefix, timeout=10),
                           namespace=namespace, force=False, databases=[])
    for option in ('release', 'allow_plaintext_credentials', 'keep', 'max_age_days'):
        params.pop(option)
    params.update(overrides)
    return params
