"""Real MariaDB (and MariaDB Galera) servers on loopback for tests.

``GaleraCluster`` manages N ``mariadbd`` processes on 127.0.0.1: each member has its own
directory holding a data directory, a ``my.cnf`` (client port, Galera replication port,
IST port, rsync SST port, socket, pid file, error log) and a control directory for the
collection's start script (``roles/galera/files/galera-start.sh``).

Members can be started two ways:

* directly by the harness (``start()``, ``start_member()``), for tests that only need a
  working cluster;
* by the start script, which is what ``galera_bootstrap`` drives through its host transport
  (``prepare()`` only lays out the members; the module starts them).

Whatever started a process, the harness finds it again by scanning ``/proc`` for its
member directory (in the command line or the environment) and kills it by pid, so
``close()`` leaves nothing behind.  Every object registers itself for an ``atexit``
sweep, and a new harness kills the processes of earlier harness directories whose owner
process is gone (a test run killed with SIGKILL).

``MariaDBServer`` is a single, non-Galera ``mariadbd`` for tests that only need a database.

Both create an administrative TCP account ``harness``@``127.0.0.1`` with a password
generated per object (``admin_user``/``admin_password``); ``root`` is reachable through
the unix socket only.
"""
import atexit
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pymysql

MARIADBD = os.environ.get("HARNESS_MARIADBD", shutil.which("mariadbd") or "/usr/sbin/mariadbd")
INSTALL_DB = os.environ.get("HARNESS_MARIADB_INSTALL_DB", shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db")
GALERA_PROVIDER = os.environ.get("HARNESS_GALERA_PROVIDER", "/usr/lib/galera/libgalera_smm.so")
RUN_AS = os.environ.get("HARNESS_MARIADB_USER", "mysql")
DIR_PREFIX = "galera-harness-"
OWNER_FILE = "owner.pid"
KEEP_FILE = "keep"  # kept for a person to read: a later sweep kills its processes but leaves the files
START_SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "galera" / "files" / "galera-start.sh"

RECOVERED_RE = re.compile(r"WSREP: Recovered position:?\s+([0-9a-f-]{36}):(-?\d+)")
NEW_CLUSTER_MARKERS = ("WSREP: gcomm: bootstrapping new group",)

_LIVE_OBJECTS = []
_LIVE_LOCK = threading.Lock()


class HarnessError(RuntimeError):
    """A server did not reach the state a test asked for."""


def free_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_ports(count):
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as stat:
            # a zombie has exited; only its parent's wait() is missing
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pids_referencing(path):
    """Pids of processes whose command line or environment mentions ``path``."""
    needle = str(path).encode()
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        for name in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (entry, name), "rb") as handle:
                    if needle in handle.read():
                        found.append(int(entry))
                        break
            except OSError:
                break
    return found


