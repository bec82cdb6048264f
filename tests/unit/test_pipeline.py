"""The pipeline as a whole: order of stages, fail-closed behaviour, what gets recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import BOT, ROGUE, World, make_world

from authz.audit import AuditLog, verify
from authz.metrics import Metrics
from authz.pipeline import Authorizer
from authz.reasons import Reason


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def authorizer(world: World, audit_path: Path | None = None) -> tuple[Authorizer, AuditLog, Metrics]:
    config = world.config()
    audit = AuditLog(audit_path or config.audit.path)
    metrics = Metrics()
    return Authorizer(config, audit, metrics), audit, metrics


def audit_records(world: World) -> list[dict[str, object]]:
    return [json.loads(line) for line in (world.root / "audit.jsonl").read_text().splitlines()]


def test_read_with_identity_is_allowed_and_recorded(world: World) -> None:
    authz, audit, _ = authorizer(world)
    decision = authz.check(
        world.request(
            headers={
                "x-agent-intent": "lookup",
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            }
        )
    )
    assert decision.allowed
    assert decision.upstream_headers == {
        "x-authz-decision-id": decision.decision_id,
        "x-agent-id": BOT,
        "x-agent-owner": "it-helpdesk@example.org",
    }
    audit.close()
    [record] = audit_records(world)
    assert (
        record["decision"] == "allow" and record["operation"] == "user.read" and record["target"] == "alice"
    )
    assert record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert record["intent"] == "lookup" and record["request_id"] == "req-1"
    assert verify(world.root / "audit.jsonl").ok


def test_identity_is_checked_before_the_route(world: World) -> None:
    authz, _, _ = authorizer(world)
    decision = authz.check(world.request(path="/v1/secrets", svid=world.svid(ROGUE)))
    assert decision.reason is Reason.UNKNOWN_AGENT


def test_state_changing_operations_are_refused_until_governed(world: World) -> None:
    authz, _, _ = authorizer(world)
    reset = authz.check(world.request("POST", "/v1/users/alice/password/reset"))
    assert reset.reason is Reason.APPROVAL_REQUIRED
    assert reset.upstream_headers == {}


def test_denies_are_audited_without_secrets(world: World) -> None:
    authz, audit, _ = authorizer(world)
    secret = "eyJhbGciOiJFZERTQSJ9.secret.sig"
    authz.check(world.request("GET", "/v1/users/alice?token=abc", headers={"x-agent-task-token": secret}))
    audit.close()
    text = (world.root / "audit.jsonl").read_text()
    assert secret not in text and "token=abc" not in text
    assert audit_records(world)[0]["reason"] == "malformed_request"


def test_unexpected_exception_is_an_internal_error_deny(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    authz, audit, metrics = authorizer(world)

    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(authz._operation, "resolve", explode)
    decision = authz.check(world.request())
    assert decision.reason is Reason.INTERNAL_ERROR and decision.status == 503
    audit.close()
    assert audit_records(world)[0]["reason"] == "internal_error"
    assert metrics.decisions.labels("deny", "internal_error", "unknown")._value.get() == 1


def test_unwritable_audit_log_denies_an_allowable_request(world: World) -> None:
    authz, audit, metrics = authorizer(world, Path("/dev/full"))
    decision = authz.check(world.request())
    assert decision.reason is Reason.AUDIT_UNAVAILABLE and decision.status == 503
    assert decision.upstream_headers == {}
    assert not audit.healthy
    assert metrics.audit_failures._value.get() == 1


def test_metrics_count_each_decision(world: World) -> None:
    authz, _, metrics = authorizer(world)
    authz.check(world.request())
    authz.check(world.request())
    authz.check(world.request(path="/v1/secrets"))
    assert metrics.decisions.labels("allow", "allowed", "read")._value.get() == 2
    assert metrics.decisions.labels("deny", "unknown_route", "unknown")._value.get() == 1
