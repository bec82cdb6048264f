"""What a deny for want of approval tells the agent, and what it files for the approvers.

``ApprovalStage.ask`` on its own, with a stand-in queue: every field of the deny body's
``approval`` object and of the filed request, and each way filing can come out.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from authz.approvals import request_hash
from authz.config import Agent, AgentStatus, ApprovalsConfig, Route
from authz.model import Decision, RequestContext
from authz.reasons import Denied, Reason
from authz.stages.approval import POLL_PATH, ApprovalStage
from authz.stages.operation import Operation
from authz.store import StateStore, StoreUnavailable
from authz.store.queue import NewRequest
from authz.tasks import Task

AGENT = Agent("spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", AgentStatus.ACTIVE)
RESET = Route(
    "POST", "/v1/users/{user}/password/reset", "user.password.reset", "credential_change",
    "user", "user", False,
)  # fmt: skip
PATH, BODY = "/v1/users/alice/password/reset", b'{"user": "alice"}'
SETTINGS = ApprovalsConfig(requests_per_agent=3, requests_window=120)


class Queue:
    """Files as told: a request id, None (the agent filed too many), or a store failure."""

    def __init__(self, answer: tuple[str, bool] | None | Exception = ("apr-1", True)) -> None:
        self.answer, self.filed = answer, list[dict[str, Any]]()

    def file(self, new: NewRequest, *, now: float, per_agent: int, window: float) -> tuple[str, bool] | None:
        self.filed.append({"new": new, "now": now, "per_agent": per_agent, "window": window})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def decision() -> Decision:
    headers = {"x-agent-justification": "ticket T-42", "x-agent-prompt-ref": "prompt-9"}
    d = Decision("d-1", RequestContext("POST", PATH, headers, BODY, AGENT.spiffe_id, ""))
    d.agent = AGENT
    d.operation = Operation(RESET, "alice", {"user": "alice"})
    d.task = Task(
        "t-1", "task-issuer", "bob", (AGENT.spiffe_id,), "x", "credential_recovery",
        frozenset({"user.password.reset"}), frozenset({"alice"}), None, 100, 100, 700,
    )  # fmt: skip
    return d


def ask(queue: Queue | None, needed: int | None = 2) -> Denied:
    stage = ApprovalStage(SETTINGS, "iam-api", 30, cast(StateStore, None), queue)  # type: ignore[arg-type]
    denied = Denied(Reason.APPROVAL_REQUIRED, "get it approved", {"hint": 1}, 6)
    return stage.ask(decision(), denied, needed, 1_000)


def test_the_deny_names_the_exact_request_to_approve() -> None:
    denied = ask(Queue())
    assert (denied.reason, denied.message, denied.stage) == (Reason.APPROVAL_REQUIRED, "get it approved", 6)
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
            "queued": True,
            "request_id": "apr-1",
            "poll": POLL_PATH + "apr-1",
        },
    }


def test_the_filed_request_carries_what_the_approvers_need_to_decide() -> None:
    queue = Queue()
    ask(queue)
    [filed] = queue.filed
    assert (filed["now"], filed["per_agent"], filed["window"]) == (1_000, 3, 120)
    assert filed["new"] == NewRequest(
        agent=AGENT.spiffe_id, owner="it-helpdesk@example.org", task_id="t-1", on_behalf_of="bob",
        intent="credential_recovery", justification="ticket T-42", prompt_ref="prompt-9",
        operation="user.password.reset", op_class="credential_change", principal="alice", method="POST",
        path=PATH, body=BODY, req=request_hash("POST", PATH, BODY), approvers_needed=2, expires=700,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("queue", "filing"),
    [
        (None, {"queued": False}),  # no approval queue configured
        (Queue(StoreUnavailable("disk full")), {"queued": False}),  # still a deny; ask again later
        (Queue(None), {"queued": False, "retry_after": 120}),  # the agent filed too many
    ],
    ids=["no-queue", "store-down", "rate-limited"],
)
def test_a_request_that_is_not_filed_says_so(queue: Queue | None, filing: dict[str, object]) -> None:
    approval = ask(queue).extra["approval"]
    assert {
        k: v for k, v in approval.items() if k in ("queued", "retry_after", "request_id", "poll")
    } == filing


def test_a_deny_no_number_of_approvers_lifts_files_nothing() -> None:
    queue = Queue()
    approval = ask(queue, needed=None).extra["approval"]
    assert (approval["queued"], approval["approvers_required"], approval["approvers_needed"]) == (
        False,
        None,
        None,
    )
    assert queue.filed == []


@pytest.mark.parametrize("missing", ["agent", "task", "operation"])
def test_only_a_decision_with_agent_task_and_operation_is_filed(missing: str) -> None:
    stage = ApprovalStage(SETTINGS, "iam-api", 30, cast(StateStore, None), Queue())  # type: ignore[arg-type]
    d = decision()
    setattr(d, missing, None)
    with pytest.raises(AssertionError):
        stage.ask(d, Denied(Reason.APPROVAL_REQUIRED, "m"), 1, 1_000)
