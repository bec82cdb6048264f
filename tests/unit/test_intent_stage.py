"""Stage 5 on its own: the declared intent is the task's, and the catalogue lets this agent use it
for this operation; a changed intent revokes the task once."""

from __future__ import annotations

from typing import Any

import pytest

from authz.config import Intent, Route
from authz.reasons import Denied, Reason
from authz.stages.intent import IntentStage
from authz.stages.operation import Operation
from authz.tasks import Task

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


class Store:
    def __init__(self) -> None:
        self.revoked: list[tuple[str, str, str]] = []

    def revoke_task(self, task_id: str, *, reason: str, by: str) -> bool:
        new = all(t != task_id for t, _, _ in self.revoked)
        self.revoked.append((task_id, reason, by))
        return new


def task(intent: str = "account_support", **overrides: Any) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-1", issuer="i", subject=BOT, actors=(), thumbprint="x", intent=intent,
        actions=frozenset({"user.read"}), principals=frozenset({"alice"}), max_calls=None,
        issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    fields.update(overrides)
    return Task(**fields)


def stage(store: Store) -> tuple[IntentStage, list[int]]:
    revocations: list[int] = []
    return IntentStage(CATALOGUE, store, on_revoke=lambda: revocations.append(1)), revocations  # type: ignore[arg-type]


def test_the_tasks_intent_for_a_permitted_operation_passes() -> None:
    intents, _ = stage(Store())
    assert intents.check("account_support", task(), READ) is CATALOGUE["account_support"]


@pytest.mark.parametrize("declared", [None, ""])
def test_no_declared_intent(declared: str | None) -> None:
    intents, _ = stage(store := Store())
    with pytest.raises(Denied) as info:
        intents.check(declared, task(), READ)
    assert info.value.reason is Reason.INTENT_MISSING and store.revoked == []


def test_a_changed_intent_revokes_the_task_once() -> None:
    intents, revocations = stage(store := Store())
    for declared in ("audit", "account_support,audit"):  # two headers arrive joined with ','
        with pytest.raises(Denied) as info:
            intents.check(declared, task(), READ)
        assert info.value.reason is Reason.INTENT_MISMATCH
    assert store.revoked == [("t-1", "intent_mismatch", BOT), ("t-1", "intent_mismatch", BOT)]
    assert revocations == [1]  # counted when newly revoked only


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
    intents, _ = stage(store := Store())
    with pytest.raises(Denied) as info:
        intents.check(the_task.intent, the_task, operation)
    assert info.value.reason is Reason.INTENT_MISMATCH and store.revoked == []
