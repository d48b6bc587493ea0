"""A deployed keystone for the rotation tests (the fixture ``cloud`` is in conftest.py): real Galera, real etcd, the Kubernetes sandbox.

``cloud`` (module scope): the sandbox reset, three controller nodes, the credentials Secret,
the catalog's config tree in etcd, ``mariadb`` and ``keystone`` rolled out by the collection's
own rollout code (``k8s/runner.py``), each ``mariadb-server-<n>`` pod's exec bound to one member
of the session Galera cluster (``harness.galera``), and the ``keystone`` MariaDB account made
with the Secret's password, as the db-init Job does on a cluster (the sandbox runs no container).

``Observer`` watches a rotation from outside: it polls the keystone pods and their config
Secret, and logs in to MariaDB as ``keystone`` with every password it has seen, so a test can
check that every password a live pod holds was accepted at every moment it was observed.
"""
import base64
import pathlib
import re
import secrets
import threading
import time

import pymysql
import yaml

from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.credentials import generate
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import ini
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m

REPO = pathlib.Path(__file__).resolve().parents[3]
NODE_ROLES = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
NAMESPACE = 'openstack'
PREFIX = '/openstack'
SERVICES = ['mariadb', 'keystone']
CONTROLLERS = ['ctl-1', 'ctl-2', 'ctl-3']
PASSWORD_RE = re.compile(r'mysql\+pymysql://keystone:([^@]+)@')


def etcd_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return ini.format_value(value)


class Cloud(object):
    def __init__(self, sandbox, etcd, galera):
        self.sandbox = sandbox
        self.etcd = etcd
        self.galera = galera
        self.catalog = cat.load_directory(str(REPO / 'roles/catalog/files/services'), NODE_ROLES)
        self.client = K8sClient({'kubeconfig': sandbox.kubeconfig})

    def setup(self):
        spec = NODE_ROLES['controller']
        for name in CONTROLLERS:
            self.sandbox.control.add_node(name, labels={spec['label']['key']: spec['label']['value']})
        self.client.create({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}})
        values = {}
        for name, kind in cat.secret_names(self.catalog).items():
            values[name] = generate('fernet_key') if kind == 'fernet_key' else secrets.token_urlsafe(24)
        self.client.create({'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'openstack-credentials', 'namespace': NAMESPACE},
                            'data': dict((k, base64.b64encode(v.encode()).decode()) for k, v in values.items())})
        with self.etcd.client() as cli:
            for name in SERVICES:
                for role, files in (self.catalog[name].get('config') or {}).items():
                    for fname, sections in files.items():
                        for section, options in sections.items():
                            for key, value in options.items():
                                cli.put('%s/%s/%s/%s/%s/%s' % (PREFIX, role, name, fname, section, key), etcd_value(value))
        # Each Galera pod's exec runs on this host, in its member's directory (my.cnf gives the socket).
        self.sandbox.control.settings(exec=[
            {'namespace': NAMESPACE, 'name': 'mariadb-server-%d' % i, 'container': 'server', 'mode': 'local',
             'workdir': str(member.dir), 'env': {'GALERA_DEFAULTS_FILE': str(member.cnf)}, 'timeout': 60}
            for i, member in enumerate(self.galera.members)])
        result = runner.run(self.rollout_params(SERVICES))
        assert not result.get('failed'), result.get('msg')
        self.galera.members[0].query("DROP USER IF EXISTS 'keystone'@'%'")
        self.galera.members[0].query("CREATE USER 'keystone'@'%%' IDENTIFIED BY %s", (values['KEYSTONE_DB_PASSWORD'],))

    def teardown(self):
        self.galera.members[0].query("DROP USER IF EXISTS 'keystone'@'%'")
        self.etcd.wipe()

    def rollout_params(self, services, **extra):
        params = dict(kubeconfig=self.sandbox.kubeconfig, services=[self.catalog[s] for s in services], namespace=NAMESPACE,
                      etcd=dict(endpoints=self.etcd.endpoints, prefix=PREFIX), credentials_secret='openstack-credentials',
                      variables={'node_roles': NODE_ROLES}, replicas={}, state='present', wait=True, wait_timeout=60,
                      force_conflicts=False, api_retries=5)
        params.update(extra)
        return params

    def group_vars(self, **extra):
        values = {
            'openstack_namespace': NAMESPACE,
            'openstack_enabled_services': ['mariadb', 'memcached', 'keystone'],
            'openstack_etcd_endpoints': self.etcd.endpoints,
            'openstack_etcd_prefix': PREFIX,
            'openstack_k8s_connection': {'kubeconfig': self.sandbox.kubeconfig},
            'rotate_credentials_wait_timeout': 60,
        }
        values.update(extra)
        return values

    def secret(self, name='openstack-credentials'):
        obj = self.client.get('v1', 'Secret', name, NAMESPACE)
        return None if obj is None else dict((k, base64.b64decode(v).decode()) for k, v in (obj.get('data') or {}).items())

    def accepts(self, password, member=0):
        """Whether MariaDB (member ``member``) lets ``keystone`` log in with ``password``."""
        try:
            conn = pymysql.connect(host='127.0.0.1', port=self.galera.members[member].port, user='keystone',
                                   password=password, connect_timeout=5)
        except pymysql.err.OperationalError as exc:
            if exc.args[0] == 1045:
                return False
            raise
        conn.close()
        return True

    def writes(self):
        """Non-exec write requests in the sandbox's log."""
        return [e for e in self.sandbox.control.request_log()
                if (e['apply'] or e['verb'] in ('create', 'update', 'patch', 'delete', 'deletecollection'))
                and e['subresource'] != 'exec' and not e['dry_run']]


