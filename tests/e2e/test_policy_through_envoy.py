"""Live context and Cedar policy through real Envoy over mTLS."""

from __future__ import annotations

import json

import pytest
from conftest import E2E

from authz.audit import is_decision

pytestmark = pytest.mark.e2e


def test_the_directory_answers_live_attributes(e2e: E2E) -> None:
    agent = e2e.agent()
    resp = agent.request("GET", "/v1/users/carol")
    assert resp.status == 200
    e2e.reached_once(resp)
    records = [json.loads(line) for line in e2e.stack.audit_path.read_text().splitlines()]
    carol = next(r for r in reversed(records) if r["path"] == "/v1/users/carol" and is_decision(r))
    assert carol["target_attributes"]["privileged"] is True  # from the sample API's directory
    assert carol["policies"] == ["reads-within-the-task"]


def test_a_machine_identity_password_reset_is_refused_by_policy(e2e: E2E) -> None:
    agent = e2e.agent()
    path, body = "/v1/users/svc-backup/password/reset", json.dumps({"user": "svc-backup"}).encode()
    task = agent.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("svc-backup",)
    )
    approval = e2e.stack.approval(
        "dana", task, "POST", path, body,
        agent="helpdesk-bot", operation="user.password.reset", principal="svc-backup",
    )  # fmt: skip
    resp = agent.request(
        "POST", path, body, {"x-approval-token": approval}, token=task, intent="credential_recovery"
    )
    assert (resp.status, resp.reason) == (403, "policy_denied")
    assert resp.json()["policy"] == {
        "reason": "machine_identity_recovery",
        "policies": ["no-password-or-mfa-reset-for-machine-identities"],
    }


def test_directory_down_denies_reads_by_the_degraded_rule(fresh_stack: E2E) -> None:
    agent = fresh_stack.agent()
    first = agent.request("GET", "/v1/users/bob")
    assert first.status == 200
    fresh_stack.reached_once(first)
    fresh_stack.stack.stop_process("upstream")  # the sample API is also the directory
    resp = agent.request("GET", "/v1/users/alice")  # not cached yet
    assert (resp.status, resp.reason) == (403, "context_unavailable")
