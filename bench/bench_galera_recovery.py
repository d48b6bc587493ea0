"""Full-outage recovery of a 3-member Galera cluster: galera_bootstrap vs the manual procedure.

    .venv/bin/python bench/bench_galera_recovery.py             # 1 round each
    .venv/bin/python bench/bench_galera_recovery.py --rounds 3

One real cluster (tests/harness/galera.py: three mariadbd + galera-4 on loopback). Each round:
writers insert rows for a few seconds, every member is killed with SIGKILL, then the cluster is
brought back, alternately by

* ``manual``  the documented manual procedure (docs/galera.md, "By hand"), scripted: read
              grastate.dat, ``mariadbd --wsrep-recover`` where seqno is -1, pick the highest
              seqno, set safe_to_bootstrap: 1, start it with --wsrep-new-cluster, wait until it is
              Synced, start the others one at a time, wait until all three are Synced;
* ``module``  ``ansible localhost -m openstack_k8s.deploy.galera_bootstrap`` (host transport,
              the start script), timed from the ansible command's start until the module returns
              (it returns when three members are Synced), plus the module's own ``elapsed``.

Both are timed until a Synced 3-member cluster; every acknowledged row is checked afterwards.
Prints seconds and the ratio module / manual. Nothing is asserted.
"""

import argparse
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, 'tests'), os.path.join(ROOT, 'tests', 'integration', 'galera'), os.path.join(ROOT, '.collections')]

from harness.galera import GaleraCluster  # noqa: E402  (path set above)
from galera_module_runner import module_args, run_module  # noqa: E402
import pymysql  # noqa: E402


def write_for(cluster, seconds):
    """Three autocommit writers (one per member) for ``seconds``; return the acknowledged ids."""
    acked = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = [int(time.time() * 1000) * 1000]

    def writer(member):
        conn = member.connect()
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    with lock:
                        counter[0] += 1
                        row_id = counter[0]
                    cur.execute("INSERT INTO bench.t (id) VALUES (%s)", (row_id,))
                    with lock:
                        acked.append(row_id)
        except pymysql.MySQLError:
            pass
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(m,), daemon=True) for m in cluster.members]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    return stop, threads, acked


def crash_while_writing(cluster, seconds):
    stop, threads, acked = write_for(cluster, seconds)
    cluster.kill9_all()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return acked


def manual_recovery(cluster):
    """The runbook's manual procedure, step by step."""
    positions = []
    for index, member in enumerate(cluster.members):
        state = member.grastate()
        seqno = state["seqno"] if state["seqno"] >= 0 else member.recover_position()[1]
        positions.append((seqno, state["safe_to_bootstrap"], -index))
    best = max(range(len(positions)), key=lambda i: positions[i])
    cluster[best].set_safe_to_bootstrap()
    cluster[best].start(new_cluster=True)
    for index, member in enumerate(cluster.members):
        if index != best:
            member.start()
    cluster.wait_synced()
    return cluster[best].name


def check_rows(cluster, acked):
    present = {row[0] for row in cluster[0].query("SELECT id FROM bench.t")}
    return len(set(acked) - present)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--write-seconds", type=float, default=3.0)
    args = parser.parse_args()
    timings = {"manual": [], "module": [], "module_internal": []}
    with GaleraCluster(3) as cluster:
        cluster.start()
        cluster[0].query("CREATE DATABASE bench")
        cluster[0].query("CREATE TABLE bench.t (id BIGINT PRIMARY KEY)")
        for round_no in range(args.rounds):
            for way in ("manual", "module"):
                acked = crash_while_writing(cluster, args.write_seconds)
                started = time.monotonic()
                if way == "manual":
                    chosen = manual_recovery(cluster)
                else:
                    ok, result, _elapsed = run_module("galera_bootstrap", module_args(cluster))
                    if not ok:
                        raise SystemExit("galera_bootstrap failed: %s" % result.get("msg"))
                    chosen = result["bootstrapped"]
                    timings["module_internal"].append(result["elapsed"])
                took = time.monotonic() - started
                cluster.wait_synced(timeout=30)
                timings[way].append(took)
                print("round %d %-6s %6.2f s  bootstrapped %s, %d rows acknowledged, %d missing"
                      % (round_no + 1, way, took, chosen, len(acked), check_rows(cluster, acked)))
                # the module's members now run under the start script; the manual way needs them stopped
                # by the next crash anyway, so both ways start from the same kind of outage
    manual = statistics.median(timings["manual"])
    module = statistics.median(timings["module"])
    internal = statistics.median(timings["module_internal"])
    print()
    print("| way | median s (n=%d) |" % args.rounds)
    print("| --- | --- |")
    print("| manual procedure (scripted, no ansible) | %.2f |" % manual)
    print("| galera_bootstrap via ansible (module start to Synced) | %.2f |" % module)
    print("| galera_bootstrap, module's own elapsed | %.2f |" % internal)
    print()
    print("ratio module/manual: %.2f (ansible wall time), %.2f (module elapsed)" % (module / manual, internal / manual))
    import benchlib  # pylint: disable=import-outside-toplevel
    benchlib.save_figures('galera_recovery', [
        {'label': 'manual procedure', 'seconds': round(manual, 2)},
        {'label': 'galera_bootstrap (ansible wall)', 'seconds': round(module, 2)},
        {'label': "galera_bootstrap (module's elapsed)", 'seconds': round(internal, 2)}],
        notes=['module/manual %.2f' % (module / manual)])


if __name__ == "__main__":
    main()
