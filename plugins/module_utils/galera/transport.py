# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How galera_bootstrap reaches a member: by running the start script next to it.

Every member runs ``galera-start.sh`` (``roles/galera/files``); the module talks to it
only through the script's subcommands, so the protocol is the same wherever the member is:

* ``info``      state of the member (see :func:`parse_info`)
* ``recover``   ``mariadbd --wsrep-recover``; prints ``recovered<TAB>UUID:SEQNO``
* ``command``   ``bootstrap`` or ``join``, handed to the waiting ``run`` process
* ``run``       the waiting process itself (started by the host transport; in Kubernetes
                it is the container's command, restarted by the kubelet)
* ``stop``      graceful shutdown

:class:`HostTransport` runs the script on this host with a member's environment
(``GALERA_DEFAULTS_FILE``, ``GALERA_CONTROL_DIR`` ...) through a runner such as
``AnsibleModule.run_command``. :class:`KubernetesTransport` runs it inside the member's
pod through the pod exec API of the official ``kubernetes`` client.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.grastate import (
    GrastateError, parse_grastate, parse_position)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import podexec

try:
    from kubernetes import client as k8s_client, config as k8s_config
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller's Python
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

KUBERNETES_LIBRARY = 'kubernetes'


class TransportError(RuntimeError):
    """A member could not be reached or the start script failed; the message says which and how."""


def parse_info(name, text):
    """Build a member state (see :mod:`.decision`) from ``galera-start.sh info`` output."""
    control = {}
    mariadbd = {}
    grastate_lines = []
    status = {}
    status_error = None
    for line in text.splitlines():
        section, sep, data = line.partition('\t')
        if not sep:
            continue
        if section == 'control' or section == 'mariadbd':
            key, _eq, value = data.partition('=')
            (control if section == 'control' else mariadbd)[key] = value
        elif section == 'grastate':
            grastate_lines.append(data)
        elif section == 'status':
            key, _tab, value = data.partition('\t')
            status[key.strip().lower()] = value.strip()
        elif section == 'status_error':
            status_error = data.strip()
    state = {
        'name': name,
        'error': None,
        'running': mariadbd.get('running') == '1',
        'pid': mariadbd.get('pid') or None,
        'datadir': mariadbd.get('datadir'),
        'control': {'alive': control.get('alive') == '1', 'pid': control.get('pid') or None,
                    'state': control.get('state') or None, 'mode': control.get('mode') or None,
                    'since': control.get('since') or None},
        'status': status or None,
        'status_error': status_error,
        'grastate': None,
        'grastate_error': None,
        'recovered': None,
        'recover_error': None,
    }
    if 'running' not in mariadbd:
        state['error'] = 'galera-start.sh info printed no member state: %r' % text.strip()[-300:]
    if grastate_lines:
        try:
            state['grastate'] = parse_grastate('\n'.join(grastate_lines))
        except GrastateError as exc:
            state['grastate_error'] = str(exc)
    return state


def is_waiting(state):
    """The member's run process is alive and waits for a command."""
    return bool(state['control']['alive']) and state['control']['state'] == 'waiting' and not state['running']


class Transport(object):
    """Runs the start script's subcommands for a member; subclasses say where."""

    kind = None

    def __init__(self, members, start_script, sleep=time.sleep, clock=time.monotonic):
        self.members = dict((m['name'], m) for m in members)
        self.start_script = start_script
        self.sleep = sleep
        self.clock = clock

    def run(self, name, args):
        """Run ``galera-start.sh <args>`` for member ``name``; return (rc, stdout, stderr)."""
        raise NotImplementedError

    def where(self, name):
        """Where the member is, for messages."""
        raise NotImplementedError

    def _script(self, name, args):
        try:
            return self.run(name, args)
        except TransportError:
            raise
        except Exception as exc:  # the transport's own library errors, named for the operator
            raise TransportError('%s (%s): %s %s failed: %s' % (name, self.where(name), self.start_script, ' '.join(args), exc))

    def info(self, name):
        """The member's state; a member that cannot be read comes back with ``error`` set."""
        try:
            rc, out, err = self._script(name, ['info'])
        except TransportError as exc:
            return dict(parse_info(name, ''), error=str(exc))
        if rc != 0:
            return dict(parse_info(name, out), error='%s (%s): galera-start.sh info exited %d: %s' % (
                name, self.where(name), rc, (err or out).strip()[-500:]))
        return parse_info(name, out)

    def recover(self, name):
        """Run ``mariadbd --wsrep-recover`` on a stopped member; return {'uuid', 'seqno'}."""
        rc, out, err = self._script(name, ['recover'])
        if rc != 0:
            raise TransportError('%s (%s): mariadbd --wsrep-recover gave no position (exit %d): %s' % (
                name, self.where(name), rc, (err or out).strip()[-800:]))
        try:
            return parse_position(out)
        except GrastateError as exc:
            raise TransportError('%s (%s): %s' % (name, self.where(name), exc))

    def command(self, name, verb):
        rc, out, err = self._script(name, ['command', verb])
        if rc != 0:
            raise TransportError('%s (%s): could not hand "%s" to its start script (exit %d): %s' % (
                name, self.where(name), verb, rc, (err or out).strip()[-500:]))
        return out.strip()

    def stop(self, name):
        rc, out, err = self._script(name, ['stop'])
        if rc != 0:
            raise TransportError('%s (%s): graceful stop failed (exit %d): %s' % (
                name, self.where(name), rc, (err or out).strip()[-500:]))
        return out.strip()

    def ensure_waiting(self, name, timeout=60.0):
        """Make sure the member's run process waits for a command (or mariadbd already runs)."""
        raise NotImplementedError

    def _wait_until_waiting(self, name, timeout):
        deadline = self.clock() + timeout
        state = self.info(name)
        while not (is_waiting(state) or state['running']):
            if self.clock() > deadline:
                raise TransportError('%s (%s): its start script is not waiting for a command after %.0fs; last state: %s' % (
                    name, self.where(name), timeout, state.get('error') or state['control']))
            self.sleep(0.2)
            state = self.info(name)
        return state


class HostTransport(Transport):
    """Members on this host: a data directory (via a my.cnf) and a control directory each.

    ``runner(args, environ_update)`` must return ``(rc, stdout, stderr)``;
    ``AnsibleModule.run_command`` fits. ``run`` is started with ``GALERA_DAEMONIZE=1`` so the
    script detaches itself (setsid, output to ``<control_dir>/start.log``) and the runner's
    pipes close at once: no child stays attached to the module.
    """

    kind = 'host'

    def __init__(self, members, start_script, runner, env=None, **kwargs):
        super(HostTransport, self).__init__(members, start_script, **kwargs)
        self.runner = runner
        self.env = dict(env or {})

    def where(self, name):
        member = self.members[name]
        return 'host member, my.cnf %s, control %s' % (member.get('defaults_file'), member.get('control_dir'))

    def member_env(self, name):
        member = self.members[name]
        env = dict((k, str(v)) for k, v in self.env.items())
        env.update(dict((k, str(v)) for k, v in (member.get('env') or {}).items()))
        if member.get('defaults_file'):
            env['GALERA_DEFAULTS_FILE'] = member['defaults_file']
        if member.get('control_dir'):
            env['GALERA_CONTROL_DIR'] = member['control_dir']
        env['LANG'] = env['LC_ALL'] = 'C'
        return env

    def run(self, name, args, extra_env=None):
        if not os.path.isfile(self.start_script) or not os.access(self.start_script, os.X_OK):
            raise TransportError('%s: start script %s is missing or not executable; install roles/galera/files/galera-start.sh '
                                 'there (mode 0755) or set start_script' % (name, self.start_script))
        env = self.member_env(name)
        env.update(extra_env or {})
        return self.runner([self.start_script] + list(args), env)

    def ensure_waiting(self, name, timeout=60.0):
        state = self.info(name)
        if state['error']:
            raise TransportError(state['error'])
        if state['running'] or is_waiting(state):
            return state
        rc, out, err = self.run(name, ['run'], {'GALERA_DAEMONIZE': '1'})
        if rc != 0:
            raise TransportError('%s (%s): could not start galera-start.sh run (exit %d): %s' % (
                name, self.where(name), rc, (err or out).strip()[-500:]))
        return self._wait_until_waiting(name, timeout)


class KubernetesTransport(Transport):
    """Members are pods of the Galera StatefulSet; the script runs through the pod exec API.

    Each member needs ``pod``; the start script path is the one inside the container. The
    container's own command is ``galera-start.sh run``; when mariadbd exits, the kubelet
    restarts the container and the script waits again, so ``ensure_waiting`` only waits.
    """

    kind = 'kubernetes'

    def __init__(self, members, start_script, namespace, container=None, api=None, kubeconfig=None, context=None,
                 exec_timeout=300, **kwargs):
        super(KubernetesTransport, self).__init__(members, start_script, **kwargs)
        self.namespace = namespace
        self.container = container
        self.exec_timeout = exec_timeout
        if api is None:
            if kubeconfig or context:
                k8s_config.load_kube_config(config_file=kubeconfig, context=context)
            else:
                try:
                    k8s_config.load_incluster_config()
                except k8s_config.ConfigException:
                    k8s_config.load_kube_config()
            api = k8s_client.CoreV1Api()
        self.api = api

    def where(self, name):
        return 'pod %s/%s' % (self.namespace, self.members[name].get('pod') or name)

    def run(self, name, args):
        pod = self.members[name].get('pod') or name
        what = '%s (%s): %s %s' % (name, self.where(name), self.start_script, ' '.join(args))
        try:
            raw, out, err = podexec.run(self.api, self.namespace, pod, [self.start_script] + list(args),
                                        container=self.container, timeout=self.exec_timeout, clock=self.clock)
            return podexec.exit_code(raw), out, err
        except podexec.ExecError as exc:
            raise TransportError('%s: %s' % (what, exc))

    def ensure_waiting(self, name, timeout=300.0):
        return self._wait_until_waiting(name, timeout)
