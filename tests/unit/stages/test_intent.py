"""Stage 5 on its own: the declared intent is the task's, and the catalogue lets this agent use it
for this operation; a changed intent denies with the task's revocation (stage 10 applies it,
once: tests/unit/stages/test_record.py)."""

from __future__ import annotations

from typing import Any

import pytest

from authz.config import Intent, Route
from authz.effects import Revoke
from authz.model import Action, Operation
from authz.reasons import Denied, Reason
from authz.stages.intent import IntentStage
from authz.tokens.task import Task

BOT = "spiffe://agents.example.org/agent/helpdesk-bot"
OTHER = "spiffe://agents.example.org/agent/audit-bot"
READ = Operation(Route("GET", "/v1/users/{user}", "user.read", "read", "user", None, True), "alice")
RESET = Operation(
    Route(
        "POST",
        "/v1/users/{user}/password/reset",
        "user.password.reset",
        "credential_change",
        "user",
        None,
        False,
    ),
    "alice",
)
CATALOGUE = {
    "account_support": Intent("account_support", "", frozenset({"user.read"}), frozenset({BOT})),
    "audit": Intent("audit", "", frozenset({"user.read"}), frozenset({OTHER})),
}


def task(intent: str = "account_support", **overrides: Any) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-1", issuer="i", subject=BOT, actors=(), thumbprint="x", intent=intent,
        actions=frozenset({"user.read"}), principals=frozenset({"alice"}), max_calls=None,
        issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    fields.update(overrides)
    return Task(**fields)


STAGE = IntentStage(CATALOGUE)


def test_the_tasks_intent_for_a_permitted_operation_passes() -> None:
    assert STAGE.check("account_support", task(), READ) is CATALOGUE["account_support"]


@pytest.mark.parametrize("declared", [None, ""])
def test_no_declared_intent(declared: str | None) -> None:
    with pytest.raises(Denied) as info:
        STAGE.check(declared, task(), READ)
    assert info.value.reason is Reason.INTENT_MISSING and info.value.revoke is None


def test_a_changed_intent_denies_with_the_tasks_revocation() -> None:
    for declared in ("audit", "account_support,audit"):  # two headers arrive joined with ','
        with pytest.raises(Denied) as info:
            STAGE.check(declared, task(), READ)
        assert info.value.reason is Reason.INTENT_MISMATCH
        assert info.value.revoke == Revoke("t-1", reason="intent_mismatch", by=BOT)


@pytest.mark.parametrize(
    ("the_task", "operation"),
    [
        (task("unknown-intent"), READ),  # not in the catalogue
        (task("audit"), READ),  # in the catalogue, but not for this agent
        (task(), RESET),  # the intent does not permit the operation
    ],
    ids=["not-in-catalogue", "other-agents-intent", "operation-not-permitted"],
)
def test_the_catalogue_refuses(the_task: Task, operation: Operation) -> None:
    with pytest.raises(Denied) as info:
        STAGE.check(the_task.intent, the_task, operation)
    assert info.value.reason is Reason.INTENT_MISMATCH and info.value.revoke is None


def test_attack_a_second_action_the_intent_does_not_permit() -> None:
    edit = Route("PATCH", "/Users/{id}", "user.read", "read", "id", None, True)
    operation = Operation(
        edit,
        "alice",
        derived=(Action("user.read", "read", "alice"), Action("user.disable", "write", "alice")),
    )
    with pytest.raises(Denied) as info:
        IntentStage(CATALOGUE).check("account_support", task(), operation)
    assert info.value.reason is Reason.INTENT_MISMATCH and "user.disable" in info.value.message
