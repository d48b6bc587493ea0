"""Parsers: grastate.dat, recovered positions, and the start script's ``info`` output."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.grastate import (
    GrastateError, parse_grastate, parse_position)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.transport import is_waiting, parse_info

UUID = "9831284b-e76b-11f1-9982-5f25257f8ea1"

GRASTATES = [
    ("crashed", "# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   -1\nsafe_to_bootstrap: 0\n" % UUID,
     {"version": "2.1", "uuid": UUID, "seqno": -1, "safe_to_bootstrap": 0}),
    ("graceful-last", "# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   1711\nsafe_to_bootstrap: 1\n" % UUID,
     {"version": "2.1", "uuid": UUID, "seqno": 1711, "safe_to_bootstrap": 1}),
    ("old-format-no-safe", "version: 2.0\nuuid: %s\nseqno: 12\ncert_index:\n" % UUID.upper(),
     {"version": "2.0", "uuid": UUID, "seqno": 12, "safe_to_bootstrap": None}),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in GRASTATES], ids=[c[0] for c in GRASTATES])
def test_parse_grastate(text, expected):
    assert parse_grastate(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "missing uuid, seqno"),
    ("version: 2.1\nuuid: %s\n" % UUID, "missing seqno"),
    ("uuid: not-a-uuid\nseqno: 1\n", "is not a UUID"),
    ("uuid: %s\nseqno: x\n" % UUID, "seqno 'x' is not an integer"),
    ("uuid: %s\nseqno: -2\n" % UUID, "below -1"),
    ("uuid: %s\nseqno: 1\nsafe_to_bootstrap: yes\n" % UUID, "neither 0 nor 1"),
    ("garbage line\n", "is not \"key: value\""),
], ids=["empty", "no-seqno", "bad-uuid", "bad-seqno", "below-minus-one", "bad-safe", "garbage"])
def test_parse_grastate_rejects(text, message):
    with pytest.raises(GrastateError) as err:
        parse_grastate(text)
    assert message in str(err.value)


@pytest.mark.parametrize("text, expected", [
    ("recovered\t%s:1709\n" % UUID, (UUID, 1709)),
    ("2026-11-23 18:28:05 0 [Note] WSREP: Recovered position: %s:-1\n" % UUID, (UUID, -1)),
    ("WSREP: Recovered position %s:3\nWSREP: Recovered position: %s:4\n" % (UUID, UUID), (UUID, 4)),
])
def test_parse_position(text, expected):
    assert parse_position(text) == {"uuid": expected[0], "seqno": expected[1]}


def test_parse_position_rejects_text_without_position():
    with pytest.raises(GrastateError):
        parse_position("mariadbd: Can't lock aria control file")


RUNNING_INFO = """control\tpid=21208
control\talive=1
control\tstate=starting
control\tmode=join
control\tsince=1795458479
mariadbd\tpid=21208
mariadbd\trunning=1
mariadbd\tdatadir=/tmp/x/node3/data
grastate\t# GALERA saved state
grastate\tversion: 2.1
grastate\tuuid:    %s
grastate\tseqno:   -1
grastate\tsafe_to_bootstrap: 0
status\twsrep_local_state_comment\tSynced
status\twsrep_cluster_size\t3
status\twsrep_cluster_state_uuid\t%s
status\twsrep_cluster_status\tPrimary
status\twsrep_evs_delayed\t
status\twsrep_last_committed\t3
""" % (UUID, UUID)

WAITING_FRESH_INFO = """control\tpid=20691
control\talive=1
control\tstate=waiting
control\tmode=
control\tsince=1795458461
mariadbd\tpid=
mariadbd\trunning=0
mariadbd\tdatadir=/tmp/x/node1/data
"""

DEAD_WITH_BAD_GRASTATE = """control\tpid=21202
control\talive=0
control\tstate=starting
control\tmode=join
control\tsince=1795458473
mariadbd\tpid=
mariadbd\trunning=0
mariadbd\tdatadir=/tmp/x/node2/data
grastate\tuuid: %s
grastate\tseqno: banana
""" % UUID


def test_parse_info_running_member():
    state = parse_info("node3", RUNNING_INFO)
    assert state["running"] and state["error"] is None and state["pid"] == "21208"
    assert state["status"]["wsrep_cluster_status"] == "Primary" and state["status"]["wsrep_evs_delayed"] == ""
    assert state["grastate"] == {"version": "2.1", "uuid": UUID, "seqno": -1, "safe_to_bootstrap": 0}
    assert not is_waiting(state)


def test_parse_info_waiting_fresh_member():
    state = parse_info("node1", WAITING_FRESH_INFO)
    assert not state["running"] and state["grastate"] is None and state["status"] is None and state["error"] is None
    assert is_waiting(state) and state["control"]["since"] == "1795458461"


def test_parse_info_dead_member_with_bad_grastate():
    state = parse_info("node2", DEAD_WITH_BAD_GRASTATE)
    assert not state["running"] and not state["control"]["alive"] and not is_waiting(state)
    assert "seqno 'banana' is not an integer" in state["grastate_error"]


def test_parse_info_without_state_is_an_error():
    state = parse_info("node9", "bash: galera-start.sh: No such file or directory")
    assert "printed no member state" in state["error"]


def test_parse_info_status_error_is_kept():
    state = parse_info("n", WAITING_FRESH_INFO.replace("running=0", "running=1") + "status_error\tAccess denied for user 'mysql'\n")
    assert state["running"] and state["status"] is None and "Access denied" in state["status_error"]
