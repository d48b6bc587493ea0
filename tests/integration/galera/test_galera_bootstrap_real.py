"""galera_bootstrap against real MariaDB 10.11 + galera-4: three (or five) mariadbd on loopback.

The module runs through ``ansible`` (real module code, host transport) and drives each member
through ``roles/galera/files/galera-start.sh``, the script the Kubernetes pods run. Expected
choices are computed here independently: ``mariadbd --wsrep-recover`` run by the harness
directly and grastate.dat read by the harness, then the rule "highest seqno, then
safe_to_bootstrap, then member order".
"""
import itertools
import re
import threading
import time

import pymysql
import pytest

from galera_module_runner import info_args, module_args, run_module

pytestmark = [pytest.mark.galera, pytest.mark.slow]


class Writers:
    """Client threads inserting rows in autocommit; remember every id whose COMMIT was acknowledged."""

    def __init__(self, members, table="acked.t"):
        self.members = members
        self.table = table
        self.acked = []
        self.errors = []
        self.stop_event = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1 + int(time.time() * 1000) % 10 ** 9 * 1000)

    def _write(self, member):
        try:
            conn = member.connect(timeout=3, read_timeout=10, write_timeout=10)
        except pymysql.MySQLError as exc:
            self.errors.append(repr(exc))
            return
        try:
            with conn.cursor() as cur:
                while not self.stop_event.is_set():
                    with self.lock:
                        row_id = next(self.ids)
                    cur.execute("INSERT INTO %s (id, origin) VALUES (%%s, %%s)" % self.table, (row_id, member.name))
                    with self.lock:
                        self.acked.append(row_id)  # autocommit: execute() returned after the COMMIT was acknowledged
        except pymysql.MySQLError as exc:
            self.errors.append(repr(exc))
        finally:
            try:
                conn.close()
            except pymysql.MySQLError:
                pass

    def start(self):
        for member in self.members:
            thread = threading.Thread(target=self._write, args=(member,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def wait_for_rows(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.acked) >= count, "writers acknowledged only %d rows: %s" % (len(self.acked), self.errors)

    def stop(self):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)


def create_table(cluster, table="acked.t"):
    """Create the test table and wait until every member has applied the DDL (before anything is killed)."""
    cluster[0].query("CREATE DATABASE IF NOT EXISTS %s" % table.split(".")[0])
    cluster[0].query("CREATE TABLE IF NOT EXISTS %s (id BIGINT PRIMARY KEY, origin VARCHAR(16))" % table)
    for member in cluster.members:
        conn = member.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION wsrep_sync_wait = 1")
                cur.execute("SELECT COUNT(*) FROM %s" % table)
        finally:
            conn.close()


def assert_all_acked_present(cluster, acked, table="acked.t"):
    assert acked, "the test wrote nothing"
    for member in cluster.members:
        conn = member.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION wsrep_sync_wait = 1")
                cur.execute("SELECT id FROM %s" % table)
                present = {row[0] for row in cur.fetchall()}
        finally:
            conn.close()
        missing = sorted(set(acked) - present)
        assert not missing, "%s lost %d acknowledged rows, e.g. %s" % (member.name, len(missing), missing[:10])


def expected_choice(cluster):
    """The member the documented rule picks, from positions read by the harness itself."""
    candidates = []
    for index, member in enumerate(cluster.members):
        grastate = member.grastate()
        if grastate["seqno"] >= 0:
            uuid, seqno = grastate["uuid"], grastate["seqno"]
        else:
            uuid, seqno = member.recover_position()
        candidates.append({"name": member.name, "uuid": uuid, "seqno": seqno, "safe": grastate["safe_to_bootstrap"], "index": index})
    assert len({c["uuid"] for c in candidates}) == 1, candidates
    best = max(candidates, key=lambda c: (c["seqno"], c["safe"], -c["index"]))
    return best["name"], candidates


def bootstrap_counts(cluster):
    """New-cluster bootstraps per member, from mariadbd's error log and the start script's log."""
    counts = {}
    for member in cluster.members:
        start_log = member.control_dir / "start.log"
        script = start_log.read_text(errors="replace").count("as a NEW CLUSTER") if start_log.exists() else 0
        counts[member.name] = (member.new_cluster_bootstraps(), script)
    return counts


def run_ok(args, check=False):
    ok, result, elapsed = run_module("galera_bootstrap", args, check=check)
    assert ok, result.get("msg", result)
    return result, elapsed


def assert_synced_cluster(cluster, size=None):
    statuses = cluster.wait_synced(size=size, members=cluster.members[:size] if size else None, timeout=30)
    assert {s["wsrep_cluster_size"] for s in statuses} == {str(size or len(cluster))}
    assert {s["wsrep_local_state_comment"] for s in statuses} == {"Synced"}


def recover_and_check(cluster, expected, candidates, acked=None):
    """Check mode first (decides, starts nothing), then the real run."""
    preview, _elapsed = run_ok(module_args(cluster), check=True)
    assert preview["action"] == "bootstrap" and preview["plan"]["bootstrap"] == expected, preview
    assert cluster.running() == [], "check mode started %s" % [m.name for m in cluster.running()]
    result, elapsed = run_ok(module_args(cluster))
    assert result["bootstrapped"] == expected, (result["reason"], candidates)
    assert preview["after"] == result["after"], "check mode predicted another outcome than the real run"
    assert {p["name"]: p["seqno"] for p in result["positions"]} == {c["name"]: c["seqno"] for c in candidates}
    assert sorted(result["joined"]) == sorted(c["name"] for c in candidates if c["name"] != expected)
    assert_synced_cluster(cluster)
    if acked is not None:
        assert_all_acked_present(cluster, acked)
    return result, elapsed


def test_fresh_bootstrap_then_full_outage_recoveries(galera_cluster_factory):
    cluster = galera_cluster_factory(3, start=False)

    # fresh deployment: node1 bootstraps, the others join
    result, _elapsed = run_ok(module_args(cluster))
    assert (result["action"], result["bootstrapped"], result["joined"]) == ("bootstrap", "node1", ["node2", "node3"])
    assert_synced_cluster(cluster)
    again, _elapsed = run_ok(module_args(cluster))
    assert (again["changed"], again["action"]) == (False, "none")
    create_table(cluster)

    # 1. kill -9 everything while three clients write
    writers = Writers(cluster.members).start()
    writers.wait_for_rows(300)
    cluster.kill9_all()
    writers.stop()
    assert {(s["seqno"], s["safe_to_bootstrap"]) for s in cluster.grastates().values()} == {(-1, 0)}
    expected, candidates = expected_choice(cluster)
    result, _elapsed = recover_and_check(cluster, expected, candidates, writers.acked)
    assert set(result["recovered"]) == {"node1", "node2", "node3"}

    # 2. graceful stops one by one while a client writes to the member stopped last
    writers = Writers([cluster[1]]).start()
    writers.wait_for_rows(100)
    cluster.stop(0)
    writers.wait_for_rows(len(writers.acked) + 50)
    cluster.stop(2)
    writers.wait_for_rows(len(writers.acked) + 50)
    writers.stop()
    cluster.stop(1)
    states = cluster.grastates()
    assert states["node2"]["safe_to_bootstrap"] == 1 and states["node2"]["seqno"] > max(states["node1"]["seqno"], states["node3"]["seqno"])
    expected, candidates = expected_choice(cluster)
    assert expected == "node2"
    result, _elapsed = recover_and_check(cluster, expected, candidates, writers.acked)
    assert result["recovered"] == {}  # graceful: every position is in grastate.dat

    # (a tie cannot follow graceful stops: every leave is an ordered event that moves seqno on, so the member
    # stopped last is strictly ahead - asserted above; ties with safe_to_bootstrap are in the unit table)

    # 3. tie after kill -9 of an idle cluster: nobody is safe_to_bootstrap, the first member wins
    cluster.kill9_all()
    expected, candidates = expected_choice(cluster)
    assert len({c["seqno"] for c in candidates}) == 1 and expected == "node1"
    result, _elapsed = recover_and_check(cluster, expected, candidates)
    assert "first in member order" in result["reason"]


def test_running_primary_member_is_never_bootstrapped_over(galera_cluster_factory):
    cluster = galera_cluster_factory(3)
    create_table(cluster)
    before = bootstrap_counts(cluster)

    # partial outage: one member crashed, the other two are Primary -> rejoin it, nothing else
    cluster.kill9(2)
    cluster.wait_synced(size=2, members=cluster.members[:2])
    result, _elapsed = run_ok(module_args(cluster))
    assert (result["action"], result["bootstrapped"], result["joined"]) == ("join", None, ["node3"])
    assert_synced_cluster(cluster)
    assert bootstrap_counts(cluster) == before

    # one member left running (the others stopped gracefully) and still writing: join the others to it
    writers = Writers([cluster[0]]).start()
    cluster.stop(2)
    cluster.stop(1)
    cluster[0].wait_synced(cluster_size=1)
    writers.wait_for_rows(200)
    check, _elapsed = run_ok(module_args(cluster), check=True)
    assert (check["action"], check["plan"]["bootstrap"], check["plan"]["join"]) == ("join", None, ["node2", "node3"])
    result, _elapsed = run_ok(module_args(cluster))
    writers.stop()
    assert (result["action"], result["bootstrapped"], result["joined"]) == ("join", None, ["node2", "node3"])
    assert "nothing is bootstrapped" in result["reason"]
    assert_synced_cluster(cluster)
    assert_all_acked_present(cluster, writers.acked)
    assert bootstrap_counts(cluster) == before, "a new cluster was bootstrapped while node1 was Primary"

    # force is refused while a Primary Component exists
    ok, refused, _elapsed = run_module("galera_bootstrap", module_args(cluster, force="node3"))
    assert not ok and "force=node3 refused" in refused["msg"]

    # the last member running is not Primary (two crashed at once): refuse, start nothing
    cluster[1].kill9()
    cluster[2].kill9()
    deadline = time.monotonic() + 60
    while cluster[0].status()["wsrep_cluster_status"] == "Primary" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster[0].status()["wsrep_cluster_status"] == "non-Primary"
    ok, refused, _elapsed = run_module("galera_bootstrap", module_args(cluster))
    assert not ok and refused["action"] == "refuse"
    assert "node1 (wsrep_cluster_status=non-Primary)" in refused["msg"] and "nothing was changed" in refused["msg"]
    assert [m.name for m in cluster.running()] == ["node1"]
    assert bootstrap_counts(cluster) == before


FOREIGN_UUID = "2e713732-e76c-11f1-9bcb-766b4914062e"


def write_grastate(member, uuid, seqno, safe=0):
    member.grastate_path.write_text("# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %d\nsafe_to_bootstrap: %d\n" % (uuid, seqno, safe))


@pytest.mark.parametrize("case", ["different-uuids", "unreadable-grastate"])
def test_refusals_start_nothing(galera_cluster_factory, case):
    cluster = galera_cluster_factory(3, start=False)
    write_grastate(cluster[0], "9831284b-e76b-11f1-9982-5f25257f8ea1", 17)
    write_grastate(cluster[1], "9831284b-e76b-11f1-9982-5f25257f8ea1", 15)
    if case == "different-uuids":
        write_grastate(cluster[2], FOREIGN_UUID, 40, safe=1)
        words = ["members belong to different clusters", "node3=%s" % FOREIGN_UUID, "force=<member>"]
    else:
        cluster[2].grastate_path.write_text("uuid: 9831284b-e76b-11f1-9982-5f25257f8ea1\nseqno: ???\n")
        words = ["node3 cannot be read", "seqno '???' is not an integer"]
    ok, result, _elapsed = run_module("galera_bootstrap", module_args(cluster))
    assert not ok and result["action"] == "refuse", result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert result["bootstrapped"] is None and [p["name"] for p in result["positions"]] == ["node1", "node2", "node3"]
    assert cluster.running() == [] and all(m.pids() == [] for m in cluster.members)
    assert not any((m.control_dir / "command").exists() or (m.control_dir / "start.log").exists() for m in cluster.members)
    info_ok, info, _elapsed = run_module("galera_info", info_args(cluster, replicas=3))
    assert info_ok and info["plan"]["action"] == "refuse" and not info["primary"]


BAD_INPUT = [
    ({"replicas": 4}, "galera replicas must be odd (2n+1), got 4"),
    ({"replicas": 5}, "galera replicas is 5 but members lists only 3"),
    ({"force": "node9"}, "galera force names 'node9', which is not a member; use one of: node1, node2, node3"),
]


def test_bad_input_fails_before_any_action(galera_cluster_factory):
    cluster = galera_cluster_factory(3, start=False)
    for extra, message in BAD_INPUT:
        ok, result, _elapsed = run_module("galera_bootstrap", module_args(cluster, **extra))
        assert not ok and message in result["msg"], (extra, result)
    assert cluster.running() == [] and not any((m.control_dir / "start.log").exists() for m in cluster.members)


COMPONENT_RE = re.compile(r"New COMPONENT: primary = (\w+), bootstrap = \w+, my_idx = \d+, memb_num = (\d+)")


class QuorumWatch:
    """Samples node1's wsrep status every 100 ms while scaling."""

    def __init__(self, member):
        self.member = member
        self.samples = []
        self.errors = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_event.is_set():
            try:
                status = self.member.status()
                self.samples.append((status["wsrep_cluster_status"], int(status["wsrep_cluster_size"])))
            except pymysql.MySQLError as exc:
                self.errors.append(repr(exc))
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=10)


