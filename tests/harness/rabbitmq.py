"""A real RabbitMQ server for tests: Debian's ``rabbitmq-server`` (3.10) on loopback.

:class:`RabbitServer` starts one node (``okdtest-<random>@localhost``) with its own Erlang
cookie, epmd port, AMQP port, distribution port, data and log directories, waits until
``rabbitmqctl await_startup`` succeeds, and on :meth:`RabbitServer.stop` stops it and
removes every file it made. Like the etcd harness, the node runs in its own session with
``PR_SET_PDEATHSIG`` and an ``atexit`` hook, so an interrupted run leaves nothing behind.

:attr:`RabbitServer.ctl_dir` holds a ``rabbitmqctl`` wrapper pointed at this node: put it
first on ``PATH`` (the sandbox's local pod exec does, for ``rabbitmq-server-*`` pods) and
the collection's own ``rabbitmqctl`` calls reach the real server. The wrapper appends every
argv to :attr:`RabbitServer.argv_log`, so a test can prove no password travelled on argv.

:meth:`RabbitServer.authenticates` is a real AMQP 0-9-1 login (the ``amqp`` library, the
transport oslo.messaging uses), what a service pod does when it connects.

:class:`RabbitCluster` is a real RabbitMQ cluster, one node per ``rabbitmq-server-<n>`` pod
name: the nodes share one Erlang cookie and one epmd (started by the cluster), each has its
own ports and directories under ``<cluster.directory>/<pod>/``, and the others join the
first one. ``<cluster.directory>/<pod>/bin`` holds ``rabbitmqctl``, ``rabbitmq-queues`` and
``rabbitmq-diagnostics`` wrappers pointed at that pod's node (:meth:`RabbitCluster.exec_rule`
puts them on the ``PATH`` of the sandbox's exec in that pod); every call is logged as
``<pod> <tool> <args>`` (:meth:`RabbitCluster.argv`).
"""

import atexit
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import amqp

from harness.etcd import _die_with_parent, free_port

RABBITMQ_BIN = os.environ.get('RABBITMQ_BIN', '/usr/lib/rabbitmq/bin')

_RUNNING = set()


@atexit.register
def _stop_all():
    for server in list(_RUNNING):
        server.stop()


class RabbitStartError(RuntimeError):
    pass


