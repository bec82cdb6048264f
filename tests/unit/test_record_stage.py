"""Stage 10 on its own: the commit's outcome is the last word, and the audit record says it all.

A stand-in store and audit log choose what the commit and the write do, so every outcome is
reached; the record is compared field by field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from authz.audit import AuditUnavailable, audit_record
from authz.config import Agent, AgentStatus, Route
from authz.directory import Group, Principal
from authz.effects import Revoke, Spend
from authz.metrics import Metrics
from authz.model import Caller, Context, Decision, Operation, RequestContext
from authz.reasons import Reason
from authz.stages.record import RecordStage
from authz.store import CommitOutcome, StoreUnavailable
from authz.tokens.approval import Approval
from authz.tokens.task import Task

AGENT = Agent("spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", AgentStatus.ACTIVE)
RESET = Route(
    "POST", "/v1/users/{user}/password/reset", "user.password.reset", "credential_change",
    "user", "user", False,
)  # fmt: skip
READ = Route("GET", "/v1/users/{user}", "user.read", "read", "user", None, True)
NOW = dt.datetime(2026, 1, 5, 14, 30, 1, 250, tzinfo=dt.UTC)
TRACE = "0af7651916cd43dd8448eb211c80319c"


class Store:
    """Commits with a chosen outcome, or fails; remembers what it was asked to spend."""

    def __init__(self, outcome: CommitOutcome | None = CommitOutcome.ALLOWED) -> None:
        self.outcome, self.commits = outcome, list[dict[str, Any]]()

    def commit_allow(
        self, *, task_id: str | None, max_calls: int | None, approval_ids: Sequence[str] = ()
    ) -> CommitOutcome:
        self.commits.append({"task_id": task_id, "max_calls": max_calls, "approval_ids": list(approval_ids)})
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


def task(**overrides: Any) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-1", issuer="task-issuer", subject="bob", actors=(AGENT.spiffe_id, "spiffe://x/agent/planner"),
        thumbprint="x", intent="credential_recovery", actions=frozenset({"user.password.reset"}),
        principals=frozenset({"alice"}), max_calls=5, issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    fields.update(overrides)
    return Task(**fields)


def approval(approval_id: str, approver: str) -> Approval:
    return Approval(approval_id, approver, AGENT.spiffe_id, "t-1", "user.password.reset", "alice", "r", 0, 60)


def decision(
    route: Route = RESET, *, allowed: bool = True, headers: dict[str, str] | None = None
) -> Decision:
    path = "/v1/users/alice/password/reset" if route is RESET else "/v1/users/alice"
    request = RequestContext(route.method, path, headers or {}, b"", AGENT.spiffe_id, "", "req-7")
    d = Decision("d-1", request)
    d.caller = Caller(AGENT, "x")
    d.operation, d.task = Operation(route, "alice", {"user": "alice"}), task()
    d.approvals = (approval("a-2", "erik"), approval("a-1", "dana"))
    if allowed:
        d.effects.spend = Spend("t-1", 5, ("a-2", "a-1"))  # stage 9's
        d.allow()
    else:
        d.deny(Reason.POLICY_DENIED, "no")
    return d


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


def test_the_audit_record_of_an_allow_holds_every_field() -> None:
    headers = {
        "x-agent-intent": "credential_recovery",
        "x-agent-justification": "ticket T-42",
        "x-agent-prompt-ref": "prompt-9",
        "traceparent": f"00-{TRACE}-b7ad6b7169203331-01",
    }
    d = decision(headers=headers)
    d.context = Context(
        Principal("alice", exists=True, kind="human", groups=frozenset({"staff", "all"})),
        Group("staff", exists=True, privileged=False),
    )
    d.policies = ("resets-with-approval",)
    assert audit_record(d, NOW, 0.00125) == {
        "decision_id": "d-1",
        "time": "2026-01-05T14:30:01.000250+00:00",
        "decision": "allow",
        "reason": "allowed",
        "agent": AGENT.spiffe_id,
        "owner": "it-helpdesk@example.org",
        "peer": AGENT.spiffe_id,
        "sub": "bob",
        "act": [AGENT.spiffe_id, "spiffe://x/agent/planner"],
        "intent": "credential_recovery",
        "justification": "ticket T-42",
        "prompt_ref": "prompt-9",
        "operation": "user.password.reset",
        "class": "credential_change",
        "reversible": False,
        "method": "POST",
        "path": "/v1/users/alice/password/reset",
        "target": "alice",
        "target_attributes": {
            "name": "alice",
            "exists": True,
            "kind": "human",
            "privileged": False,
            "groups": ["all", "staff"],
        },  # fmt: skip
        "group": {"name": "staff", "exists": True, "privileged": False},
        "task": "t-1",
        "approvers": ["dana", "erik"],
        "approval_ids": ["a-2", "a-1"],
        "policies": ["resets-with-approval"],
        "shadow": None,
        "request_id": "req-7",
        "trace_id": TRACE,
        "latency_us": 1250,
    }


def test_the_audit_record_of_an_early_deny_has_nothing_it_did_not_learn() -> None:
    request = RequestContext("GET" * 10, "/v1/users/alice?token=secret", {}, b"", "", "")
    d = Decision("d-3", request)
    d.deny(Reason.MISSING_CLIENT_IDENTITY, "no certificate")
    written = audit_record(d, NOW, 0.0)
    assert written["decision"] == "deny" and written["reason"] == "missing_client_identity"
    nothing = ("agent", "owner", "peer", "sub", "act", "operation", "class", "reversible", "target")
    assert all(written[name] is None for name in nothing)
    more = ("target_attributes", "group", "task", "request_id", "trace_id", "intent")
    assert all(written[name] is None for name in more)
    assert (written["method"], written["path"]) == ("GETGETGETGETGETG", "/v1/users/alice")
    assert (written["approvers"], written["approval_ids"], written["policies"]) == ([], [], [])


def test_the_audit_record_caps_what_the_caller_controls() -> None:
    long = "x" * 5000
    request = RequestContext("GET", "/" + long + "?q=1", {}, b"", "p" * 600, "", "r" * 200)
    written = audit_record(Decision("d-4", request), NOW, 0.0)
    assert (len(written["path"]), len(written["peer"]), len(written["request_id"])) == (2048, 512, 128)


def test_a_degraded_read_says_its_targets_attributes_are_unknown() -> None:
    d = decision(READ)
    d.context = Context(Principal("alice", exists=False), degraded=True)
    assert audit_record(d, NOW, 0.0)["target_attributes"] == {
        "unknown": "directory unavailable; read allowed by the degraded rule"
    }


@pytest.mark.parametrize(
    ("headers", "trace_id"),
    [
        ({"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}, TRACE),
        ({"traceparent": f"00-{TRACE}-b7ad6b7169203331"}, None),  # three parts: not W3C
        ({"traceparent": f"00-{TRACE[:31]}-b7ad6b7169203331-01"}, None),  # a short trace id
        ({"traceparent": "garbage", "x-b3-traceid": "80f198ee56343ba8"}, "80f198ee56343ba8"),
        ({"x-b3-traceid": "a" * 40}, "a" * 32),
        ({}, None),
    ],
)
def test_the_trace_id_comes_from_w3c_traceparent_else_b3(
    headers: dict[str, str], trace_id: str | None
) -> None:
    request = RequestContext("GET", "/", headers, b"", "", "")
    assert audit_record(Decision("d-5", request), NOW, 0.0)["trace_id"] == trace_id


@pytest.mark.parametrize(("elapsed", "micros"), [(0.0, 0), (0.00125, 1250), (2.5, 2_500_000)])
def test_the_latency_is_recorded_in_microseconds(elapsed: float, micros: int) -> None:
    assert audit_record(decision(), NOW, elapsed)["latency_us"] == micros


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
