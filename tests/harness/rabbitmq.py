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
"""

import atexit
import json
import os
import secrets
import shlex
import shutil
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


class RabbitServer(object):
    """One RabbitMQ node. Use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, base_dir=None, start_timeout=90.0):
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.node = 'okdtest-%s@localhost' % secrets.token_hex(4)
        self.port = None
        self.process = None
        self.directory = None

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        self.directory = tempfile.mkdtemp(prefix='rabbitmq-', dir=self.base_dir)
        self.port = free_port()
        self.epmd_port = free_port()
        dist_port = free_port()
        with open(os.path.join(self.directory, '.erlang.cookie'), 'w') as handle:
            handle.write(secrets.token_hex(16))
        os.chmod(os.path.join(self.directory, '.erlang.cookie'), 0o400)
        with open(os.path.join(self.directory, 'rabbitmq.conf'), 'w') as handle:
            handle.write('listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\n' % self.port)
        with open(os.path.join(self.directory, 'enabled_plugins'), 'w') as handle:
            handle.write('[].\n')
        self._write_wrapper()
        env = dict(self.env(), RABBITMQ_DIST_PORT=str(dist_port))
        self._log = open(os.path.join(self.directory, 'server.out'), 'wb')
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(RABBITMQ_BIN, 'rabbitmq-server')], env=env, cwd=self.directory,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        _RUNNING.add(self)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RabbitStartError('rabbitmq-server exited with %s: %s' % (self.process.returncode, self._tail()))
            done = self.ctl('await_startup', '--timeout', '5', check=False)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RabbitStartError('RabbitMQ did not start within %.0fs: %s' % (self.start_timeout, self._tail()))
            time.sleep(0.5)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.ctl('stop', check=False, timeout=30)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)
        if self.process is not None:
            # epmd was started by the node on our private port: it outlives the node otherwise.
            subprocess.run(['epmd', '-kill'], env=dict(os.environ, ERL_EPMD_PORT=str(self.epmd_port)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            self._log.close()
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

    def _write_wrapper(self):
        os.makedirs(self.ctl_dir)
        env = self.env()
        keys = ('HOME', 'RABBITMQ_NODENAME', 'ERL_EPMD_PORT', 'RABBITMQ_MNESIA_BASE', 'RABBITMQ_LOG_BASE',
                'RABBITMQ_CONFIG_FILE', 'RABBITMQ_ENABLED_PLUGINS_FILE', 'RABBITMQ_PID_FILE')
        # env -i: the pod's own environment (RABBITMQ_USE_LONGNAME, its node name...) must not leak in.
        lines = ['#!/bin/sh', '# rabbitmqctl of the test node %s; logs its argv (never stdin)' % self.node,
                 'printf "%%s\\n" "$*" >> %s' % shlex.quote(self.argv_log),
                 'exec env -i PATH=/usr/sbin:/usr/bin:/bin LANG=C.UTF-8 %s %s "$@"' % (
                     ' '.join('%s=%s' % (key, shlex.quote(env[key])) for key in keys),
                     shlex.quote(os.path.join(RABBITMQ_BIN, 'rabbitmqctl')))]
        path = os.path.join(self.ctl_dir, 'rabbitmqctl')
        with open(path, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        os.chmod(path, 0o755)

    def ctl(self, *args, stdin=None, check=True, timeout=60):
        """rabbitmqctl ``args`` against this node (``stdin``: a password), not logged in argv.log."""
        done = subprocess.run([os.path.join(RABBITMQ_BIN, 'rabbitmqctl')] + list(args), env=self.env(),
                              input=(stdin or '').encode('utf-8'), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RuntimeError('rabbitmqctl %s: %s' % (args[0], done.stderr.decode('utf-8', 'replace')[-600:]))
        return done

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