def kill_pids(pids, sig=signal.SIGKILL, wait=10.0):
    """Send ``sig`` to every pid and wait until they are gone (SIGKILL) or ``wait`` ends."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _pid_alive(p)]


def sweep_stale_harness_dirs(parent=None):
    """Kill processes left by harness directories whose owning test process died."""
    parent = pathlib.Path(parent or tempfile.gettempdir())
    for candidate in parent.glob(DIR_PREFIX + "*"):
        owner = candidate / OWNER_FILE
        try:
            owner_pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if owner_pid == os.getpid() or _pid_alive(owner_pid):
            continue
        kill_pids(pids_referencing(candidate))
        if not (candidate / KEEP_FILE).exists():
            shutil.rmtree(candidate, ignore_errors=True)


def _chown_tree(path, user):
    shutil.chown(path, user, user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), user, user)


def _install_datadir(datadir, log_path, admin_user, admin_password):
    """Initialise a data directory and create the TCP admin account."""
    try:
        _install_datadir_steps(datadir, log_path, admin_user, admin_password)
    except subprocess.CalledProcessError as exc:
        lines = pathlib.Path(log_path).read_text(errors="replace").splitlines()
        tail = "\n".join([line for line in lines if "ERROR" in line][:20] + lines[-10:])
        raise HarnessError("%s failed (exit %d); %s:\n%s" % (exc.cmd[0], exc.returncode, log_path, tail)) from exc


def _install_datadir_steps(datadir, log_path, admin_user, admin_password):
    datadir.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        subprocess.run(
            [INSTALL_DB, "--no-defaults", "--datadir=%s" % datadir, "--user=%s" % RUN_AS,
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
        sql = ("FLUSH PRIVILEGES;\n"
               "CREATE USER '{u}'@'127.0.0.1' IDENTIFIED BY '{p}';\n"
               "GRANT ALL PRIVILEGES ON *.* TO '{u}'@'127.0.0.1' WITH GRANT OPTION;\n"
               "CREATE USER '{u}'@'localhost' IDENTIFIED BY '{p}';\n"
               "GRANT ALL PRIVILEGES ON *.* TO '{u}'@'localhost' WITH GRANT OPTION;\n").format(u=admin_user, p=admin_password)
        subprocess.run(
            [MARIADBD, "--no-defaults", "--datadir=%s" % datadir, "--user=%s" % RUN_AS, "--bootstrap", "--log-warnings=0"],
            input=sql.encode(), stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
    _chown_tree(datadir, RUN_AS)


class _ServerBase:
    """What a single server and a Galera member share: a directory, ports, a process."""

    def __init__(self, root, name, admin_user, admin_password):
        self.name = name
        self.dir = pathlib.Path(root) / name
        self.datadir = self.dir / "data"
        self.control_dir = self.dir / "control"
        self.cnf = self.dir / "my.cnf"
        self.socket = self.dir / "mysqld.sock"
        self.pid_file = self.dir / "mariadbd.pid"
        self.error_log = self.dir / "error.log"
        self.stdout_log = self.dir / "stdout.log"
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.port = None
        self.process = None

    # -- processes ---------------------------------------------------------------
    def pids(self):
        """Every live process that belongs to this server (mariadbd, start script, SST)."""
        return [p for p in pids_referencing(self.dir) if _pid_alive(p)]

    def mariadbd_pid(self):
        """Pid of the running mariadbd of this server, or None."""
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        for pid in self.pids():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0].decode()) in ("mariadbd", "mysqld") and \
                    ("--defaults-file=%s" % self.cnf).encode() in argv and b"--wsrep-recover" not in argv:
                return pid
        return None

    def is_running(self):
        return self.mariadbd_pid() is not None

    def _spawn(self, extra_args=()):
        if self.is_running():
            raise HarnessError("%s: mariadbd is already running" % self.name)
        log = open(self.stdout_log, "ab")  # pylint: disable=consider-using-with
        try:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [MARIADBD, "--defaults-file=%s" % self.cnf] + list(extra_args),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    def kill9(self):
        """SIGKILL every process of this server (a crash), and wait until they are gone."""
        left = kill_pids(self.pids())
        self._reap()
        if left:
            raise HarnessError("%s: processes %s survived SIGKILL" % (self.name, left))

    def stop(self, timeout=60.0):
        """Graceful shutdown (SIGTERM to mariadbd), waiting until the process has exited."""
        pid = self.mariadbd_pid()
        if pid is None:
            return
        left = kill_pids([pid], signal.SIGTERM, wait=timeout)
        self._reap()
        if left:
            raise HarnessError("%s: mariadbd %s did not stop within %.0fs" % (self.name, pid, timeout))
        # the start script (if any) has exec'd into mariadbd; SST helpers may linger briefly
        kill_pids(self.pids(), wait=5)

    def _reap(self):
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None and self.process.poll() is not None:
            self.process = None

    # -- SQL -----------------------------------------------------------------------
    def connect(self, database=None, autocommit=True, timeout=5, **kwargs):
        """A PyMySQL connection over TCP as the admin account."""
        return pymysql.connect(host="127.0.0.1", port=self.port, user=self.admin_user, password=self.admin_password,
                               database=database, autocommit=autocommit, connect_timeout=timeout,
                               read_timeout=kwargs.pop("read_timeout", 30), write_timeout=kwargs.pop("write_timeout", 30),
                               **kwargs)

    def query(self, sql, args=None):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def error_log_text(self):
        try:
            return self.error_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self):
        tail = "\n".join(self.error_log_text().splitlines()[-25:])
        return "%s (port %s, dir %s), error log tail:\n%s" % (self.name, self.port, self.dir, tail)


class GaleraMember(_ServerBase):
    """One member of a loopback Galera cluster."""

    def __init__(self, root, index, admin_user, admin_password):
        super().__init__(root, "node%d" % (index + 1), admin_user, admin_password)
        self.index = index
        self.port, self.wsrep_port, self.ist_port, self.sst_port = _free_ports(4)
        self.grastate_path = self.datadir / "grastate.dat"

    def write_config(self, cluster_name, peers, extra=None):
        lines = [
            "[mysqld]",
            "datadir=%s" % self.datadir,
            "socket=%s" % self.socket,
            "pid-file=%s" % self.pid_file,
            "log-error=%s" % self.error_log,
            "port=%d" % self.port,
            "bind-address=127.0.0.1",
            "user=%s" % RUN_AS,
            "skip-name-resolve",
            "performance_schema=OFF",
            "innodb_buffer_pool_size=32M",
            "innodb_log_file_size=16M",
            "binlog_format=ROW",
            "default_storage_engine=InnoDB",
            "innodb_autoinc_lock_mode=2",
            "wsrep_on=ON",
            "wsrep_provider=%s" % GALERA_PROVIDER,
            "wsrep_cluster_name=%s" % cluster_name,
            "wsrep_cluster_address=gcomm://%s" % ",".join("127.0.0.1:%d" % p for p in peers),
            "wsrep_node_name=%s" % self.name,
            "wsrep_node_address=127.0.0.1:%d" % self.wsrep_port,
            "wsrep_node_incoming_address=127.0.0.1:%d" % self.port,
            "wsrep_provider_options=\"gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;"
            "gcache.size=32M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S\"" % (self.wsrep_port, self.ist_port),
            "wsrep_sst_method=rsync",
            "wsrep_sst_receive_address=127.0.0.1:%d" % self.sst_port,
            "wsrep_slave_threads=2",
        ]
        lines.extend(extra or [])
        self.cnf.write_text("\n".join(lines) + "\n")
        self.cnf.chmod(0o644)

    def start_script_env(self):
        """Environment for ``galera-start.sh`` acting on this member (host transport)."""
        return {
            "GALERA_DEFAULTS_FILE": str(self.cnf),
            "GALERA_CONTROL_DIR": str(self.control_dir),
            "GALERA_MARIADBD": MARIADBD,
            "GALERA_RUN_AS": RUN_AS,
        }

    def start(self, new_cluster=False, wait=True, timeout=90.0):
        """Start mariadbd directly (not through the start script)."""
        self._spawn(["--wsrep-new-cluster"] if new_cluster else [])
        if wait:
            self.wait_synced(timeout=timeout)

    def status(self):
        """``SHOW GLOBAL STATUS LIKE 'wsrep%'`` as a dict (lower-case keys)."""
        return {k.lower(): v for k, v in self.query("SHOW GLOBAL STATUS LIKE 'wsrep%%'")}

    def try_status(self):
        try:
            return self.status()
        except pymysql.MySQLError:
            return None

    def wait_synced(self, cluster_size=None, timeout=90.0, start_grace=10.0):
        """Wait for Synced + Primary (+ size); fail early once mariadbd has been absent for ``start_grace`` s."""
        deadline = time.monotonic() + timeout
        last = None
        absent_since = None
        while time.monotonic() < deadline:
            if self.is_running():
                absent_since = None
            else:
                absent_since = absent_since or time.monotonic()
                if time.monotonic() - absent_since > start_grace:
                    raise HarnessError("%s: mariadbd not running while waiting for Synced; %s" % (self.name, self.describe()))
            last = self.try_status()
            if last and last.get("wsrep_local_state_comment") == "Synced" and last.get("wsrep_cluster_status") == "Primary" \
                    and (cluster_size is None or int(last.get("wsrep_cluster_size", 0)) == cluster_size):
                return last
            time.sleep(0.2)
        raise HarnessError("%s: not Synced/Primary%s within %.0fs; last status %s; %s" % (
            self.name, "" if cluster_size is None else " in a %d-member cluster" % cluster_size, timeout,
            {k: (last or {}).get(k) for k in ("wsrep_local_state_comment", "wsrep_cluster_status", "wsrep_cluster_size")},
            self.describe()))

    def grastate(self):
        """``grastate.dat`` as a dict: uuid, seqno (int), safe_to_bootstrap (int), or {} if absent."""
        try:
            text = self.grastate_path.read_text()
        except FileNotFoundError:
            return {}
        state = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith("#"):
                state[key.strip()] = value.strip()
        for key in ("seqno", "safe_to_bootstrap"):
            if key in state:
                state[key] = int(state[key])
        return state

    def set_safe_to_bootstrap(self, value=1):
        text = self.grastate_path.read_text()
        text = re.sub(r"(?m)^safe_to_bootstrap:.*$", "safe_to_bootstrap: %d" % value, text)
        self.grastate_path.write_text(text)

    def recover_position(self, timeout=120.0):
        """Run ``mariadbd --wsrep-recover`` (member stopped) and return (uuid, seqno)."""
        if self.is_running():
            raise HarnessError("%s: cannot --wsrep-recover while mariadbd runs" % self.name)
        log = self.dir / "harness-recover.log"
        if log.exists():
            log.unlink()
        subprocess.run([MARIADBD, "--defaults-file=%s" % self.cnf, "--wsrep-recover", "--log-error=%s" % log],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout, check=False)
        text = log.read_text(errors="replace") if log.exists() else ""
        matches = RECOVERED_RE.findall(text)
        if not matches:
            raise HarnessError("%s: no recovered position in %s:\n%s" % (self.name, log, text[-2000:]))
        return matches[-1][0], int(matches[-1][1])

    def new_cluster_bootstraps(self):
        """How many times this member's error log records a new-cluster bootstrap."""
        text = self.error_log_text()
        return sum(text.count(marker) for marker in NEW_CLUSTER_MARKERS)


