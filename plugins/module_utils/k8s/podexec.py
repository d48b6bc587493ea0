# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a command in a pod through the exec API (``kubernetes.stream``), bounded in time.

One implementation for every caller (the Galera transport, the credentials rotation, the
status probes): :func:`run` collects stdout and stderr until the stream closes or the
deadline passes, and :func:`exit_code` reads the command's exit code from the Status the
kubelet sends on the error channel.

Opening the stream goes through the client's retry policy (:class:`client.RetryPolicy`): a
handshake the server refuses with 429 or 5xx, or a connection cut before the upgrade, is
tried again after the backoff or the Retry-After, because the command has not started.
Once the stream is open nothing is retried: the command may have run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import K8sError, RetryPolicy

# The channel on which the kubelet sends the command's final Status.
EXEC_ERROR_CHANNEL = 3


class ExecError(Exception):
    """The command could not run, or its outcome cannot be read."""


class ExecTimeout(ExecError):
    """The command did not finish in time."""


def run(core_api, namespace, pod, command, container=None, stdin=None, timeout=300, clock=time.monotonic,
        retry=None):
    """Run ``command`` (a list) in ``pod``; ``(raw status, stdout, stderr)``.

    :param core_api: a ``kubernetes.client.CoreV1Api``.
    :param stdin: text written to the command's standard input, or None for none.
    :param retry: the :class:`client.RetryPolicy` that opens the stream (a K8sClient's
        ``policy``); by default one with the connection's default retries.
    :raises ExecTimeout: the command was still running after ``timeout`` seconds.
    :raises ExecError: the stream could not be opened (after the retries, when transient), with
        the server's status and message.
    """
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel
    kwargs = dict(command=list(command), stderr=True, stdin=stdin is not None, stdout=True, tty=False,
                  _preload_content=False)
    if container:
        kwargs['container'] = container
    try:
        resp = (retry or RetryPolicy()).run(stream, (core_api.connect_get_namespaced_pod_exec, pod, namespace), kwargs)
    except K8sError as exc:
        raise ExecError('cannot open an exec stream to pod %s/%s (HTTP %s after %d attempts): %s'
                        % (namespace, pod, exc.status or 'none', exc.attempts, exc.message))
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