def _killpg(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _kill_epmd(port):
    """``epmd -kill`` on ``port``: epmd outlives the nodes that used it otherwise."""
    subprocess.run(['epmd', '-kill'], env=dict(os.environ, ERL_EPMD_PORT=str(port)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


class RabbitServer(object):
    """One RabbitMQ node. Use as a context manager or call :meth:`start`/:meth:`stop`.

    ``node``, ``cookie`` and ``epmd_port`` are chosen here unless given (a cluster gives all
    its nodes the same cookie and epmd); an epmd on a port chosen here is killed by :meth:`stop`.
    """

    TOOLS = ('rabbitmqctl',)        # the wrappers written in ctl_dir

    def __init__(self, base_dir=None, start_timeout=90.0, node=None, cookie=None, epmd_port=None):
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.node = node or 'okdtest-%s@localhost' % secrets.token_hex(4)
        self.cookie = cookie or secrets.token_hex(16)
        self.owns_epmd = epmd_port is None
        self.epmd_port = epmd_port
        self.port = None
        self.dist_port = None
        self.process = None
        self.directory = None
        self._log = None

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        self.prepare()
        self.spawn()
        self.wait_started()
        return self

    def prepare(self):
        """The directory, ports, cookie, configuration and wrappers; no process yet."""
        self.directory = self._make_directory()
        self.port = free_port()
        if self.owns_epmd:
            self.epmd_port = free_port()
        self.dist_port = free_port()
        with open(os.path.join(self.directory, '.erlang.cookie'), 'w') as handle:
            handle.write(self.cookie)
        os.chmod(os.path.join(self.directory, '.erlang.cookie'), 0o400)
        with open(os.path.join(self.directory, 'rabbitmq.conf'), 'w') as handle:
            handle.write('listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\n' % self.port)
        with open(os.path.join(self.directory, 'enabled_plugins'), 'w') as handle:
            handle.write('[].\n')
        self._write_wrappers()

    def _make_directory(self):
        return tempfile.mkdtemp(prefix='rabbitmq-', dir=self.base_dir)

    def spawn(self):
        """Start the node process on the prepared directory (its data as the last run left it)."""
        env = dict(self.env(), RABBITMQ_DIST_PORT=str(self.dist_port))
        if self._log is not None:       # the log of a run that failed to boot
            self._log.close()
        self._log = open(os.path.join(self.directory, 'server.out'), 'ab')  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(RABBITMQ_BIN, 'rabbitmq-server')], env=env, cwd=self.directory,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        _RUNNING.add(self)

    def wait_started(self, deadline=None):
        """Until ``rabbitmqctl await_startup`` succeeds; RabbitStartError (the node stopped) otherwise."""
        deadline = deadline or time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RabbitStartError('rabbitmq-server exited with %s: %s' % (self.process.returncode, self._tail()))
            done = self.ctl('await_startup', '--timeout', '5', check=False)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RabbitStartError('RabbitMQ did not start within %.0fs: %s' % (self.start_timeout, self._tail()))
            time.sleep(0.5)

    def alive(self):
        """The node's process runs (its app may be stopped)."""
        return self.process is not None and self.process.poll() is None

    def halt(self):
        """Stop the node process (``rabbitmqctl stop``, SIGKILL if it hangs); its files stay."""
        if self.alive():
            self.ctl('stop', check=False, timeout=30)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self):
        started = self.process is not None
        self.halt()
        if started and self.owns_epmd:
            # epmd was started by the node on our private port: it outlives the node otherwise.
            _kill_epmd(self.epmd_port)
        self.process = None
        _RUNNING.discard(self)
        if self.directory and os.path.isdir(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _tail(self):
        try:
            with open(os.path.join(self.directory, 'server.out'), 'rb') as handle:
                return handle.read()[-2000:].decode('utf-8', 'replace')
        except OSError:
            return ''

    # ------------------------------------------------------------------ the CLI
    def env(self):
        """The environment that points the server and its CLI at this node only."""
        base = self.directory
        env = dict(os.environ)
        env.update(HOME=base, RABBITMQ_NODENAME=self.node, ERL_EPMD_PORT=str(self.epmd_port),
                   RABBITMQ_MNESIA_BASE=os.path.join(base, 'mnesia'), RABBITMQ_LOG_BASE=os.path.join(base, 'log'),
                   RABBITMQ_CONFIG_FILE=os.path.join(base, 'rabbitmq'),
                   RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(base, 'enabled_plugins'),
                   RABBITMQ_PID_FILE=os.path.join(base, 'pid'))
        return env

    @property
    def ctl_dir(self):
        return os.path.join(self.directory, 'bin')

    @property
    def argv_log(self):
        return os.path.join(self.directory, 'argv.log')

    def _log_argv(self, tool):
        """The wrapper's shell line that appends its argv to argv_log."""
        return 'printf "%%s\\n" "$*" >> %s' % shlex.quote(self.argv_log)

    def _write_wrappers(self):
        os.makedirs(self.ctl_dir)
        env = self.env()
        keys = ('HOME', 'RABBITMQ_NODENAME', 'ERL_EPMD_PORT', 'RABBITMQ_MNESIA_BASE', 'RABBITMQ_LOG_BASE',
                'RABBITMQ_CONFIG_FILE', 'RABBITMQ_ENABLED_PLUGINS_FILE', 'RABBITMQ_PID_FILE')
        for tool in self.TOOLS:
            # env -i: the pod's own environment (RABBITMQ_USE_LONGNAME, its node name...) must not leak in.
            lines = ['#!/bin/sh', '# %s of the test node %s; logs its argv (never stdin)' % (tool, self.node),
                     self._log_argv(tool),
                     'exec env -i PATH=/usr/sbin:/usr/bin:/bin LANG=C.UTF-8 %s %s "$@"' % (
                         ' '.join('%s=%s' % (key, shlex.quote(env[key])) for key in keys),
                         shlex.quote(os.path.join(RABBITMQ_BIN, tool)))]
            path = os.path.join(self.ctl_dir, tool)
            with open(path, 'w') as handle:
                handle.write('\n'.join(lines) + '\n')
            os.chmod(path, 0o755)

    def tool(self, tool, *args, stdin=None, check=True, timeout=60):
        """``tool`` (rabbitmqctl, rabbitmq-queues, rabbitmq-diagnostics) ``args`` against this node, not logged."""
        done = subprocess.run([os.path.join(RABBITMQ_BIN, tool)] + list(args), env=self.env(),
                              input=(stdin or '').encode('utf-8'), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RuntimeError('%s %s: %s' % (tool, args[0], done.stderr.decode('utf-8', 'replace')[-600:]))
        return done

    def ctl(self, *args, stdin=None, check=True, timeout=60):
        """rabbitmqctl ``args`` against this node (``stdin``: a password), not logged in argv.log."""
        return self.tool('rabbitmqctl', *args, stdin=stdin, check=check, timeout=timeout)

    def _json(self, *args):
        return json.loads(self.ctl(*(list(args) + ['--silent', '--formatter', 'json'])).stdout or b'[]')

    # ------------------------------------------------------------------ state, as tests compare it
    def users(self):
        """{user: {'tags': [...], 'permissions': {vhost: [configure, write, read]}}}."""
        found = {}
        for user in self._json('list_users'):
            perms = dict((p['vhost'], [p['configure'], p['write'], p['read']])
                         for p in self._json('list_user_permissions', user['user']))
            found[user['user']] = dict(tags=sorted(user.get('tags') or []), permissions=perms)
        return found

    def add_user(self, user, password, tags=(), permissions=None):
        self.ctl('add_user', user, stdin=password)
        if tags:
            self.ctl('set_user_tags', user, *tags)
        for vhost, perms in sorted((permissions or {}).items()):
            self.ctl('set_permissions', '-p', vhost, user, *perms)

    def delete_user(self, user):
        self.ctl('delete_user', user)

    def set_password(self, user, password):
        self.ctl('change_password', user, stdin=password)

    def connect(self, user, password):
        """An open AMQP connection as ``user`` (close it yourself)."""
        conn = amqp.Connection('127.0.0.1:%d' % self.port, userid=user, password=password, connect_timeout=5)
        conn.connect()
        return conn

    def authenticates(self, user, password):
        """True when an AMQP 0-9-1 login as ``user`` with ``password`` opens the vhost ``/``, as a service does.

        A refused login (AccessRefused) and a login without access to the vhost (NotAllowed:
        a user made but not granted yet, or half way through ``delete_user``) both count as
        rejected: a pod would not get a working connection either.
        """
        try:
            conn = self.connect(user, password)
        except (amqp.exceptions.AccessRefused, amqp.exceptions.NotAllowed):
            return False
        conn.close()
        return True

    def argv(self):
        """Every argv the wrapper saw, one string each."""
        try:
            with open(self.argv_log) as handle:
                return handle.read().splitlines()
        except FileNotFoundError:
            return []


class RabbitMember(RabbitServer):
    """The node of the pod ``name`` in a :class:`RabbitCluster`: files in ``<cluster.directory>/<name>``."""

    TOOLS = ('rabbitmqctl', 'rabbitmq-queues', 'rabbitmq-diagnostics')

    def __init__(self, cluster, name, ordinal):
        super(RabbitMember, self).__init__(
            start_timeout=cluster.start_timeout, node='okdtest-%s-%d@localhost' % (cluster.token, ordinal),
            cookie=cluster.cookie, epmd_port=cluster.epmd_port)
        self.cluster = cluster
        self.name = name
        self.ordinal = ordinal

    def _make_directory(self):
        path = os.path.join(self.cluster.directory, self.name)
        os.makedirs(path)
        return path

    @property
    def argv_log(self):
        return self.cluster.argv_log

    def _log_argv(self, tool):
        # one line per call: "<pod> <tool> <args>" (no trailing blank without args)
        prefix = shlex.quote('%s %s' % (self.name, tool))
        return 'printf "%%s\\n" %s"${*:+ $*}" >> %s' % (prefix, shlex.quote(self.argv_log))

    def queues(self, *args, check=True, timeout=60):
        return self.tool('rabbitmq-queues', *args, check=check, timeout=timeout)

    def diagnostics(self, *args, check=True, timeout=60):
        return self.tool('rabbitmq-diagnostics', *args, check=check, timeout=timeout)


class RabbitCluster(object):
    """A RabbitMQ cluster, one real node per pod name. Use as a context manager or :meth:`start`/:meth:`stop`.

    ``names`` are pod names (``rabbitmq-server-0``...): member ``n`` is the node
    ``okdtest-<token>-<n>@localhost``. All nodes start at once; the first one is the seed and
    the others ``join_cluster`` it (``stop_app``, ``reset``, ``join_cluster``, ``start_app``),
    so when :meth:`start` returns ``cluster_status`` lists every node as a running disc node.
    The user :attr:`admin` (an administrator) is made for the AMQP helpers.
    """

    def __init__(self, names, base_dir=None, start_timeout=90.0):
        self.names = list(names)
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.token = secrets.token_hex(4)
        self.cookie = secrets.token_hex(16)
        self.admin = ('okdtest-admin', secrets.token_hex(12))
        self.epmd_port = None
        self.directory = None
        self.members = {}
        self.epmd = None                # the epmd process every node registers with
        self.started_in = None          # seconds start() took

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        began = time.monotonic()
        self.directory = tempfile.mkdtemp(prefix='rabbitmq-cluster-', dir=self.base_dir)
        _RUNNING.add(self)
        try:
            self._start_epmd()
            self.members = dict((name, RabbitMember(self, name, ordinal)) for ordinal, name in enumerate(self.names))
            members = [self.members[name] for name in self.names]
            for member in members:
                member.prepare()
            for member in members:
                member.spawn()
            deadline = time.monotonic() + self.start_timeout
            for member in members:
                member.wait_started(deadline)
            seed = members[0]
            seed.add_user(self.admin[0], self.admin[1], tags=['administrator'],
                          permissions={'/': ['.*', '.*', '.*']})
            for member in members[1:]:
                self.join(member.name, seed.name)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _start_epmd(self):
        """One epmd for every node, ours (PDEATHSIG): no node starts its own ``epmd -daemon``."""
        self.epmd_port = free_port()
        self.epmd = subprocess.Popen(  # pylint: disable=consider-using-with
            ['epmd', '-port', str(self.epmd_port), '-address', '127.0.0.1'], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while subprocess.run(['epmd', '-names'], env=dict(os.environ, ERL_EPMD_PORT=str(self.epmd_port)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode != 0:
            if self.epmd.poll() is not None or time.monotonic() > deadline:
                raise RabbitStartError('epmd did not start on port %d' % self.epmd_port)
            time.sleep(0.1)

    def stop(self):
        """Every node (SIGTERM all at once, SIGKILL after 30s), then epmd, then every file."""
        members = [m for m in self.members.values() if m.alive()]
        for member in members:
            _killpg(member.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for member in members:
            try:
                member.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(member.process.pid, signal.SIGKILL)
                member.process.wait(timeout=10)
        for member in self.members.values():
            member.halt()
            member.process = None
            _RUNNING.discard(member)
        if self.epmd is not None:
            _kill_epmd(self.epmd_port)
            try:
                self.epmd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.epmd.kill()
                self.epmd.wait(timeout=10)
            self.epmd = None
        _RUNNING.discard(self)
        if self.directory and os.path.isdir(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ members, as pods come and go
    def stop_member(self, name):
        """Stop that node's process entirely (``rabbitmqctl stop``), as a deleted pod would; its files stay."""
        self.members[name].halt()

    def start_member(self, name, fresh=False, join=True):
        """Start that node again: with its data as it left it, or ``fresh`` (its volume deleted first).

        A fresh node boots alone; with ``join`` it then joins the first running member.
        RabbitStartError when the node does not boot (the message ends with its log).
        """
        member = self.members[name]
        if member.alive():
            raise RuntimeError('%s is running' % name)
        if fresh:
            shutil.rmtree(os.path.join(member.directory, 'mnesia'), ignore_errors=True)
        member.spawn()
        member.wait_started(time.monotonic() + self.start_timeout)
        if fresh and join:
            self.join(name, self._running_member(exclude=name).name)

    def join(self, name, seed):
        """``stop_app``, ``reset``, ``join_cluster <seed's node>``, ``start_app`` in member ``name``."""
        member = self.members[name]
        member.ctl('stop_app')
        member.ctl('reset')
        member.ctl('join_cluster', self.members[seed].node)
        member.ctl('start_app', timeout=self.start_timeout)
        member.ctl('await_startup', '--timeout', str(int(self.start_timeout)), timeout=self.start_timeout + 10)

    def _running_member(self, exclude=None):
        for name in self.names:
            if name != exclude and self.running(name):
                return self.members[name]
        raise RuntimeError('no member of the cluster is running')

    # ------------------------------------------------------------------ the pods' view
    def bin_dir(self, name):
        """``<directory>/<name>/bin``: rabbitmqctl, rabbitmq-queues and rabbitmq-diagnostics of that member."""
        return self.members[name].ctl_dir

    @property
    def argv_log(self):
        return os.path.join(self.directory, 'argv.log')

    def argv(self):
        """Every call of a wrapper in call order, ``<pod> <tool> <args>`` each."""
        try:
            with open(self.argv_log) as handle:
                return handle.read().splitlines()
        except FileNotFoundError:
            return []

    def exec_rule(self, namespace, container='server'):
        """The sandbox's exec rule: an exec in pod ``rabbitmq-server-<n>`` runs that member's wrappers."""
        return {'namespace': namespace, 'name': 'rabbitmq-server-*', 'container': container, 'mode': 'local',
                'workdir': self.directory, 'timeout': 120,
                'env': {'PATH': self.directory + '/{pod}/bin:' + os.environ['PATH']}}

    # ------------------------------------------------------------------ state, as tests compare it
    def running(self, name):
        """The node of ``name`` runs and so does its rabbit application (``rabbitmq-diagnostics check_running``)."""
        member = self.members[name]
        return member.alive() and member.diagnostics('-q', 'check_running', check=False).returncode == 0

    def cluster_status(self, name=None):
        """``rabbitmqctl cluster_status --formatter json`` of ``name`` (default: the first running member), parsed."""
        member = self.members[name] if name else self._running_member()
        return json.loads(member.ctl('cluster_status', '--silent', '--formatter', 'json').stdout)

    def connect(self, name=None):
        """An open AMQP connection as :attr:`admin` to ``name`` (default: the first running member)."""
        member = self.members[name] if name else self._running_member()
        return member.connect(*self.admin)

    def declare_quorum_queue(self, queue_name, name=None):
        """A durable quorum queue, declared over AMQP (its replicas: every cluster node at that moment)."""
        conn = self.connect(name)
        try:
            conn.channel().queue_declare(queue=queue_name, durable=True, auto_delete=False,
                                         arguments={'x-queue-type': 'quorum'})
        finally:
            conn.close()

    def publish(self, queue_name, body, name=None):
        """Publish ``body`` to ``queue_name`` (default exchange) with publisher confirms; True once confirmed."""
        conn = self.connect(name)
        try:
            conn.channel().basic_publish_confirm(amqp.Message(body, delivery_mode=2), exchange='',
                                                 routing_key=queue_name, mandatory=True, confirm_timeout=30)
            return True
        finally:
            conn.close()

    def get(self, queue_name, name=None):
        """One message's body from ``queue_name`` (acknowledged), None when the queue is empty."""
        conn = self.connect(name)
        try:
            message = conn.channel().basic_get(queue=queue_name, no_ack=True)
            return None if message is None else message.body
        finally:
            conn.close()

    def quorum_members(self, queue_name, name=None):
        """The nodes holding a replica of the quorum queue ``queue_name``, sorted."""
        member = self.members[name] if name else self._running_member()
        rows = json.loads(member.ctl('list_queues', 'name', 'type', 'members', '--silent',
                                     '--formatter', 'json').stdout or b'[]')
        for row in rows:
            if row['name'] == queue_name:
                return sorted(row['members'])
        raise KeyError(queue_name)