class Observer(threading.Thread):
    """Polls a service's pods and config Secret, and asks the backend about every value seen there.

    The base class watches keystone's database password against MariaDB; a subclass sets
    ``service``/``filename``/``key`` and overrides :meth:`extract` and :meth:`accepted`.
    """

    service = 'keystone'
    filename = 'keystone.conf'
    key = 'password'           # what a pod record holds: the value its config was rendered with
    skip = ()                  # template checksums of pods that mount no such file (Jobs)

    def __init__(self, cloud):
        super(Observer, self).__init__(name='%s-observer' % self.service, daemon=True)
        self.cloud = cloud
        self.client = K8sClient({'kubeconfig': cloud.sandbox.kubeconfig})
        self.stop_event = threading.Event()
        self.by_checksum = {}      # pod template config checksum -> the value that config holds
        self.pods = {}             # pod uid -> {name, <key>, first, last}
        self.samples = []          # (time, {value: accepted})
        self.unknown = []
        self.errors = []

    def extract(self, text):
        return PASSWORD_RE.search(text).group(1)

    def accepted(self, value):
        return self.cloud.accepts(value)

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.poll()
            except Exception as exc:  # pylint: disable=broad-except
                self.errors.append(repr(exc))
            self.stop_event.wait(0.03)

    def poll(self):
        secret = self.client.get('v1', 'Secret', '%s-config-controller' % self.service, NAMESPACE)
        text = base64.b64decode(secret['data'][self.filename]).decode()
        digest = m.checksum({'config/%s' % self.filename: m.checksum(text)})
        self.by_checksum[digest] = self.extract(text)
        pods, _version = self.client.list('v1', 'Pod', namespace=NAMESPACE,
                                          label_selector='app.kubernetes.io/name=%s' % self.service)
        now = time.monotonic()
        for pod in pods:
            meta = pod['metadata']
            if (pod.get('status') or {}).get('phase') in ('Succeeded', 'Failed'):
                continue
            held = (meta.get('annotations') or {}).get(m.CHECKSUM_ANNOTATION)
            if held in self.skip:
                continue
            if held not in self.by_checksum:
                self.unknown.append(meta['name'])
                continue
            seen = self.pods.setdefault(meta['uid'], {'name': meta['name'], self.key: self.by_checksum[held], 'first': now})
            seen['last'] = now
        sample = dict((value, self.accepted(value)) for value in set(self.by_checksum.values()))
        self.samples.append((time.monotonic(), sample))

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)

    def violations(self):
        """(pod, password index, time) where a live pod's password was rejected while the pod was seen."""
        found = []
        for pod in self.pods.values():
            for when, sample in self.samples:
                if pod['first'] <= when <= pod['last'] and not sample.get(pod[self.key], False):
                    found.append((pod['name'], when))
        return found
