"""Stage 10 on its own: the commit's outcome is the last word, and the audit log takes the record.

A stand-in store and audit log choose what the commit and the write do, so every outcome is
reached (what the record holds: ``tests/unit/audit/test_record.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from authz.audit import AuditUnavailable
from authz.effects import Revoke
from authz.metrics import Metrics
from authz.model import Decision, RequestContext
from authz.reasons import Reason
from authz.stages.record import RecordStage
from authz.store import CommitOutcome, StoreUnavailable
from unit.decisions import AGENT, NOW, READ, decision


class Store:
    """Commits with a chosen outcome, or fails; remembers what it was asked to spend."""

    def __init__(
        self, outcome: CommitOutcome | None = CommitOutcome.ALLOWED, stale: float | None = None
    ) -> None:
        self.outcome, self.commits, self.stale = outcome, list[dict[str, Any]](), stale

    def staleness(self) -> float | None:
        return self.stale

    def commit_allow(
        self,
        *,
        task_id: str | None,
        max_calls: int | None,
        approval_ids: Sequence[str] = (),
        keep_until: float | None = None,
        approvals_until: float | None = None,
    ) -> CommitOutcome:
        self.commits.append({"task_id": task_id, "max_calls": max_calls, "approval_ids": list(approval_ids)})
        self.kept = (keep_until, approvals_until)
        if self.outcome is None:
            raise StoreUnavailable("disk full")
        return self.outcome


class Audit:
    def __init__(self, fails: bool = False) -> None:
        self.fails, self.records = fails, list[tuple[dict[str, Any], bool]]()

    def append(self, record: dict[str, Any], durable: bool = False) -> None:
        if self.fails:
            raise AuditUnavailable("read-only file system")
        self.records.append((record, durable))


def record(d: Decision, store: Store | None = None, audit: Audit | None = None) -> tuple[Metrics, Audit]:
    metrics, audit = Metrics(), audit or Audit()
    RecordStage(audit, store or Store(), metrics).record(d, NOW, 0.00125)  # type: ignore[arg-type]
    return metrics, audit


def test_an_allow_spends_the_tasks_budget_and_its_approvals_in_one_commit() -> None:
    store = Store()
    metrics, audit = record(d := decision(), store)
    assert store.commits == [{"task_id": "t-1", "max_calls": 5, "approval_ids": ["a-2", "a-1"]}]
    assert d.allowed and metrics.approvals_consumed._value.get() == 2
    [(written, durable)] = audit.records
    assert (written["decision"], durable) == ("allow", True)


def test_a_change_is_never_allowed_on_stale_state() -> None:
    store = Store(stale=2.5)  # Redis away: the degraded rule answered reads from a 2.5 s old view
    metrics, audit = record(d := decision(), store)
    assert (d.reason, store.commits) == (Reason.STORE_UNAVAILABLE, [])
    assert metrics.store_errors._value.get() == 1
    assert audit.records[0][0]["decision"] == "deny"


def test_a_read_allowed_on_stale_state_says_how_stale_in_its_record() -> None:
    _, audit = record(d := decision(READ), Store(stale=2.5))
    assert d.allowed and audit.records[0][0]["store_staleness"] == 2.5
    _, audit = record(decision(READ), Store())
    assert audit.records[0][0]["store_staleness"] is None


def test_a_deny_commits_nothing() -> None:
    store = Store()
    record(decision(allowed=False), store)
    assert store.commits == []


def test_an_allow_without_a_spend_commits_nothing() -> None:
    store, d = Store(), decision(READ)
    d.task, d.approvals, d.effects.spend = None, (), None  # e.g. an agent polling its approval request
    metrics, audit = record(d, store)
    assert store.commits == []
    assert metrics.approvals_consumed._value.get() == 0
    assert audit.records[0][1] is False  # a read's allow need not wait for the disk


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (CommitOutcome.TASK_REVOKED, Reason.TASK_REVOKED),
        (CommitOutcome.BUDGET_EXHAUSTED, Reason.BUDGET_EXHAUSTED),
        (CommitOutcome.APPROVAL_REPLAYED, Reason.APPROVAL_REPLAYED),
    ],
)
def test_a_refused_commit_turns_the_allow_into_its_deny(outcome: CommitOutcome, reason: Reason) -> None:
    metrics, audit = record(d := decision(), Store(outcome))
    assert d.reason is reason and not d.upstream_headers
    assert metrics.approvals_consumed._value.get() == 0
    assert metrics.replays_blocked._value.get() == (1 if reason is Reason.APPROVAL_REPLAYED else 0)
    [(written, durable)] = audit.records
    assert (written["decision"], written["reason"], durable) == ("deny", str(reason), False)
    assert metrics.decisions.labels("deny", str(reason), "credential_change")._value.get() == 1


def test_a_store_that_cannot_commit_denies_with_store_unavailable() -> None:
    metrics, audit = record(d := decision(), Store(None))
    assert (d.reason, d.status) == (Reason.STORE_UNAVAILABLE, 503)
    assert metrics.store_errors._value.get() == 1 and metrics.approvals_consumed._value.get() == 0
    assert audit.records[0][0]["reason"] == "store_unavailable"


def test_an_audit_log_that_cannot_be_written_denies_with_audit_unavailable() -> None:
    metrics, _ = record(d := decision(), audit=Audit(fails=True))
    assert (d.reason, d.status) == (Reason.AUDIT_UNAVAILABLE, 503)
    assert metrics.audit_failures._value.get() == 1
    assert metrics.decisions.labels("deny", "audit_unavailable", "credential_change")._value.get() == 1


def test_a_shadowed_policy_deny_is_counted_by_its_reason_and_class() -> None:
    d = decision(READ)
    d.shadow = {"decision": "deny", "reason": "closed", "policies": ["p"]}
    metrics, _ = record(d)
    assert metrics.shadow_denies.labels(reason="closed", **{"class": "read"})._value.get() == 1
    assert metrics.decisions.labels("allow", "allowed", "read")._value.get() == 1


def test_a_decision_without_an_operation_is_counted_as_class_unknown() -> None:
    d = Decision("d-2", RequestContext("GET", "/nowhere", {}, b"", "", ""))
    d.deny(Reason.UNKNOWN_ROUTE, "no route")
    metrics, _ = record(d)
    assert metrics.decisions.labels("deny", "unknown_route", "unknown")._value.get() == 1


class RevokingStore(Store):
    def __init__(self, new: bool = True, fails: bool = False) -> None:
        super().__init__()
        self.new, self.fails, self.revoked = new, fails, list[tuple[str, str, str]]()

    def revoke_task(self, task_id: str, *, reason: str, by: str) -> bool:
        if self.fails:
            raise StoreUnavailable("disk full")
        self.revoked.append((task_id, reason, by))
        return self.new


@pytest.mark.parametrize("new", [True, False])
def test_a_deny_that_ends_a_task_revokes_it_and_counts_a_new_revocation(new: bool) -> None:
    store, d = RevokingStore(new), decision(allowed=False)
    d.effects.revoke = Revoke("t-1", reason="intent_mismatch", by=AGENT.spiffe_id)
    metrics, _ = record(d, store)
    assert store.revoked == [("t-1", "intent_mismatch", AGENT.spiffe_id)] and store.commits == []
    assert metrics.revocations._value.get() == (1 if new else 0)


def test_a_store_that_cannot_revoke_denies_with_store_unavailable() -> None:
    d = decision(allowed=False)
    d.effects.revoke = Revoke("t-1", reason="completed", by=AGENT.spiffe_id)
    metrics, audit = record(d, RevokingStore(fails=True))
    assert d.reason is Reason.STORE_UNAVAILABLE and metrics.store_errors._value.get() == 1
    assert audit.records[0][0]["reason"] == "store_unavailable"


def test_a_read_the_store_refuses_at_its_commit_records_no_staleness() -> None:
    # The view aged past max_staleness between the staleness reading and the commit's own read.
    _, audit = record(d := decision(READ), Store(outcome=None, stale=4.9))
    assert d.reason is Reason.STORE_UNAVAILABLE and d.store_staleness is None
    assert audit.records[0][0]["store_staleness"] is None


def test_the_commit_says_how_long_what_it_spends_must_be_kept() -> None:
    store, d = Store(), decision()
    d.effects.spend = replace(d.effects.spend, keep_until=1_900_000_000, approvals_until=1_800_000_000)  # type: ignore[arg-type]
    record(d, store)
    assert store.kept == (1_900_000_000, 1_800_000_000)  # the task's expiry; the last approval's


def test_a_reads_staleness_is_recorded_to_the_millisecond() -> None:
    _, audit = record(decision(READ), Store(stale=2.12345))
    assert audit.records[0][0]["store_staleness"] == 2.123
