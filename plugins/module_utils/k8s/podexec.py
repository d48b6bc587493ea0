# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a command in a pod through the exec API (``kubernetes.stream``), bounded in time.

One implementation for every caller (the Galera transport, the credentials rotation, the
status probes): :func:`run` collects stdout and stderr until the stream closes or the
deadline passes, and :func:`exit_code` reads the command's exit code from the Status the
kubelet sends on the error channel.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

# The channel on which the kubelet sends the command's final Status.
EXEC_ERROR_CHANNEL = 3


class ExecError(Exception):
    """The command could not run, or its outcome cannot be read."""


class ExecTimeout(ExecError):
    """The command did not finish in time."""


def run(core_api, namespace, pod, command, container=None, stdin=None, timeout=300, clock=time.monotonic):
    """Run ``command`` (a list) in ``pod``; ``(raw status, stdout, stderr)``.

    :param core_api: a ``kubernetes.client.CoreV1Api``.
    :param stdin: text written to the command's standard input, or None for none.
    :raises ExecTimeout: the command was still running after ``timeout`` seconds.
    """
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel
    kwargs = dict(command=list(command), stderr=True, stdin=stdin is not None, stdout=True, tty=False,
                  _preload_content=False)
    if container:
        kwargs['container'] = container
    resp = stream(core_api.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    out, err = [], []
    deadline = clock() + timeout
    try:
        if stdin is not None:
            resp.write_stdin(stdin)
        while resp.is_open():
            resp.update(timeout=1)
            if resp.peek_stdout():
                out.append(resp.read_stdout())
            if resp.peek_stderr():
                err.append(resp.read_stderr())
            if clock() > deadline:
                raise ExecTimeout('did not finish within %ss' % timeout)
        raw = resp.read_channel(EXEC_ERROR_CHANNEL)
    finally:
        resp.close()
    return raw, ''.join(out), ''.join(err)


def exit_code(raw):
    """0 on Success, the exit code on NonZeroExitCode; any other Failure raises ExecError with its message.

    Any Failure other than NonZeroExitCode (no such executable, container gone, runtime
    error) is the server's own message, never read as a number.
    """
    if not raw:
        raise ExecError('the exec stream ended without a status')
    try:
        status = json.loads(raw)
    except ValueError:
        raise ExecError('unreadable exec status %r' % raw[:200])
    if status.get('status') == 'Success':
        return 0
    if status.get('reason') == 'NonZeroExitCode':
        for cause in (status.get('details') or {}).get('causes') or []:
            if cause.get('reason') == 'ExitCode':
                try:
                    return int(cause.get('message'))
                except (TypeError, ValueError):
                    break
    raise ExecError('exec failed: %s' % (status.get('message') or raw[:200]))