def test_scale_3_to_5_and_back_keeps_quorum(galera_cluster_factory):
    cluster = galera_cluster_factory(5, start=False)
    result, _elapsed = run_ok(module_args(cluster, replicas=3))
    assert (result["bootstrapped"], result["joined"]) == ("node1", ["node2", "node3"])
    assert [m.name for m in cluster.running()] == ["node1", "node2", "node3"]
    assert_synced_cluster(cluster, size=3)

    log_offset = len(cluster[0].error_log_text())
    with QuorumWatch(cluster[0]) as watch:
        up, _elapsed = run_ok(module_args(cluster, replicas=5))
        assert (up["action"], up["joined"], up["bootstrapped"]) == ("join", ["node4", "node5"], None)
        assert [(s["size_before"], s["size_after"]) for s in up["steps"]] == [(3, 4), (4, 5)]
        assert_synced_cluster(cluster, size=5)
        down, _elapsed = run_ok(module_args(cluster, replicas=3))
        assert (down["action"], down["left"]) == ("scale_down", ["node5", "node4"])
        assert all(s["quorum_kept"] for s in up["steps"] + down["steps"])
    assert_synced_cluster(cluster, size=3)
    assert [m.name for m in cluster.running()] == ["node1", "node2", "node3"]
    assert watch.samples and not watch.errors, watch.errors
    assert {status for status, _size in watch.samples} == {"Primary"}, "quorum lost while scaling"
    assert {size for _status, size in watch.samples} <= {3, 4, 5}
    # every view node1 went through, from its own log: each Primary, one member more or less at a time
    components = COMPONENT_RE.findall(cluster[0].error_log_text()[log_offset:])
    assert components and {primary for primary, _size in components} == {"yes"}, components
    sizes = [int(size) for _primary, size in components]
    assert [size for i, size in enumerate(sizes) if i == 0 or size != sizes[i - 1]] == [4, 5, 4, 3], sizes
