"""``DryRunStore`` (``authz/store/dry_run.py``): what ``agent-authz check`` decides on — the
live state, read, and nothing written: the commit's outcome in the real order of its checks."""

from __future__ import annotations

import pytest

from authz.store import CommitOutcome
from authz.store.dry_run import DryRunStore
from authz.store.sqlite import SqliteStore

from .sqlite_store import AGENT, ALLOWED


def test_the_outcome_is_the_real_commits_and_nothing_is_spent(store: SqliteStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=10, approval_ids=["used"]) is ALLOWED
    dry = DryRunStore(store)
    assert dry.commit_allow(task_id="t1", max_calls=10, approval_ids=["fresh"]) is ALLOWED
    assert dry.commit_allow(task_id="t1", max_calls=1) is CommitOutcome.BUDGET_EXHAUSTED
    assert (
        dry.commit_allow(task_id="t1", max_calls=10, approval_ids=["used"]) is CommitOutcome.APPROVAL_REPLAYED
    )
    assert (
        dry.commit_allow(task_id="t1", max_calls=10, approval_ids=["x", "x"])
        is CommitOutcome.APPROVAL_REPLAYED
    )
    assert store.task_calls("t1") == 1 and not store.approval_consumed("fresh")  # nothing spent
    store.revoke_task("t1", reason="r", by="ops")
    assert dry.commit_allow(task_id="t1", max_calls=1, approval_ids=["used"]) is CommitOutcome.TASK_REVOKED


def test_a_revocation_is_noted_not_written(store: SqliteStore) -> None:
    dry = DryRunStore(store)
    assert dry.revoke_task("t2", reason="intent_mismatch", by="pipeline") is True
    assert dry.would_revoke == ["t2"] and not store.task_revoked("t2") and store.revocations() == []
    store.revoke_task("t3", reason="r", by="ops")
    assert dry.revoke_task("t3", reason="r", by="x") is False  # already revoked


def test_reads_come_from_the_real_store_and_writes_are_refused(store: SqliteStore) -> None:
    store.set_agent_suspended(AGENT, True, by="ops")
    dry = DryRunStore(store)
    assert dry.agent_suspended(AGENT) and dry.suspended_agents() == [AGENT] and dry.staleness() is None
    with pytest.raises(AssertionError, match="never suspends"):
        dry.set_agent_suspended(AGENT, False, by="x")
    assert store.agent_suspended(AGENT)
