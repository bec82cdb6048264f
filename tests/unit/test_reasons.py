"""Reason codes (``authz/reasons.py``): one stage per deny reason, one HTTP status per reason, and
``Denied`` carrying a stage's refusal with what it needs."""

from __future__ import annotations

import pytest

from authz.effects import Revoke
from authz.errors import AuthzError
from authz.reasons import NOT_DENIES, STAGE_OF, STAGES, Denied, Reason, http_status


def test_the_answers_that_are_not_refusals() -> None:
    assert NOT_DENIES == {Reason.ALLOWED, Reason.TASK_COMPLETED, Reason.READY}


def test_every_deny_reason_belongs_to_exactly_one_stage() -> None:
    assert set(STAGE_OF) == set(Reason) - NOT_DENIES
    assert set(STAGE_OF.values()) == set(range(1, len(STAGES) + 1)) and len(STAGES) == 10


@pytest.mark.parametrize(
    ("reason", "stage", "name"),
    [
        (Reason.AGENT_SUSPENDED, 1, "identity"),
        (Reason.MALFORMED_REQUEST, 2, "operation"),
        (Reason.TASK_REVOKED, 3, "task"),
        (Reason.OPERATION_NOT_IN_SCOPE, 4, "binding"),
        (Reason.INTENT_MISMATCH, 5, "intent"),
        (Reason.APPROVAL_REPLAYED, 6, "approval"),
        (Reason.TARGET_AMBIGUOUS, 7, "context"),
        (Reason.POLICY_DENIED, 8, "policy"),
        (Reason.BUDGET_EXHAUSTED, 9, "budget"),
        (Reason.STORE_UNAVAILABLE, 10, "record"),
    ],
)
def test_the_stage_of_a_reason(reason: Reason, stage: int, name: str) -> None:
    assert (STAGE_OF[reason], STAGES[stage - 1]) == (stage, name)


def test_codes_are_stable_snake_case_strings() -> None:
    assert all(reason.value == reason.name.lower() and str(reason) == reason.value for reason in Reason)


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        (Reason.ALLOWED, 200),
        (Reason.TASK_COMPLETED, 200),
        (Reason.READY, 200),
        (Reason.MISSING_CLIENT_IDENTITY, 401),
        (Reason.INVALID_CLIENT_CERTIFICATE, 401),
        (Reason.TASK_TOKEN_MISSING, 401),
        (Reason.TASK_TOKEN_EXPIRED, 401),
        (Reason.TOKEN_BINDING_MISMATCH, 401),
        (Reason.UNKNOWN_AGENT, 403),
        (Reason.TASK_REVOKED, 403),
        (Reason.APPROVAL_REQUIRED, 403),
        (Reason.CONTEXT_UNAVAILABLE, 403),
        (Reason.APPROVAL_REQUEST_UNKNOWN, 404),
        (Reason.AUDIT_UNAVAILABLE, 503),
        (Reason.STORE_UNAVAILABLE, 503),
        (Reason.INTERNAL_ERROR, 503),
    ],
)
def test_http_status(reason: Reason, status: int) -> None:
    assert http_status(reason) == status


def test_a_deny_belongs_to_its_reasons_stage_unless_told() -> None:
    denied = Denied(Reason.TARGET_UNKNOWN, "who?")
    assert (denied.stage, denied.extra, denied.liftable, denied.revoke) == (7, {}, False, None)
    by_policy = Denied(Reason.APPROVALS_INSUFFICIENT, "two", {"hint": 2}, 8, liftable=True)
    assert (by_policy.stage, by_policy.extra, by_policy.liftable) == (8, {"hint": 2}, True)
    assert Denied(Reason.ALLOWED, "not a deny").stage == len(STAGES)


def test_a_deny_says_its_reason_and_message_and_may_end_a_task() -> None:
    revoke = Revoke("t-1", reason="intent_mismatch", by="spiffe://a/agent/b")
    denied = Denied(Reason.INTENT_MISMATCH, "the task's intent is another", revoke=revoke)
    assert str(denied) == "intent_mismatch: the task's intent is another"
    assert (denied.reason, denied.message, denied.revoke) == (Reason.INTENT_MISMATCH, denied.message, revoke)
    assert isinstance(denied, AuthzError)