class _Owned:
    """A harness root directory with an owner file and atexit cleanup."""

    def __init__(self, base_dir=None, keep=False):
        parent = pathlib.Path(base_dir or tempfile.gettempdir())
        sweep_stale_harness_dirs(parent)
        self.root = pathlib.Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=parent))
        self.root.chmod(0o755)
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.keep = keep
        if keep:
            (self.root / KEEP_FILE).write_text("HARNESS_KEEP\n")
        self.closed = False
        self.admin_user = "harness"
        self.admin_password = secrets.token_urlsafe(18)
        with _LIVE_LOCK:
            _LIVE_OBJECTS.append(self)

    def _members(self):
        raise NotImplementedError

    def close(self):
        """Kill every process of this object and remove its directory (unless keep)."""
        if self.closed:
            return
        self.closed = True
        left = kill_pids(pids_referencing(self.root))
        for member in self._members():
            member._reap()  # pylint: disable=protected-access
        with _LIVE_LOCK:
            if self in _LIVE_OBJECTS:
                _LIVE_OBJECTS.remove(self)
        if left:
            raise HarnessError("processes %s of %s survived SIGKILL" % (left, self.root))
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GaleraCluster(_Owned):
    """N Galera members on loopback; see the module docstring.

    >>> with GaleraCluster(3) as cluster:
    ...     cluster.start()
    ...     cluster.members[0].query("SELECT 1")
    """

    def __init__(self, size=3, base_dir=None, cluster_name=None, keep=False, extra_config=None):
        super().__init__(base_dir, keep)
        self.size = size
        self.cluster_name = cluster_name or "harness_" + self.root.name[len(DIR_PREFIX):]
        self.extra_config = extra_config or []
        self.members = [GaleraMember(self.root, i, self.admin_user, self.admin_password) for i in range(size)]
        self.prepared = False

    def _members(self):
        return self.members

    def __getitem__(self, index):
        return self.members[index]

    def __len__(self):
        return len(self.members)

    def prepare(self):
        """Lay out every member (data directory, my.cnf, control dir); start nothing."""
        if self.prepared:
            return self
        template = self.root / "template"
        _install_datadir(template, self.root / "install.log", self.admin_user, self.admin_password)
        peers = [m.wsrep_port for m in self.members]
        for member in self.members:
            member.dir.mkdir()
            shutil.copytree(template, member.datadir, symlinks=True)
            member.control_dir.mkdir(mode=0o755)
            member.write_config(self.cluster_name, peers, self.extra_config)
            _chown_tree(member.dir, RUN_AS)
        shutil.rmtree(template)
        self.prepared = True
        return self

    def start(self, timeout=120.0):
        """Bootstrap member 1 as a new cluster, join the others, wait for size N all Synced."""
        self.prepare()
        self.members[0].start(new_cluster=True, timeout=timeout)
        for member in self.members[1:]:
            member.start(timeout=timeout)
        return self.wait_synced(timeout=timeout)

    def wait_synced(self, size=None, members=None, timeout=120.0):
        """Wait until each (running) member is Synced in a Primary component of ``size``."""
        size = self.size if size is None else size
        members = self.members if members is None else members
        deadline = time.monotonic() + timeout
        return [m.wait_synced(cluster_size=size, timeout=max(1.0, deadline - time.monotonic())) for m in members]

    def kill9(self, index):
        self.members[index].kill9()

    def kill9_all(self):
        """Crash every member at (nearly) the same instant."""
        pids = [p for m in self.members for p in m.pids()]
        left = kill_pids(pids)
        for member in self.members:
            member._reap()  # pylint: disable=protected-access
        if left:
            raise HarnessError("processes %s survived SIGKILL" % left)

    def stop(self, index, timeout=60.0):
        self.members[index].stop(timeout=timeout)

    def stop_all(self, order=None, timeout=60.0):
        """Graceful stop one by one in ``order`` (default: last member first)."""
        for index in order if order is not None else reversed(range(self.size)):
            self.members[index].stop(timeout=timeout)

    def restart(self, index, new_cluster=False, wait=True, timeout=120.0):
        member = self.members[index]
        member.stop(timeout=timeout)
        member.start(new_cluster=new_cluster, wait=wait, timeout=timeout)

    def running(self):
        return [m for m in self.members if m.is_running()]

    def grastates(self):
        return {m.name: m.grastate() for m in self.members}

    def connect(self, index=0, **kwargs):
        return self.members[index].connect(**kwargs)

    def describe(self):
        return "\n\n".join(m.describe() for m in self.members)


