"""A pod network out of Linux network namespaces, for running a rendered container command for real.

Each pod gets its own network namespace (its own 0.0.0.0, as in a pod), joined by a veth pair to
a bridge in a hub namespace; the hub namespace is where a test's clients run. Inside a pod, the
command runs in a private mount namespace (``ip netns exec`` makes one) where a hosts file maps
the pods' DNS names (``<pod>.<headless service>.<namespace>.svc.<cluster domain>``) to their
addresses and a per-pod directory is bind-mounted where the rendered container mounts its volume.

Nothing here touches the host's own network namespace: the veth pairs are created inside the
namespaces, and everything is deleted by :meth:`PodNetwork.close` (and when the process exits).
Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
"""
import atexit
import os
import signal
import subprocess
import time

from harness.etcd import _die_with_parent

IP = os.environ.get('IP_BINARY', '/usr/sbin/ip')
_OPEN = set()


@atexit.register
def _close_all():
    for network in list(_OPEN):
        network.close()


def available():
    """(True, '') when network namespaces can be made here, else (False, why)."""
    if os.geteuid() != 0:
        return False, 'network namespaces need root'
    if not os.path.exists(IP):
        return False, '%s is missing (iproute2)' % IP
    name = 'okd-probe-%d' % os.getpid()
    probe = subprocess.run([IP, 'netns', 'add', name], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return False, 'ip netns add failed: %s' % probe.stderr.strip()
    subprocess.run([IP, 'netns', 'del', name], capture_output=True, check=False)
    return True, ''


def _ip(*args):
    result = subprocess.run([IP] + list(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError('ip %s: %s' % (' '.join(args), result.stderr.strip()))
    return result.stdout


class Pod(object):
    """A pod's network namespace, address and DNS name; :meth:`start` runs its container command."""

    def __init__(self, network, name, address):
        self.network, self.name, self.address = network, name, address
        self.netns = '%s-%s' % (network.tag, name.rsplit('-', 1)[-1])
        self.fqdn = '%s.%s' % (name, network.domain)
        self.process = None
        self.log = network.workdir / ('%s.log' % name)

    def start(self, script, env, mounts, shell='/bin/sh'):
        """Run ``shell -ec script`` as the container would, with ``env`` and ``mounts``
        ({container path: host directory}) bind-mounted in the pod's private mount namespace.
        Call it from the main thread: the pod dies with the thread that started it (PDEATHSIG)."""
        self.stop()
        binds = ['mount --bind "%s" /etc/hosts' % self.network.hosts_file]
        for target, source in sorted(mounts.items()):
            binds.append('mkdir -p "%s" && mount --bind "%s" "%s"' % (target, source, target))
        wrapper = ' && '.join(binds) + ' && exec "$0" -ec "$1"'
        full_env = dict(PATH=os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin'), HOME='/tmp', **env)
        log = open(self.log, 'ab')
        try:
            self.process = subprocess.Popen([IP, 'netns', 'exec', self.netns, '/bin/sh', '-ec', wrapper, shell, script],
                                            env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent)
        finally:
            log.close()
        return self

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def output(self):
        return self.log.read_text(errors='replace') if self.log.exists() else ''


class PodNetwork(object):
    """``count`` pods named ``<prefix>-<ordinal>`` on 10.213.7.0/24 behind the headless Service
    ``service`` of ``namespace``; the hub namespace has 10.213.7.1."""

    SUBNET = '10.213.7'

    def __init__(self, workdir, prefix, count, service, namespace='openstack', cluster_domain='cluster.local'):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tag = 'okd%d' % os.getpid()
        self.hub = '%s-hub' % self.tag
        self.domain = '%s.%s.svc.%s' % (service, namespace, cluster_domain)
        self.pods = [Pod(self, '%s-%d' % (prefix, i), '%s.%d' % (self.SUBNET, 10 + i)) for i in range(count)]
        self.hosts_file = self.workdir / 'hosts'
        self.hosts_file.write_text('127.0.0.1 localhost\n' + ''.join(
            '%s %s %s\n' % (pod.address, pod.fqdn, pod.name) for pod in self.pods))
        _OPEN.add(self)
        try:
            _ip('netns', 'add', self.hub)
            _ip('-n', self.hub, 'link', 'add', 'br0', 'type', 'bridge')
            _ip('-n', self.hub, 'addr', 'add', '%s.1/24' % self.SUBNET, 'dev', 'br0')
            _ip('-n', self.hub, 'link', 'set', 'br0', 'up')
            _ip('-n', self.hub, 'link', 'set', 'lo', 'up')
            for i, pod in enumerate(self.pods):
                _ip('netns', 'add', pod.netns)
                _ip('-n', pod.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'veth%d' % i,
                    'netns', self.hub)
                _ip('-n', self.hub, 'link', 'set', 'veth%d' % i, 'master', 'br0')
                _ip('-n', self.hub, 'link', 'set', 'veth%d' % i, 'up')
                _ip('-n', pod.netns, 'addr', 'add', '%s/24' % pod.address, 'dev', 'eth0')
                _ip('-n', pod.netns, 'link', 'set', 'eth0', 'up')
                _ip('-n', pod.netns, 'link', 'set', 'lo', 'up')
        except Exception:
            self.close()
            raise

    def run(self, *argv, timeout=30):
        """Run a client command in the hub namespace: CompletedProcess (never raises on its rc)."""
        return subprocess.run([IP, 'netns', 'exec', self.hub] + list(argv), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def stop_pods(self):
        for pod in self.pods:
            pod.stop()

    def close(self):
        self.stop_pods()
        for name in [pod.netns for pod in self.pods] + [self.hub]:
            subprocess.run([IP, 'netns', 'del', name], capture_output=True, check=False)
        _OPEN.discard(self)


def wait_for(predicate, timeout, what, interval=0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError('%s: not within %ss (last: %r)' % (what, timeout, last))
