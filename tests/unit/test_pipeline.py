"""The pipeline as a whole: order of stages, fail-closed behaviour, what gets recorded and spent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import BOT, ROGUE, Decider, deciding, make_world

from authz.audit import verify
from authz.model import RequestContext
from authz.pipeline import DecisionIds
from authz.reasons import Reason
from authz.store import StoreUnavailable
from authz.wellknown import COMPLETE_TASK_PATH

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Setup(Decider):
    def check(self, ctx: RequestContext) -> Reason:
        return self.authz.check(ctx).reason

    def token(self, **kwargs: object) -> str:
        return self.world.token(self.world.bot, **kwargs)  # type: ignore[arg-type]


def setup_for(tmp_path: Path, audit_path: Path | None = None) -> Iterator[Setup]:
    yield from deciding(make_world(tmp_path), Setup, audit_path=audit_path)


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    yield from setup_for(tmp_path)


def req(
    s: Setup,
    method: str = "GET",
    path: str = "/v1/users/alice",
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: object,
) -> RequestContext:
    return s.world.request(
        method,
        path,
        svid=s.world.bot,
        task=token or s.token(),
        headers=headers,
        **kwargs,
    )  # type: ignore[arg-type]


def test_read_within_the_task_is_allowed_and_recorded(s: Setup) -> None:
    token = s.token(on_behalf_of="ticket-owner@example.org")
    decision = s.authz.check(
        req(s, token=token, headers={"traceparent": TRACE, "x-agent-justification": "T-1"})
    )
    assert decision.allowed
    task_id = decision.task.task_id  # type: ignore[union-attr]
    assert decision.upstream_headers == {
        "x-authz-decision-id": decision.decision_id,
        "x-agent-id": BOT,
        "x-agent-owner": "it-helpdesk@example.org",
        "x-agent-task": task_id,
        "x-on-behalf-of": "ticket-owner@example.org",
    }
    [record] = s.records()
    assert (record["decision"], record["operation"], record["target"], record["task"]) == (
        "allow",
        "user.read",
        "alice",
        task_id,
    )
    assert record["sub"] == "ticket-owner@example.org" and record["act"] == [BOT]
    assert record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and record["justification"] == "T-1"
    assert record["intent"] == "account_support" and record["request_id"] == "req-1"
    assert verify(s.audit.path).ok


def test_identity_is_checked_before_the_route(s: Setup) -> None:
    assert s.check(s.world.request(path="/v1/secrets", svid=s.world.svid(ROGUE))) is Reason.UNKNOWN_AGENT


def test_route_is_checked_before_the_task(s: Setup) -> None:
    assert s.check(s.world.request(path="/v1/secrets", svid=s.world.bot)) is Reason.UNKNOWN_ROUTE


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/v1/users/bob", Reason.PRINCIPAL_NOT_IN_SCOPE),
        ("/v1/users/Alice", Reason.PRINCIPAL_NOT_IN_SCOPE),
        ("/v1/users/alice%E2%80%8B", Reason.PRINCIPAL_NOT_IN_SCOPE),
        ("/v1/users/ALICE", Reason.PRINCIPAL_NOT_IN_SCOPE),
    ],
    ids=["other", "case-variant", "zero-width-variant", "upper"],
)
def test_attack_principal_variants_are_other_principals(s: Setup, path: str, reason: Reason) -> None:
    assert s.check(req(s, path=path)) is reason


def test_attack_token_naming_two_principals_used_on_a_third(s: Setup) -> None:
    token = s.token(principals=("alice", "bob"))
    assert s.check(req(s, path="/v1/users/alice", token=token)) is Reason.ALLOWED
    assert s.check(req(s, path="/v1/users/bob", token=token)) is Reason.ALLOWED
    assert s.check(req(s, path="/v1/users/carol", token=token)) is Reason.PRINCIPAL_NOT_IN_SCOPE


def test_operation_outside_the_task(s: Setup) -> None:
    assert s.check(req(s, "POST", "/v1/users/alice/mfa/reset")) is Reason.OPERATION_NOT_IN_SCOPE


def test_missing_intent(s: Setup) -> None:
    ctx = req(s, headers={"x-agent-intent": ""})
    assert s.check(ctx) is Reason.INTENT_MISSING


def test_changed_intent_revokes_the_task(s: Setup) -> None:
    token = s.token()
    assert (
        s.check(req(s, token=token, headers={"x-agent-intent": "credential_recovery"}))
        is Reason.INTENT_MISMATCH
    )
    assert s.check(req(s, token=token)) is Reason.TASK_REVOKED
    assert s.metrics.revocations._value.get() == 1


def test_attack_two_intent_headers_joined_by_envoy(s: Setup) -> None:
    token = s.token()
    ctx = req(s, token=token, headers={"x-agent-intent": "account_support,account_support"})
    assert s.check(ctx) is Reason.INTENT_MISMATCH
    assert s.check(req(s, token=token)) is Reason.TASK_REVOKED


def test_budget_is_charged_only_by_allowed_calls(s: Setup) -> None:
    token = s.token(principals=("alice", "bob"), max_calls=2)
    assert s.check(req(s, token=token)) is Reason.ALLOWED
    assert (
        s.check(req(s, path="/v1/users/carol", token=token)) is Reason.PRINCIPAL_NOT_IN_SCOPE
    )  # not charged
    assert s.check(req(s, path="/v1/users/bob", token=token)) is Reason.ALLOWED
    assert s.check(req(s, token=token)) is Reason.BUDGET_EXHAUSTED


def test_revocation_racing_the_decision_wins_at_commit(s: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    token = s.token()
    real = s.store.task_calls

    def revoke_meanwhile(task_id: str) -> int:
        s.store.revoke_task(task_id, reason="operator", by="security")
        return real(task_id)

    monkeypatch.setattr(s.store, "task_calls", revoke_meanwhile)
    assert s.check(req(s, token=s.token(max_calls=5))) is Reason.TASK_REVOKED
    assert s.check(req(s, token=token)) is Reason.ALLOWED  # other tasks unaffected


def test_agent_completes_its_task(s: Setup) -> None:
    token = s.token()
    done = s.authz.check(req(s, "POST", COMPLETE_TASK_PATH, token=token))
    assert done.reason is Reason.TASK_COMPLETED and done.status == 200
    assert done.body_extra == {"task": done.task.task_id}  # type: ignore[union-attr]
    assert s.check(req(s, token=token)) is Reason.TASK_REVOKED


def test_completing_needs_a_valid_task_token(s: Setup) -> None:
    ctx = s.world.request("POST", COMPLETE_TASK_PATH, svid=s.world.bot)
    assert s.check(ctx) is Reason.TASK_TOKEN_MISSING


def test_store_failure_denies(s: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> bool:
        raise StoreUnavailable("disk gone")

    monkeypatch.setattr(s.store, "task_revoked", broken)
    decision = s.authz.check(req(s))
    assert decision.reason is Reason.STORE_UNAVAILABLE and decision.status == 503
    assert s.metrics.store_errors._value.get() == 1


def test_state_changing_operations_are_refused_until_approvals_land(s: Setup) -> None:
    token = s.token(intent="credential_recovery", actions=("user.password.reset",))
    ctx = req(
        s,
        "POST",
        "/v1/users/alice/password/reset",
        token=token,
        headers={"x-agent-intent": "credential_recovery"},
    )
    decision = s.authz.check(ctx)
    assert decision.reason is Reason.APPROVAL_REQUIRED and decision.upstream_headers == {}


def test_denies_are_audited_without_secrets(s: Setup) -> None:
    token = s.token()
    s.authz.check(req(s, "GET", "/v1/users/alice?token=abc", token=token))
    text = "".join(json.dumps(r) for r in s.records())
    assert token not in text and "token=abc" not in text
    assert s.records()[0]["reason"] == "malformed_request"


def test_unexpected_exception_is_an_internal_error_deny(s: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(s.authz._operation, "resolve", explode)
    decision = s.authz.check(req(s))
    assert decision.reason is Reason.INTERNAL_ERROR and decision.status == 503
    assert s.records()[0]["reason"] == "internal_error"
    assert s.metrics.decisions.labels("deny", "internal_error", "unknown")._value.get() == 1


def test_unwritable_audit_log_denies_an_allowable_request(tmp_path: Path) -> None:
    for s in setup_for(tmp_path, Path("/dev/full")):
        decision = s.authz.check(req(s))
        assert decision.reason is Reason.AUDIT_UNAVAILABLE and decision.status == 503
        assert decision.upstream_headers == {}
        assert not s.audit.healthy
        assert s.metrics.audit_failures._value.get() == 1


def test_metrics_count_each_decision(s: Setup) -> None:
    token = s.token()
    s.check(req(s, token=token))
    s.check(req(s, token=token))
    s.check(req(s, path="/v1/secrets", token=token))
    assert s.metrics.decisions.labels("allow", "allowed", "read")._value.get() == 2
    assert s.metrics.decisions.labels("deny", "unknown_route", "unknown")._value.get() == 1


def test_decision_ids_are_unique_and_32_hex_digits() -> None:
    first, second = DecisionIds(), DecisionIds()
    ids = [first.next() for _ in range(1000)] + [second.next() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
