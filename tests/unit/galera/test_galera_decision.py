"""Decision table of galera_bootstrap: member states in, plan out (pure, no server)."""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.galera.decision import (
    DecisionInputError, decide, needs_recovery, quorum_steps, validate)

UUID_A = "9831284b-e76b-11f1-9982-5f25257f8ea1"
UUID_B = "2e713732-e76c-11f1-9bcb-766b4914062e"
ZERO = "00000000-0000-0000-0000-000000000000"


def stopped(name, uuid=UUID_A, seqno=10, safe=0, recovered=None):
    """A stopped member with grastate.dat (uuid None: fresh data directory, no grastate)."""
    grastate = None if uuid is None else {"version": "2.1", "uuid": uuid, "seqno": seqno, "safe_to_bootstrap": safe}
    return {"name": name, "error": None, "running": False, "status": None, "grastate": grastate, "grastate_error": None,
            "recovered": None if recovered is None else {"uuid": recovered[0], "seqno": recovered[1]}, "recover_error": None}


def crashed(name, rec_seqno, uuid=UUID_A):
    """Killed with -9: grastate says -1, --wsrep-recover found rec_seqno."""
    return stopped(name, uuid=uuid, seqno=-1, safe=0, recovered=(uuid, rec_seqno))


def running(name, status="Primary", size=3, state="Synced", uuid=UUID_A, committed=50):
    member = stopped(name, uuid=uuid, seqno=-1)
    member.update(running=True, status={"wsrep_cluster_status": status, "wsrep_cluster_size": str(size),
                                        "wsrep_local_state_comment": state, "wsrep_cluster_state_uuid": uuid,
                                        "wsrep_last_committed": str(committed)})
    return member


def unreadable(name, why="exec failed: pod not found"):
    member = stopped(name)
    member.update(error=why, grastate=None)
    return member


def bad_grastate(name):
    member = stopped(name)
    member.update(grastate=None, grastate_error="grastate.dat: seqno 'x' is not an integer")
    return member


