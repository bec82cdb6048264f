"""The ``StateStore`` contract (``authz/store/__init__.py``), for SQLite and Redis alike:
revocation, suspension, stage 10's commit, and what a second process on the same state sees."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from authz.store import AuditAnchor, CommitOutcome, Revocation, StateStore, StoreUnavailable

from .conftest import OpenStore

ALLOWED = CommitOutcome.ALLOWED
BIG = 1_000_000  # a budget never reached: the call is counted
AGENT = "spiffe://agents.example.org/agent/helpdesk-bot"
OTHER = "spiffe://agents.example.org/agent/audit-bot"


def eventually(check: Callable[[], bool], within: float = 1.0) -> bool:
    """``check()`` polled until true or ``within`` seconds (the promise: a change reaches every
    process within one second; SQLite: on its next read, Redis: pushed)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_revoke_task_is_idempotent_and_keeps_the_first(store: StateStore) -> None:
    assert not store.task_revoked("t1")
    assert store.revoke_task("t1", reason="intent changed", by="pipeline") is True
    assert store.revoke_task("t1", reason="again", by="alice") is False
    assert store.task_revoked("t1") and not store.task_revoked("t2")
    (revocation,) = store.revocations()
    assert revocation == Revocation("t1", "intent changed", "pipeline", revocation.at)
    assert 1_700_000_000 < revocation.at < 1_700_000_010  # the store's clock, when first revoked


def test_revocations_newest_first_and_limited(store: StateStore) -> None:
    for task in ["a", "b", "c", "d"]:
        store.revoke_task(task, reason=f"r-{task}", by="alice")
    assert [r.task_id for r in store.revocations()] == ["d", "c", "b", "a"]
    assert [r.task_id for r in store.revocations(limit=2)] == ["d", "c"]
    assert store.revocations(limit=0) == []


def test_suspend_and_resume_agents(store: StateStore) -> None:
    assert not store.agent_suspended(AGENT) and store.suspended_agents() == []
    store.set_agent_suspended(OTHER, True, by="alice")
    store.set_agent_suspended(AGENT, True, by="alice")
    store.set_agent_suspended(AGENT, True, by="bob")  # already suspended: no error, no duplicate
    assert store.agent_suspended(AGENT) and store.agent_suspended(OTHER)
    assert store.suspended_agents() == sorted([AGENT, OTHER])
    store.set_agent_suspended(AGENT, False, by="alice")
    store.set_agent_suspended(AGENT, False, by="alice")  # resuming a running agent is a no-op
    assert not store.agent_suspended(AGENT)
    assert store.suspended_agents() == [OTHER]


def test_commit_allow_charges_the_task_and_consumes_approvals(store: StateStore) -> None:
    assert store.task_calls("t1") == 0 and not store.approval_consumed("a1", "t1")
    assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1", "a2"]) is ALLOWED
    assert store.task_calls("t1") == 1
    assert store.approval_consumed("a1", "t1") and store.approval_consumed("a2", "t1")
    assert store.commit_allow(task_id="t1", max_calls=BIG) is ALLOWED
    assert store.task_calls("t1") == 2 and store.task_calls("t2") == 0


def test_approvals_without_a_budget_charge_no_calls(store: StateStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=None, approval_ids=["a1"]) is ALLOWED
    assert store.approval_consumed("a1", "t1") and store.task_calls("t1") == 0


def test_nothing_to_spend_is_allowed_unless_the_task_is_revoked(store: StateStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=None) is ALLOWED
    assert store.commit_allow(task_id=None, max_calls=None) is ALLOWED
    assert store.task_calls("t1") == 0  # tasks without a budget are not counted
    store.revoke_task("t1", reason="r", by="b")
    assert store.commit_allow(task_id="t1", max_calls=None) is CommitOutcome.TASK_REVOKED


def test_budget_boundary(store: StateStore) -> None:
    outcomes = [store.commit_allow(task_id="t1", max_calls=2) for _ in range(3)]
    assert outcomes == [ALLOWED, ALLOWED, CommitOutcome.BUDGET_EXHAUSTED]
    assert store.task_calls("t1") == 2
    assert store.commit_allow(task_id="t1", max_calls=3) is ALLOWED  # the budget is the token's
    assert store.commit_allow(task_id="t2", max_calls=0) is CommitOutcome.BUDGET_EXHAUSTED


