"""Stage 9 on its own (``authz/stages/budget.py``): a task's ``budget.max_calls`` allows that many
calls; the allow's spend — this call charged, the approvals consumed — is returned for stage 10."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from authz.directory import Principal
from authz.effects import Spend
from authz.model import Context
from authz.reasons import Denied, Reason
from authz.stages.budget import check_budget
from authz.tokens.approval import Approval
from authz.tokens.task import Task

AGENT = "spiffe://agents.example.org/agent/helpdesk-bot"


def task(max_calls: int | None) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-3", issuer="i", subject=AGENT, actors=(), thumbprint="x", intent="account_support",
        actions=frozenset({"user.read"}), principals=frozenset({"alice"}), max_calls=max_calls,
        issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    return Task(**fields)


def context(calls: int) -> Context:
    return Context(Principal("alice", True, "human"), task_calls=calls)


def approval(approval_id: str) -> Approval:
    return Approval(approval_id, "dana", AGENT, "t-3", "user.read", "alice", "r", 0, 60)


@pytest.mark.parametrize(("max_calls", "calls"), [(None, 0), (None, 10_000), (3, 0), (3, 2), (1, 0)])
def test_a_call_within_the_budget_is_spent(max_calls: int | None, calls: int) -> None:
    assert check_budget(task(max_calls), context(calls), ()) == Spend(
        "t-3", max_calls, (), task(max_calls).expires
    )


@pytest.mark.parametrize(("max_calls", "calls"), [(3, 3), (3, 4), (1, 1)])
def test_a_call_past_the_budget_is_refused(max_calls: int, calls: int) -> None:
    with pytest.raises(Denied) as info:
        check_budget(task(max_calls), context(calls), (approval("a-1"),))
    assert (info.value.reason, info.value.stage) == (Reason.BUDGET_EXHAUSTED, 9)
    assert info.value.message == f"task t-3 has used its {max_calls} calls"


def test_the_spend_consumes_every_approval_in_order() -> None:
    spent = check_budget(task(5), context(1), (approval("a-2"), approval("a-1")))
    assert spent == Spend(
        "t-3", 5, ("a-2", "a-1"), task(5).expires, 60
    )  # the counter: the task; marks: the approvals


def test_the_marks_of_spent_approvals_are_kept_until_the_last_of_them_or_the_task_expires() -> None:
    short, long = approval("a-1"), replace(approval("a-2"), expires=90)
    assert check_budget(task(5), context(0), (short, long)).approvals_until == 90
    outliving = replace(approval("a-3"), expires=task(5).expires + 500)  # bound to the task: useless after it
    assert check_budget(task(5), context(0), (outliving,)).approvals_until == task(5).expires
    assert check_budget(task(5), context(0), ()).approvals_until is None
