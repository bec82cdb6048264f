"""What a deny for want of approvers tells the agent, and what is filed for the approvers.

``Lift`` completes a deny approvers could lift (the one place that asks how many), with a
stand-in policy; stage 10 files the request it asks for, with a stand-in queue: every field of
the deny body's ``approval`` object and of the filed request, and each way filing can come out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from authz.audit import AuditLog
from authz.config import Agent, AgentStatus, ApprovalsConfig, Route
from authz.directory import Principal
from authz.metrics import Metrics
from authz.model import Action, Caller, Context, Decision, Operation, RequestContext
from authz.reasons import Denied, Reason
from authz.stages.context import ContextStage
from authz.stages.lift import Lift, new_request
from authz.stages.policy import PolicyStage
from authz.stages.record import RecordStage
from authz.store import StateStore, StoreUnavailable
from authz.store.queue import NewRequest
from authz.tokens.approval import request_hash
from authz.tokens.task import Task
from authz.wellknown import POLL_PATH

AGENT = Agent("spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", AgentStatus.ACTIVE)
RESET = Route(
    "POST", "/v1/users/{user}/password/reset", "user.password.reset", "credential_change",
    "user", "user", False,
)  # fmt: skip
PATH, BODY = "/v1/users/alice/password/reset", b'{"user": "alice"}'
SETTINGS = ApprovalsConfig(requests_per_agent=3, requests_window=120)
NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
POLICY_DENY = Denied(Reason.APPROVALS_INSUFFICIENT, "get it approved", {"hint": 1}, 8, liftable=True)


class Queue:
    """Files as told: a request id, None (the agent filed too many), or a store failure."""

    def __init__(self, answer: tuple[str, bool] | None | Exception = ("apr-1", True)) -> None:
        self.answer, self.filed = answer, list[dict[str, Any]]()

    def file(self, new: NewRequest, *, now: float, per_agent: int, window: float) -> tuple[str, bool] | None:
        self.filed.append({"new": new, "now": now, "per_agent": per_agent, "window": window})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Policy:
    """Says how many approvers would do, whatever it is asked."""

    def __init__(self, needed: int | None) -> None:
        self.needed = needed

    def approvals_needed(self, d: Decision, context: Context, now: dt.datetime, most: int) -> int | None:
        return self.needed


def decision() -> Decision:
    headers = {"x-agent-justification": "ticket T-42", "x-agent-prompt-ref": "prompt-9"}
    d = Decision("d-1", RequestContext("POST", PATH, headers, BODY, AGENT.spiffe_id, ""))
    d.caller = Caller(AGENT, "x")
    d.operation = Operation(RESET, "alice", {"user": "alice"})
    d.task = Task(
        "t-1", "task-issuer", "bob", (AGENT.spiffe_id,), "x", "credential_recovery",
        frozenset({"user.password.reset"}), frozenset({"alice"}), None, 100, 100, 700,
    )  # fmt: skip
    d.context = Context(Principal("alice", True, "human"))
    return d


def lift(needed: int | None) -> Lift:
    policy, context = cast(PolicyStage, Policy(needed)), cast(ContextStage, None)
    return Lift(policy, context, 4)


def asked(d: Decision, needed: int | None = 2) -> Denied:
    return lift(needed).complete(d, POLICY_DENY, NOW)


def test_the_deny_names_the_exact_request_to_approve() -> None:
    d = decision()
    denied = asked(d)
    assert (denied.reason, denied.stage) == (Reason.APPROVALS_INSUFFICIENT, 8)
    assert denied.message == "get it approved; 2 distinct approvers would do"
    assert denied.extra == {
        "hint": 1,
        "approval": {
            "operation": "user.password.reset",
            "principal": "alice",
            "task": "t-1",
            "req": request_hash("POST", PATH, BODY),
            "approvers_required": 2,
            "approvers_needed": 2,
            "approved_by": [],
            "expires": 700,
        },
    }
    assert d.effects.file == new_request(d, request_hash("POST", PATH, BODY), 2)


def test_the_filed_request_carries_what_the_approvers_need_to_decide() -> None:
    d = decision()
    assert new_request(d, "req-hash", 2) == NewRequest(
        agent=AGENT.spiffe_id, owner="it-helpdesk@example.org", task_id="t-1", on_behalf_of="bob",
        intent="credential_recovery", justification="ticket T-42", prompt_ref="prompt-9",
        operation="user.password.reset", op_class="credential_change", principal="alice", method="POST",
        path=PATH, body=BODY, req="req-hash", approvers_needed=2, expires=700,
    )  # fmt: skip


def test_a_request_that_does_several_things_names_each_of_them_to_approve() -> None:
    d = decision()
    both = (
        Action("user.password.reset", "credential_change", "alice", None, False),
        Action("group.member.add", "privilege_change", "bob", "admins"),
    )
    d.operation = Operation(RESET, "alice", {"user": "alice"}, both)
    approval = asked(d).extra["approval"]
    assert approval["actions"] == [
        {"operation": "user.password.reset", "principal": "alice"},
        {"operation": "group.member.add", "principal": "bob"},
    ]
    assert (approval["operation"], approval["principal"]) == ("user.password.reset", "alice")


def test_a_deny_no_number_of_approvers_lifts_stays_as_it_is() -> None:
    d = decision()
    assert asked(d, needed=None) is POLICY_DENY and d.effects.file is None


def test_a_deny_approvers_cannot_lift_is_left_alone() -> None:
    d, denied = decision(), Denied(Reason.TARGET_UNKNOWN, "who?")
    assert lift(2).complete(d, denied, NOW) is denied and d.effects.file is None


@pytest.mark.parametrize("missing", ["task", "operation"])
def test_only_a_decision_with_task_and_operation_is_completed(missing: str) -> None:
    d = decision()
    setattr(d, missing, None)
    assert lift(2).complete(d, POLICY_DENY, NOW) is POLICY_DENY


class Gathers:
    """Stage 7 as the floor asks it: the target's context, or a directory that cannot answer."""

    def __init__(self, down: bool = False) -> None:
        self.down = down

    def gather(self, operation: Operation, task: Task) -> Context:
        if self.down:
            raise Denied(Reason.CONTEXT_UNAVAILABLE, "the directory cannot answer")
        return Context(Principal(operation.target, True, "human"))


