"""``galera-start.sh info`` logs in with the root password read from a file.

The mariadb pods mount the root password from the credentials Secret as a file and name it
in ``MARIADB_ROOT_PASSWORD_FILE`` (no credential in the pod's environment); ``info`` is the
readiness probe and what ``galera_bootstrap`` reads. Here a real one-member Galera cluster
whose ``root@localhost`` accepts only its password (no unix_socket login for this OS user)
is asked through the real script, with the right, a wrong and an unreadable file.
"""
import os
import subprocess

import pytest

from harness.galera import START_SCRIPT, GaleraCluster

pytestmark = [pytest.mark.galera, pytest.mark.slow]

ROOT_PASSWORD = "root-pw-file-" + "k" * 20


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    """A Synced one-member cluster whose root@localhost logs in by password only."""
    cluster = GaleraCluster(1)
    try:
        cluster.start()
        cluster[0].query("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (ROOT_PASSWORD,))
        cluster[0].files = tmp_path_factory.mktemp("credentials")
        yield cluster[0]
    finally:
        cluster.close()


def info(member, **env):
    full = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"}
    full.update(member.start_script_env())
    full.update(env)
    result = subprocess.run([str(START_SCRIPT), "info"], capture_output=True, text=True, env=full, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [line.split("\t", 1) for line in result.stdout.splitlines()]


def password_file(member, name, content):
    path = member.files / name
    if content is not None:
        path.write_text(content)
        path.chmod(0o400)
    return str(path)


CASES = [
    # (id, file content or None for a missing file, the status line expected)
    ("right password", ROOT_PASSWORD, ("status", "wsrep_local_state_comment\tSynced")),
    ("wrong password", "not-" + ROOT_PASSWORD, ("status_error", "Access denied for user 'root'@'localhost'")),
    ("missing file", None, ("status_error", "is not readable")),
]


@pytest.mark.parametrize("name, content, expected", CASES, ids=[c[0] for c in CASES])
def test_info_reads_the_root_password_from_its_file(member, name, content, expected):
    path = password_file(member, name.replace(" ", "-"), content)
    lines = info(member, MARIADB_ROOT_PASSWORD_FILE=path)
    assert ["mariadbd", "running=1"] in lines
    section, text = expected
    found = [data for sec, data in lines if sec == section and text in data]
    assert found, "no %s line with %r in:\n%s" % (section, text, "\n".join("\t".join(line) for line in lines))
    if section == "status_error":
        assert not [line for line in lines if line[0] == "status"]
        assert ROOT_PASSWORD not in "\n".join("\t".join(line) for line in lines)


def test_password_in_the_environment_still_wins_over_the_file(member):
    """Hosts and older pods pass MARIADB_ROOT_PASSWORD itself; it keeps its meaning."""
    lines = info(member, MARIADB_ROOT_PASSWORD=ROOT_PASSWORD,
                 MARIADB_ROOT_PASSWORD_FILE=password_file(member, "stale", "stale-" + ROOT_PASSWORD))
    assert ["status", "wsrep_local_state_comment\tSynced"] in lines