# (case id, members, replicas, force, expected action, bootstrap, join, leave, words the reason/refusal must contain)
DECISIONS = [
    ("fresh", [stopped("n1", None), stopped("n2", None), stopped("n3", None)], 3, None,
     "bootstrap", "n1", ["n2", "n3"], [], ["fresh deployment"]),
    ("fresh-zero-uuid", [stopped("n1", ZERO, -1), stopped("n2", ZERO, -1), stopped("n3", None)], 3, None,
     "bootstrap", "n1", ["n2", "n3"], [], ["fresh"]),
    ("crash-all-minus-one-highest-recovered", [crashed("n1", 1709), crashed("n2", 1711), crashed("n3", 1710)], 3, None,
     "bootstrap", "n2", ["n1", "n3"], [], ["highest seqno 1711", "n1: %s:1709 from recovered" % UUID_A]),
    ("crash-highest-is-last", [crashed("n1", 5), crashed("n2", 6), crashed("n3", 7)], 3, None,
     "bootstrap", "n3", ["n1", "n2"], [], ["highest seqno 7"]),
    ("graceful-one-by-one-last-stopped-wins", [stopped("n1", seqno=100), stopped("n2", seqno=103, safe=1), stopped("n3", seqno=101)],
     3, None, "bootstrap", "n2", ["n1", "n3"], [], ["highest seqno 103", "safe_to_bootstrap"]),
    ("mixed-grastate-and-recovered", [stopped("n1", seqno=40), crashed("n2", 42), stopped("n3", seqno=41)], 3, None,
     "bootstrap", "n2", ["n1", "n3"], [], ["n2: %s:42 from recovered" % UUID_A]),
    ("tie-safe-to-bootstrap-wins", [stopped("n1", seqno=9), stopped("n2", seqno=9), stopped("n3", seqno=9, safe=1)], 3, None,
     "bootstrap", "n3", ["n1", "n2"], [], ["shared by n1, n2, n3", "n3 is marked safe_to_bootstrap"]),
    ("tie-without-safe-first-in-order", [crashed("n1", 9), crashed("n2", 9), crashed("n3", 9)], 3, None,
     "bootstrap", "n1", ["n2", "n3"], [], ["first in member order"]),
    ("tie-of-two-below-safe-is-irrelevant", [stopped("n1", seqno=8, safe=1), crashed("n2", 9), crashed("n3", 9)], 3, None,
     "bootstrap", "n2", ["n1", "n3"], [], ["shared by n2, n3"]),
    ("fresh-member-joins-data-wins", [stopped("n1", None), crashed("n2", 3), crashed("n3", 4)], 3, None,
     "bootstrap", "n3", ["n1", "n2"], [], ["n1: no data"]),
    ("mixed-uuids-refused", [stopped("n1", seqno=5), stopped("n2", UUID_B, seqno=7), stopped("n3", seqno=5)], 3, None,
     "refuse", None, [], [], ["different clusters", "n2=%s" % UUID_B, "force=<member>", "Nothing was started"]),
    ("mixed-uuids-forced", [stopped("n1", seqno=5), stopped("n2", UUID_B, seqno=7), stopped("n3", seqno=5)], 3, "n1",
     "bootstrap", "n1", ["n2", "n3"], [], ["force: the operator named n1"]),
    ("unreadable-refused", [crashed("n1", 5), unreadable("n2"), crashed("n3", 6)], 3, None,
     "refuse", None, [], [], ["n2 cannot be read", "pod not found"]),
    ("bad-grastate-refused", [stopped("n1"), bad_grastate("n2"), stopped("n3")], 3, None,
     "refuse", None, [], [], ["n2 cannot be read", "is not an integer"]),
    ("unreadable-forced", [crashed("n1", 5), unreadable("n2"), crashed("n3", 6)], 3, "n3",
     "bootstrap", "n3", ["n1", "n2"], [], ["force"]),
    ("forced-member-unreadable-refused", [crashed("n1", 5), unreadable("n2"), crashed("n3", 6)], 3, "n2",
     "refuse", None, [], [], ["force=n2 refused", "cannot be read"]),
    ("recovery-missing-refused", [stopped("n1", seqno=-1), crashed("n2", 4), crashed("n3", 4)], 3, None,
     "refuse", None, [], [], ["n1 have seqno -1 and no recovered position"]),
    ("one-running-primary-joins-others", [running("n1", size=1), crashed("n2", 90), stopped("n3", seqno=95, safe=1)], 3, None,
     "join", None, ["n2", "n3"], [], ["nothing is bootstrapped", "n1"]),
    ("one-running-primary-force-refused", [running("n1", size=1), crashed("n2", 90), crashed("n3", 95)], 3, "n3",
     "refuse", None, [], [], ["force=n3 refused", "second one"]),
    ("primary-with-unreadable-refused", [running("n1", size=2), running("n2", size=2), unreadable("n3")], 3, None,
     "refuse", None, [], [], ["n3", "cannot be read", "untouched"]),
    ("two-primary-components-refused", [running("n1", size=1), running("n2", size=1, uuid=UUID_B), stopped("n3")], 3, None,
     "refuse", None, [], [], ["different clusters"]),
    ("partial-outage-rejoin", [running("n1", size=2), running("n2", size=2), crashed("n3", 12)], 3, None,
     "join", None, ["n3"], [], ["joining n3"]),
    ("running-non-primary-refused", [running("n1", status="non-Primary", size=1), crashed("n2", 4), crashed("n3", 5)], 3, None,
     "refuse", None, [], [], ["n1 (wsrep_cluster_status=non-Primary)", "stopped"]),
    ("running-non-primary-force-still-refused", [running("n1", status="non-Primary", size=1), crashed("n2", 4), crashed("n3", 5)],
     3, "n3", "refuse", None, [], [], ["non-Primary"]),
    ("running-status-unreadable-refused", [dict(running("n1"), status=None), crashed("n2", 4), crashed("n3", 5)], 3, None,
     "refuse", None, [], [], ["n1 (wsrep_cluster_status=unreadable)"]),
    ("healthy-none", [running("n1"), running("n2"), running("n3")], 3, None, "none", None, [], [], ["all 3 desired members"]),
    ("scale-up-3-to-5", [running("n%d" % i) for i in (1, 2, 3)] + [stopped("n4", None), stopped("n5", None)], 5, None,
     "join", None, ["n4", "n5"], [], ["joining n4, n5"]),
    ("scale-down-5-to-3", [running("n%d" % i, size=5) for i in (1, 2, 3, 4, 5)], 3, None,
     "scale_down", None, [], ["n5", "n4"], ["stopping n5, n4 gracefully"]),
    ("scale-down-extra-already-stopped", [running("n%d" % i, size=4) for i in (1, 2, 3, 4)] + [stopped("n5")], 3, None,
     "scale_down", None, [], ["n4"], ["n4"]),
    ("single-member", [crashed("n1", 3)], 1, None, "bootstrap", "n1", [], [], ["highest seqno 3"]),
]


@pytest.mark.parametrize("case", DECISIONS, ids=[c[0] for c in DECISIONS])
def test_decision_table(case):
    _id, members, replicas, force, action, bootstrap, join, leave, words = case
    plan = decide(members, replicas, force)
    assert (plan["action"], plan["bootstrap"], plan["join"], plan["leave"]) == (action, bootstrap, join, leave), plan
    text = plan["refusal"] if action == "refuse" else plan["reason"]
    for word in words:
        assert word in text, (word, text)
    assert [p["name"] for p in plan["positions"]] == [m["name"] for m in members]
    if action == "refuse":
        assert plan["bootstrap"] is None and plan["join"] == [] and plan["leave"] == []


