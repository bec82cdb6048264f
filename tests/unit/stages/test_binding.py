"""Stage 4 on its own (``authz/stages/binding.py``): the request touches an account the task names,
compared the way the upstream compares names, with an operation the task names."""

from __future__ import annotations

from typing import Any

import pytest

from authz.config import Route
from authz.model import Action, Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.binding import check_binding
from authz.tokens.task import Task

EXACT = Route("GET", "/v1/users/{user}", "user.read", "read", "user", None, True)
FOLDING = Route(
    "GET", "/v1/users/{user}", "user.read", "read", "user", None, True, names=NameRule.CASE_INSENSITIVE
)


def task(*principals: str, actions: tuple[str, ...] = ("user.read",)) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-7", issuer="i", subject="spiffe://agents.example.org/agent/helpdesk-bot", actors=(),
        thumbprint="x", intent="account_support", actions=frozenset(actions),
        principals=frozenset(principals), max_calls=None, issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    return Task(**fields)


@pytest.mark.parametrize(
    ("route", "principals", "target"),
    [
        (EXACT, ("alice",), "alice"),
        (EXACT, ("bob", "alice"), "alice"),
        (FOLDING, ("alice",), "ALICE"),  # whom a folding upstream acts on
        (FOLDING, ("CAROL",), "carol"),
        (FOLDING, ("alice",), "\uff41lice"),  # fullwidth a: NFKC
        (FOLDING, ("stra\u00dfe",), "STRASSE"),  # full case folding
    ],
)
def test_a_principal_the_task_names_is_in_scope(
    route: Route, principals: tuple[str, ...], target: str
) -> None:
    assert check_binding(task(*principals), Operation(route, target)) is None


@pytest.mark.parametrize(
    ("route", "target"),
    [
        (EXACT, "Alice"),  # an exact upstream acts on another account
        (EXACT, "alice\u200b"),
        (EXACT, "\uff41lice"),
        (FOLDING, "alicia"),
        (FOLDING, "bob"),
    ],
)
def test_attack_principal_the_task_does_not_name(route: Route, target: str) -> None:
    with pytest.raises(Denied) as info:
        check_binding(task("alice"), Operation(route, target))
    assert info.value.reason is Reason.PRINCIPAL_NOT_IN_SCOPE
    assert info.value.message == "task t-7 does not name the principal this request touches"


def test_an_operation_the_task_does_not_name_is_out_of_scope() -> None:
    with pytest.raises(Denied) as info:
        check_binding(task("alice", actions=("user.password.reset",)), Operation(EXACT, "alice"))
    assert (info.value.reason, info.value.message) == (
        Reason.OPERATION_NOT_IN_SCOPE,
        "task t-7 does not allow user.read",
    )


def test_the_principal_is_checked_before_the_operation() -> None:
    with pytest.raises(Denied) as info:
        check_binding(task("alice", actions=()), Operation(EXACT, "bob"))
    assert info.value.reason is Reason.PRINCIPAL_NOT_IN_SCOPE


# -- a request of several actions (a SCIM PATCH, a bulk request): each one is bound --------------------
EDIT = Route("PATCH", "/Users/{id}", "user.update", "write", "id", None, True)


def several(*actions: tuple[str, str]) -> Operation:
    return Operation(EDIT, actions[0][1], derived=tuple(Action(n, "write", t) for n, t in actions))


def test_attack_a_second_action_on_a_principal_the_task_does_not_name() -> None:
    operation = several(("user.update", "alice"), ("user.update", "bob"))
    with pytest.raises(Denied) as info:
        check_binding(task("alice", actions=("user.update",)), operation)
    assert info.value.reason is Reason.PRINCIPAL_NOT_IN_SCOPE
    check_binding(task("alice", "bob", actions=("user.update",)), operation)


def test_attack_a_second_action_the_task_does_not_allow() -> None:
    operation = several(("user.update", "alice"), ("user.disable", "alice"))
    with pytest.raises(Denied) as info:
        check_binding(task("alice", actions=("user.update",)), operation)
    assert info.value.reason is Reason.OPERATION_NOT_IN_SCOPE
    check_binding(task("alice", actions=("user.update", "user.disable")), operation)
