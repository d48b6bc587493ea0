# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The only way node_prep touches a host: files under ``root``, and commands through
``AnsibleModule.run_command`` with ``LANG=C``.

``root`` is ``/`` on a real host. Tests and the sandbox demo point it at a directory that
holds a fake host (``proc/modules``, ``proc/sys/...``, ``lib/modules/<kernel>/...``,
``etc/...`` and a recorded ``usr/sbin/modprobe``), so the same code runs end to end where
no kernel module can be loaded. Under a root other than ``/`` commands are looked up only
inside that root and modprobe gets ``--dirname ROOT --set-version KERNEL``: nothing of the
real host is read or changed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ctypes
import errno
import os
import stat
import tempfile

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.node_prep import plan

C_LOCALE = dict(LANG='C', LC_ALL='C', LC_MESSAGES='C')
TIMESYNCD_FLAG = '/run/systemd/timesync/synchronized'
TIME_ERROR = 5  # adjtimex(2): the kernel clock is not synchronised


class HostError(Exception):
    """A read or write of the host failed; the message names the path or command."""


def _kernel_clock_synchronised():
    """adjtimex(2) without changing anything: what timedatectl's NTPSynchronized reports."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes=0 reads only
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


class Host(object):

    def __init__(self, module, root='/'):
        self.module = module
        self.root = os.path.abspath(root or '/')
        self.real = self.root == '/'
        self.commands = []

    # -- files ------------------------------------------------------------------------------
    def path(self, host_path):
        return os.path.join(self.root, host_path.lstrip('/'))

    def exists(self, host_path):
        return os.path.exists(self.path(host_path))

    def read(self, host_path):
        """The file's text, or None when it does not exist."""
        try:
            with open(self.path(host_path), 'r') as handle:
                return handle.read()
        except IOError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise HostError('cannot read %s: %s' % (self.path(host_path), exc.strerror))

    def listdir(self, host_path):
        try:
            return os.listdir(self.path(host_path))
        except OSError:
            return []

    def write_atomic(self, host_path, content, mode=0o644):
        """Write a temporary file next to the target and rename it over the target."""
        target = self.path(host_path)
        directory = os.path.dirname(target)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            handle, temp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(target))
        except OSError as exc:
            raise HostError('cannot write %s: %s' % (target, exc.strerror))
        try:
            with os.fdopen(handle, 'w') as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temp, mode)
            os.rename(temp, target)
        except OSError as exc:
            if os.path.exists(temp):
                os.unlink(temp)
            raise HostError('cannot write %s: %s' % (target, exc.strerror))

    # -- kernel -----------------------------------------------------------------------------
    def kernel_release(self):
        release = self.read('/proc/sys/kernel/osrelease')
        if release is None and self.real:
            release = os.uname()[2]
        if not release:
            raise HostError('cannot tell the kernel version: %s is missing' % self.path('/proc/sys/kernel/osrelease'))
        return release.strip()

    def loaded_modules(self):
        """Names in /proc/modules, or None when the kernel has no loadable module support."""
        text = self.read('/proc/modules')
        return None if text is None else plan.parse_proc_modules(text)

    def builtin_modules(self, kernel):
        """Names in modules.builtin (None when the file is absent) and in /sys/module."""
        text = self.read('/lib/modules/%s/modules.builtin' % kernel)
        listed = None if text is None else plan.parse_modules_builtin(text)
        in_sysfs = set(plan.normalize_module(name) for name in self.listdir('/sys/module'))
        return listed, in_sysfs

    def cpu_flags(self):
        return plan.parse_cpu_flags(self.read('/proc/cpuinfo'))

    def kvm_device(self):
        path = self.path('/dev/kvm')
        return os.path.exists(path) and os.access(path, os.R_OK | os.W_OK)

    # -- commands ---------------------------------------------------------------------------
    def binary(self, name):
        if self.real:
            return self.module.get_bin_path(name)
        for directory in ('/usr/sbin', '/usr/bin', '/sbin', '/bin'):
            candidate = self.path(os.path.join(directory, name))
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def run(self, argv):
        self.commands.append(list(argv))
        rc, out, err = self.module.run_command(argv, environ_update=C_LOCALE)
        return rc, out, err

    def modprobe(self, name, kernel, dry_run):
        binary = self.binary('modprobe')
        if binary is None:
            raise HostError('modprobe is not installed (%s); install kmod to load kernel modules'
                            % ('looked on PATH' if self.real else 'looked under %s' % self.root))
        argv = [binary]
        if not self.real:
            argv += ['--dirname', self.root, '--set-version', kernel]
        if dry_run:
            argv += ['--dry-run', '--verbose']
        return self.run(argv + [name])

    # -- sysctls ----------------------------------------------------------------------------
    def sysctl_read(self, key):
        value = self.read(plan.sysctl_path(key))
        return None if value is None else plan.normalize_value(value)

    def sysctl_writable(self, key):
        """The kernel refuses writes to a sysctl entry without a write bit even for root,
        and any write on a read-only /proc/sys mount (EROFS, as in most containers)."""
        target = self.path(plan.sysctl_path(key))
        try:
            mode = os.stat(target).st_mode
        except OSError:
            return False
        return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(target, os.W_OK)

    def sysctl_write(self, key, value):
        """What sysctl(8) -w does: write the value to the /proc/sys entry."""
        target = self.path(plan.sysctl_path(key))
        try:
            with open(target, 'w') as handle:
                handle.write(value + '\n')
        except (IOError, OSError) as exc:
            raise HostError('cannot set sysctl %s to %s (%s): %s' % (key, value, target, exc.strerror or exc))

    # -- time -------------------------------------------------------------------------------
    def time_sync(self):
        """(synchronised, source, detail): chronyd, then systemd-timesyncd, then the kernel clock."""
        chronyc = self.binary('chronyc')
        if chronyc:
            rc, out, dummy = self.run([chronyc, '-n', 'tracking'])
            answer = plan.parse_chronyc_tracking(rc, out)
            if answer is not None:
                return answer[0], 'chrony', answer[1]
        timedatectl = self.binary('timedatectl')
        if timedatectl:
            rc, out, dummy = self.run([timedatectl, 'show', '--property=NTPSynchronized', '--value'])
            answer = plan.parse_timedatectl(rc, out)
            if answer is not None:
                return answer[0], 'systemd-timesyncd', answer[1]
        if self.exists(TIMESYNCD_FLAG):
            return True, 'systemd-timesyncd', '%s exists' % TIMESYNCD_FLAG
        if self.real:
            synchronised = _kernel_clock_synchronised()
            if synchronised is not None:
                return synchronised, 'kernel', 'adjtimex: clock %s' % ('synchronised' if synchronised else 'unsynchronised')
        return False, None, 'no chronyd answered (chronyc -n tracking) and systemd-timesyncd has not synchronised'