def test_positions_report_every_source():
    members = [stopped("n1", seqno=7, safe=1), crashed("n2", 9), stopped("n3", None), unreadable("n4"), running("n5", committed=77)]
    positions = {p["name"]: p for p in decide(members, 5)["positions"]}
    assert {n: (p["uuid"], p["seqno"], p["source"]) for n, p in positions.items()} == {
        "n1": (UUID_A, 7, "grastate"), "n2": (UUID_A, 9, "recovered"), "n3": (None, None, "none"),
        "n4": (None, None, "unreadable"), "n5": (UUID_A, 77, "running")}
    assert positions["n1"]["safe_to_bootstrap"] == 1 and positions["n4"]["error"] == "exec failed: pod not found"


def test_force_behind_others_warns_about_lost_transactions():
    plan = decide([crashed("n1", 20), crashed("n2", 25), crashed("n3", 10)], 3, force="n3")
    assert plan["bootstrap"] == "n3"
    assert any("n1, n2 are ahead of n3" in w for w in plan["warnings"]), plan["warnings"]


def test_recovered_uuid_wins_over_grastate_uuid():
    member = stopped("n1", uuid=UUID_A, seqno=-1, recovered=(UUID_B, 4))
    plan = decide([member, crashed("n2", 3, uuid=UUID_B), crashed("n3", 2, uuid=UUID_B)], 3)
    assert plan["bootstrap"] == "n1" and plan["positions"][0]["uuid"] == UUID_B


@pytest.mark.parametrize("member, expected", [
    (stopped("n", seqno=-1), True),
    (stopped("n", seqno=4), False),
    (stopped("n", None), False),
    (stopped("n", ZERO, -1), False),
    (crashed("n", 4), False),
    (running("n"), False),
    (unreadable("n"), False),
], ids=["minus-one", "known-seqno", "fresh", "zero-uuid", "already-recovered", "running", "unreadable"])
def test_needs_recovery(member, expected):
    assert needs_recovery(member) is expected


@pytest.mark.parametrize("replicas, names, force, message", [
    (4, ["a", "b", "c", "d"], None, "galera replicas must be odd (2n+1), got 4"),
    (0, ["a"], None, "galera replicas must be odd (2n+1), got 0"),
    (-3, ["a"], None, "galera replicas must be odd (2n+1), got -3"),
    ("3", ["a", "b", "c"], None, "galera replicas must be an odd integer (2n+1), got '3'"),
    (True, ["a"], None, "got True"),
    (5, ["a", "b", "c"], None, "galera replicas is 5 but members lists only 3 (a, b, c)"),
    (3, ["a", "b", "a"], None, "name 'a' appears twice"),
    (1, [], None, "at least one member"),
    (3, ["a", "b", "c"], "z", "galera force names 'z', which is not a member; use one of: a, b, c"),
], ids=["even", "zero", "negative", "string", "bool", "too-few-members", "duplicate", "no-members", "force-unknown"])
def test_bad_input_names_the_field_and_the_fix(replicas, names, force, message):
    with pytest.raises(DecisionInputError) as err:
        validate(replicas, names, force)
    assert message in str(err.value)
    members = [stopped(n) for n in names]
    with pytest.raises(DecisionInputError):
        decide(members, replicas, force)


@pytest.mark.parametrize("view, joins, leaves, sizes", [
    (3, ["n4", "n5"], [], [(3, 4), (4, 5)]),
    (5, [], ["n5", "n4"], [(5, 4), (4, 3)]),
    (2, ["n3"], [], [(2, 3)]),
], ids=["3-to-5", "5-to-3", "2-to-3"])
def test_scale_steps_change_one_member_at_a_time_and_keep_a_majority(view, joins, leaves, sizes):
    steps = quorum_steps(view, joins, leaves)
    assert [(s["size_before"], s["size_after"]) for s in steps] == sizes
    assert all(s["quorum_kept"] for s in steps)
    assert [s["member"] for s in steps] == joins + leaves


def test_scale_step_that_would_lose_the_majority_is_flagged():
    steps = quorum_steps(2, [], ["n2", "n1"])
    assert [s["quorum_kept"] for s in steps] == [False, False]


def test_scale_plan_3_to_5_to_3_keeps_quorum_end_to_end():
    three = [running("n%d" % i, size=3) for i in (1, 2, 3)]
    up = decide(three + [stopped("n4", None), stopped("n5", None)], 5)
    assert up["join"] == ["n4", "n5"] and all(s["quorum_kept"] for s in up["steps"])
    five = [running("n%d" % i, size=5) for i in (1, 2, 3, 4, 5)]
    down = decide(five, 3)
    assert down["leave"] == ["n5", "n4"] and [s["size_after"] for s in down["steps"]] == [4, 3]
    assert all(s["quorum_kept"] for s in down["steps"])
