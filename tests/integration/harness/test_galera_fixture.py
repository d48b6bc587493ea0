"""The Galera/MariaDB harness is real: mariadbd processes, replication, crashes, cleanup."""
import os

import pytest

from harness.galera import pids_referencing

pytestmark = [pytest.mark.galera, pytest.mark.slow]


def test_shared_cluster_has_three_synced_primary_members(galera_cluster):
    statuses = [m.status() for m in galera_cluster.members]
    assert [s["wsrep_cluster_size"] for s in statuses] == ["3", "3", "3"]
    assert {s["wsrep_local_state_comment"] for s in statuses} == {"Synced"}
    assert {s["wsrep_cluster_status"] for s in statuses} == {"Primary"}
    assert len({s["wsrep_cluster_state_uuid"] for s in statuses}) == 1
    ports = {m.port for m in galera_cluster.members} | {m.wsrep_port for m in galera_cluster.members}
    assert len(ports) == 6


def test_row_written_on_node1_is_read_on_node3(galera_cluster):
    galera_cluster[0].query("CREATE DATABASE IF NOT EXISTS fixture_replication")
    galera_cluster[0].query("CREATE TABLE IF NOT EXISTS fixture_replication.t (id INT PRIMARY KEY, v VARCHAR(32))")
    token = os.urandom(8).hex()
    galera_cluster[0].query("INSERT INTO fixture_replication.t (id, v) VALUES (%s, %s)",
                            (int.from_bytes(os.urandom(3), "big"), token))
    # wsrep_sync_wait makes the read on node 3 wait for node 1's write to be applied
    conn = galera_cluster[2].connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute("SELECT v FROM fixture_replication.t WHERE v = %s", (token,))
            assert cur.fetchall() == ((token,),)
    finally:
        conn.close()


def test_mariadb_server_is_plain_and_reachable(mariadb_server):
    assert mariadb_server.query("SELECT @@wsrep_on") == ((0,),)
    mariadb_server.create_database("fixture_plain", user="fixture_user", password="fixture-pw-123")
    assert ("fixture_plain",) in mariadb_server.query("SHOW DATABASES")


def test_kill9_restart_and_cleanup_helpers(galera_cluster_factory):
    cluster = galera_cluster_factory(3)
    cluster[0].query("CREATE DATABASE crash")
    cluster[0].query("CREATE TABLE crash.t (id INT PRIMARY KEY)")
    cluster[0].query("INSERT INTO crash.t VALUES (1), (2), (3)")

    # one member crashes: the other two keep a Primary component of 2
    cluster.kill9(2)
    assert not cluster[2].is_running() and cluster[2].pids() == []
    assert cluster[2].grastate()["seqno"] == -1
    cluster.wait_synced(size=2, members=cluster.members[:2])
    cluster[2].start()  # rejoins normally
    cluster.wait_synced()

    # everything crashes: grastate says nothing, --wsrep-recover says where each member was
    cluster.kill9_all()
    assert cluster.running() == []
    states = cluster.grastates()
    assert {s["seqno"] for s in states.values()} == {-1}
    assert {s["safe_to_bootstrap"] for s in states.values()} == {0}
    positions = [m.recover_position() for m in cluster.members]
    assert len({uuid for uuid, _seqno in positions}) == 1 and min(seqno for _uuid, seqno in positions) > 0

    # manual recovery: most advanced member as new cluster, then the others
    best = max(range(3), key=lambda i: positions[i][1])
    cluster[best].set_safe_to_bootstrap()
    cluster[best].start(new_cluster=True)
    for index in range(3):
        if index != best:
            cluster[index].start()
    cluster.wait_synced()
    assert cluster[(best + 1) % 3].query("SELECT COUNT(*) FROM crash.t") == ((3,),)
    assert cluster[best].new_cluster_bootstraps() == (2 if best == 0 else 1)

    root = cluster.root
    cluster.close()
    assert pids_referencing(root) == [] and root.exists() == cluster.keep