def test_approval_replay_is_blocked(store: StateStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    again = store.commit_allow(task_id="t1", max_calls=None, approval_ids=["a1"])
    assert again is CommitOutcome.APPROVAL_REPLAYED


def test_one_approval_presented_twice_in_one_request_is_a_replay(store: StateStore) -> None:
    outcome = store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1", "a1"])
    assert outcome is CommitOutcome.APPROVAL_REPLAYED
    assert not store.approval_consumed("a1", "t1") and store.task_calls("t1") == 0


@pytest.mark.parametrize(
    ("revoked", "calls", "max_calls", "used", "expected"),
    [
        (True, 0, None, [], CommitOutcome.TASK_REVOKED),
        (True, 5, 5, ["old"], CommitOutcome.TASK_REVOKED),  # revocation wins over everything
        (False, 2, 2, [], CommitOutcome.BUDGET_EXHAUSTED),
        (False, 2, 2, ["old"], CommitOutcome.BUDGET_EXHAUSTED),  # budget is checked before approvals
        (False, 1, 2, ["old"], CommitOutcome.APPROVAL_REPLAYED),
    ],
)
def test_refused_commit_writes_nothing(
    store: StateStore,
    revoked: bool,
    calls: int,
    max_calls: int | None,
    used: list[str],
    expected: CommitOutcome,
) -> None:
    for i in range(calls):
        assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=[f"setup-{i}"]) is ALLOWED
    for approval in used:
        assert store.commit_allow(task_id="t1", max_calls=None, approval_ids=[approval]) is ALLOWED
    if revoked:
        store.revoke_task("t1", reason="r", by="b")
    outcome = store.commit_allow(task_id="t1", max_calls=max_calls, approval_ids=["fresh", *used])
    assert outcome is expected
    assert store.task_calls("t1") == calls
    assert not store.approval_consumed("fresh", "t1")


def test_a_second_process_shares_budgets_and_spent_approvals(stores: OpenStore) -> None:
    first, second = stores(), stores()
    assert first.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    assert second.approval_consumed("a1", "t1")
    replay = second.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"])
    assert replay is CommitOutcome.APPROVAL_REPLAYED
    assert second.commit_allow(task_id="t1", max_calls=2) is ALLOWED
    assert first.commit_allow(task_id="t1", max_calls=2) is CommitOutcome.BUDGET_EXHAUSTED


def test_a_second_process_sees_revocation_and_suspension(stores: OpenStore) -> None:
    first, second = stores(), stores()
    assert not second.task_revoked("t1") and not second.agent_suspended(AGENT)  # both views loaded
    first.revoke_task("t1", reason="r", by="b")
    first.set_agent_suspended(AGENT, True, by="b")
    assert first.task_revoked("t1") and first.agent_suspended(AGENT)  # its own process: at once
    assert eventually(lambda: second.task_revoked("t1") and second.agent_suspended(AGENT))
    # whatever its view says, the commit checks the revocation where it is written
    assert second.commit_allow(task_id="t1", max_calls=BIG) is CommitOutcome.TASK_REVOKED
    first.set_agent_suspended(AGENT, False, by="b")
    assert eventually(lambda: not second.agent_suspended(AGENT))


def race(store: StateStore, n_threads: int, work: Callable[[], CommitOutcome]) -> Counter[str]:
    barrier = threading.Barrier(n_threads)
    results: list[CommitOutcome] = []

    def run() -> None:
        barrier.wait(timeout=30)
        results.append(work())

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return Counter(results)


def test_threads_racing_for_one_approval_consume_it_once(store: StateStore) -> None:
    for round_ in range(20):
        ids = [f"a{round_}"]
        outcomes = race(
            store, 4, lambda ids=ids: store.commit_allow(task_id="t1", max_calls=None, approval_ids=ids)
        )
        assert outcomes == {ALLOWED: 1, CommitOutcome.APPROVAL_REPLAYED: 3}


def test_threads_racing_for_a_budget_take_exactly_it(store: StateStore) -> None:
    outcomes = race(store, 8, lambda: store.commit_allow(task_id="t1", max_calls=5))
    assert outcomes == {ALLOWED: 5, CommitOutcome.BUDGET_EXHAUSTED: 3}
    assert store.task_calls("t1") == 5


def test_a_closed_store_is_unavailable(stores: OpenStore) -> None:
    store = stores()
    store.close()
    with pytest.raises(StoreUnavailable):
        store.task_revoked("t1")
    with pytest.raises(StoreUnavailable):
        store.agent_suspended(AGENT)


def test_an_audit_anchor_only_moves_forward(stores: OpenStore) -> None:
    first, second = stores(), stores()
    assert first.audit_anchors() == []
    first.anchor_audit(AuditAnchor("chain-a", 5, "h5", 10.0))
    second.anchor_audit(AuditAnchor("chain-a", 4, "h4", 11.0))  # a late writer cannot move it back
    second.anchor_audit(AuditAnchor("chain-b", 1, "b1", 12.0))
    assert first.audit_anchors() == [
        AuditAnchor("chain-a", 5, "h5", 10.0),
        AuditAnchor("chain-b", 1, "b1", 12.0),
    ]
    first.anchor_audit(AuditAnchor("chain-a", 6, "h6", 13.0))
    assert second.audit_anchors()[0] == AuditAnchor("chain-a", 6, "h6", 13.0)
