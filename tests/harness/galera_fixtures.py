"""pytest fixtures for real MariaDB / MariaDB Galera servers (see ``harness.galera``).

* ``galera_cluster``: one 3-member cluster for the whole session, started on first use.
  Non-destructive tests only: do not kill, stop or reconfigure its members.  Use your own
  database (``CREATE DATABASE <test-specific name>``).
* ``galera_cluster_factory``: ``make(size=3, start=True, **kwargs)`` returns a fresh
  ``GaleraCluster`` owned by the calling test (kill -9, full outages, ...); ``start=False``
  only lays out the members (``prepare()``) for tests that start them otherwise.  Every
  cluster made is closed (processes killed, directory removed) when the test ends.
* ``mariadb_server``: one plain mariadbd for the session (``.port``, ``.admin_user``,
  ``.admin_password``, ``.url(db)``, ``.create_database(name, user, password)``).

Servers live under the system temp directory (``galera-harness-*``; unix socket paths
must stay short), where a later session also finds and kills what a killed session left.
Set ``HARNESS_KEEP=1`` to keep the directories (logs, data) of servers after the run.
"""
import os

import pytest

from harness.galera import GaleraCluster, MariaDBServer, close_all

KEEP = os.environ.get("HARNESS_KEEP") == "1"


@pytest.fixture(scope="session")
def galera_cluster():
    """A shared, running 3-member Galera cluster (all Synced)."""
    cluster = GaleraCluster(3, keep=KEEP)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def galera_cluster_factory():
    """Make clusters that belong to one test; all are closed at its end, pass or fail."""
    made = []

    def make(size=3, start=True, **kwargs):
        cluster = GaleraCluster(size, keep=KEEP, **kwargs)
        made.append(cluster)
        if start:
            cluster.start()
        else:
            cluster.prepare()
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.close()


@pytest.fixture(scope="session")
def mariadb_server():
    """A shared plain (non-Galera) MariaDB server."""
    server = MariaDBServer(keep=KEEP)
    try:
        server.start()
        yield server
    finally:
        server.close()


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    """Last line of defence: nothing this harness started outlives the session."""
    close_all()
