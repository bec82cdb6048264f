"""A decision as stages 1-9 leave it — a password reset with two approvals, or a read — for the
tests of stage 10 (``stages/test_record.py``) and of the audit record (``audit/test_record.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from authz.config import Agent, AgentStatus, Route
from authz.effects import Spend
from authz.model import Caller, Decision, Operation, RequestContext
from authz.reasons import Reason
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