class MariaDBServer(_Owned):
    """One plain (non-Galera) mariadbd on a free loopback port."""

    def __init__(self, base_dir=None, keep=False, extra_config=None):
        super().__init__(base_dir, keep)
        self.server = _ServerBase(self.root, "server", self.admin_user, self.admin_password)
        self.server.port = free_port()
        self.extra_config = extra_config or []

    def _members(self):
        return [self.server]

    port = property(lambda self: self.server.port)
    socket = property(lambda self: self.server.socket)

    def start(self, timeout=60.0):
        server = self.server
        _install_datadir(server.datadir, self.root / "install.log", self.admin_user, self.admin_password)
        lines = ["[mysqld]", "datadir=%s" % server.datadir, "socket=%s" % server.socket, "pid-file=%s" % server.pid_file,
                 "log-error=%s" % server.error_log, "port=%d" % server.port, "bind-address=127.0.0.1", "user=%s" % RUN_AS,
                 "skip-name-resolve", "performance_schema=OFF", "innodb_buffer_pool_size=32M",
                 "character-set-server=utf8mb4", "collation-server=utf8mb4_general_ci"] + self.extra_config
        server.cnf.write_text("\n".join(lines) + "\n")
        _chown_tree(server.dir, RUN_AS)
        server._spawn()  # pylint: disable=protected-access
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not server.is_running():
                raise HarnessError("mariadbd exited at start; %s" % server.describe())
            try:
                server.query("SELECT 1")
                return self
            except pymysql.MySQLError:
                time.sleep(0.1)
        raise HarnessError("mariadbd did not accept connections within %.0fs; %s" % (timeout, server.describe()))

    def connect(self, **kwargs):
        return self.server.connect(**kwargs)

    def query(self, sql, args=None):
        return self.server.query(sql, args)

    def url(self, database, driver="mysql+pymysql"):
        """SQLAlchemy URL for ``database`` as the admin account."""
        return "%s://%s:%s@127.0.0.1:%d/%s" % (driver, self.admin_user, self.admin_password, self.port, database)

    def create_database(self, name, user=None, password=None):
        """Create ``name`` (utf8mb4) and optionally a user with all privileges on it."""
        self.query("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4" % name)
        if user:
            for host in ("127.0.0.1", "localhost"):
                self.query("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
                self.query("GRANT ALL PRIVILEGES ON `%s`.* TO %%s@%%s" % name, (user, host))


def close_all():
    """Close every harness object still open (atexit, and the pytest session end)."""
    with _LIVE_LOCK:
        objects = list(_LIVE_OBJECTS)
    for obj in objects:
        try:
            obj.close()
        except HarnessError:
            pass


atexit.register(close_all)