FLOOR_DENY = Denied(Reason.APPROVAL_REQUIRED, "user.password.reset needs human approval", liftable=True)


@pytest.mark.parametrize(
    ("needed", "message"),
    [
        (2, "user.password.reset needs human approval: 2 distinct approver(s)"),
        (None, "user.password.reset needs human approval, and no"
         " number of approvers lets the policy allow it"),
    ],
    ids=["some-number", "no-number"],
)
def test_the_floors_deny_says_how_many_approvers_the_policy_asks_for(
    needed: int | None, message: str
) -> None:
    d = decision()
    d.context = None
    floor = Lift(cast(PolicyStage, Policy(needed)), cast(ContextStage, Gathers()), 4)
    denied = floor.complete(d, FLOOR_DENY, NOW)
    assert (denied.reason, denied.stage, denied.message) == (Reason.APPROVAL_REQUIRED, 6, message)
    assert d.context == Context(Principal("alice", True, "human"))  # kept for the audit record
    assert denied.extra["approval"]["approvers_needed"] == needed
    assert (d.effects.file is None) is (needed is None)


def test_the_floors_deny_while_the_directory_is_down_says_how_many_is_unknown() -> None:
    d = decision()
    floor = Lift(cast(PolicyStage, Policy(2)), cast(ContextStage, Gathers(down=True)), 4)
    denied = floor.complete(d, FLOOR_DENY, NOW)
    unknown = "user.password.reset needs human approval (how many: unknown while the directory is down)"
    assert denied.message == unknown
    assert denied.reason is Reason.APPROVAL_REQUIRED and denied.stage == 6
    assert denied.extra["approval"]["approvers_needed"] is None and d.effects.file is None


# -- stage 10 files what the lift asked for ------------------------------------------------------
def filed(tmp_path: Any, queue: Queue | None) -> tuple[Decision, dict[str, Any]]:
    d = decision()
    d.refuse(asked(d))
    store = cast(StateStore, None)
    audit = AuditLog(tmp_path / "audit.jsonl", fsync=False)
    try:
        RecordStage(audit, store, Metrics(), queue, SETTINGS).record(d, NOW, 0.001)  # type: ignore[arg-type]
    finally:
        audit.close()
    return d, d.body_extra["approval"]


def test_the_request_is_filed_and_the_deny_says_where_to_poll(tmp_path: Any) -> None:
    queue = Queue()
    _, approval = filed(tmp_path, queue)
    assert (approval["queued"], approval["request_id"], approval["poll"]) == (
        True,
        "apr-1",
        POLL_PATH + "apr-1",
    )
    [entry] = queue.filed
    assert (entry["now"], entry["per_agent"], entry["window"]) == (int(NOW.timestamp()), 3, 120)


@pytest.mark.parametrize(
    ("queue", "filing"),
    [
        (None, {"queued": False}),  # no approval queue configured
        (Queue(StoreUnavailable("disk full")), {"queued": False}),  # still a deny; ask again later
        (Queue(None), {"queued": False, "retry_after": 120}),  # the agent filed too many
    ],
    ids=["no-queue", "store-down", "rate-limited"],
)
def test_a_request_that_is_not_filed_says_so(
    tmp_path: Any, queue: Queue | None, filing: dict[str, object]
) -> None:
    _, approval = filed(tmp_path, queue)
    assert {
        k: v for k, v in approval.items() if k in ("queued", "retry_after", "request_id", "poll")
    } == filing
