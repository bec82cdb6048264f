"""Human approvals through real Envoy over mTLS: what the agent is told, what the API sees."""

from __future__ import annotations

import json

import pytest
from conftest import E2E, Agent

pytestmark = pytest.mark.e2e

RESET = "/v1/users/alice/password/reset"
BODY = json.dumps({"user": "alice"}).encode()


def reset_task(agent: Agent, **kwargs: object) -> str:
    return agent.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("alice",), **kwargs
    )


def approve(e2e: E2E, approver: str, task: str, path: str = RESET, body: bytes = BODY) -> str:
    return e2e.stack.approval(
        approver,
        task,
        "POST",
        path,
        body,
        agent="helpdesk-bot",
        operation="user.password.reset",
        principal="alice",
    )


def test_the_deny_tells_the_agent_what_to_get_approved(e2e: E2E) -> None:
    agent = e2e.agent()
    task = reset_task(agent)
    resp = agent.request("POST", RESET, BODY, token=task, intent="credential_recovery")
    assert (resp.status, resp.reason) == (403, "approval_required")
    approval = resp.json()["approval"]
    assert (approval["operation"], approval["principal"], approval["approvers_required"]) == (
        "user.password.reset",
        "alice",
        1,
    )
    assert len(approval["req"]) == 43 and approval["task"]


def test_an_approved_reset_reaches_the_api_once_without_the_approval(e2e: E2E) -> None:
    agent = e2e.agent()
    task = reset_task(agent)
    token = approve(e2e, "dana", task)
    headers = {"x-approval-token": token}
    resp = agent.request("POST", RESET, BODY, headers, token=task, intent="credential_recovery")
    assert resp.status == 200 and not resp.reason
    seen = e2e.last_upstream()
    assert (seen["method"], seen["path"], seen["headers"]["x-approved-by"]) == ("POST", RESET, "dana")
    assert "x-approval-token" not in seen["headers"] and token not in json.dumps(seen)
    again = agent.request("POST", RESET, BODY, headers, token=task, intent="credential_recovery")
    assert (again.status, again.reason) == (403, "approval_replayed")


def test_attack_approval_for_a_path_with_a_trailing_slash(e2e: E2E) -> None:
    agent = e2e.agent()
    task = reset_task(agent)
    token = approve(e2e, "dana", task, path=RESET + "/")
    resp = agent.request(
        "POST", RESET, BODY, {"x-approval-token": token}, token=task, intent="credential_recovery"
    )
    assert (resp.status, resp.reason) == (403, "approval_not_bound")
