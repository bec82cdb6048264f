"""Human approvals through real Envoy over mTLS: what the agent is told, what the API sees."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import E2E, Agent

from authz.demo.client import Response

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
    seen = e2e.reached_once(resp, approved_by="dana")
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", RESET, BODY.decode())
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


def approvals_cli(e2e: E2E, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "authz", "approvals", args[0], "--config", str(e2e.stack.config_path)]
    return subprocess.run([*argv, *args[1:]], capture_output=True, text=True, timeout=60)


def poll(agent: Agent, where: str) -> Response:
    """As an agent polls: its SVID, no task token, no intent."""
    return agent.request("GET", where, token=None, intent=None)


def test_agent_polls_then_retries_with_the_approval(e2e: E2E) -> None:
    agent = e2e.agent()
    task = reset_task(agent)
    denied = agent.request("POST", RESET, BODY, token=task, intent="credential_recovery").json()["approval"]
    pending = poll(agent, denied["poll"])
    assert pending.status == 200
    assert pending.json()["expires"] == denied["expires"] and isinstance(denied["expires"], int)  # one type
    assert pending.json() == {**pending.json(), "status": "PENDING", "interval": 5, "approval_header": ""}
    key = str(e2e.stack.workdir / "keys" / "approver-dana.key")
    assert approvals_cli(e2e, "approve", "--key", key, denied["request_id"]).returncode == 0
    approved = poll(agent, denied["poll"]).json()
    assert (approved["status"], approved["approved_by"]) == ("APPROVED", ["dana"])
    headers = {"x-approval-token": approved["approval_header"]}
    resp = agent.request("POST", RESET, BODY, headers, token=task, intent="credential_recovery")
    assert resp.status == 200
    e2e.reached_once(resp, approved_by="dana")


def test_a_denied_request_tells_the_agent_why(e2e: E2E) -> None:
    agent = e2e.agent()
    task = reset_task(agent)
    denied = agent.request("POST", RESET, BODY, token=task, intent="credential_recovery").json()["approval"]
    assert approvals_cli(e2e, "deny", "--reason", "not on the ticket", denied["request_id"]).returncode == 0
    answer = poll(agent, denied["poll"]).json()
    assert (answer["status"], answer["reason"]) == ("DENIED", "not on the ticket")


def test_attack_agent_polls_another_agents_request(e2e: E2E) -> None:
    owner = e2e.agent()
    denied = owner.request("POST", RESET, BODY, token=reset_task(owner), intent="credential_recovery").json()[
        "approval"
    ]
    resp = poll(e2e.agent("audit-bot"), denied["poll"])
    assert (resp.status, resp.reason) == (404, "approval_request_unknown")
    assert "approval_header" not in resp.body.decode() and "code" not in resp.json()  # a deny, not gRPC's
    nothing = poll(e2e.agent("audit-bot"), "/.well-known/agent-authz/approvals/apr-0000000000000000")
    assert (nothing.status, nothing.json()["message"]) == (
        404,
        "no approval request apr-0000000000000000 of yours",
    )


def test_attack_unregistered_agent_polls(e2e: E2E) -> None:
    resp = poll(e2e.agent("rogue-bot"), "/.well-known/agent-authz/approvals/apr-0000000000000000")
    assert (resp.status, resp.reason) == (403, "unknown_agent")


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        ("POST", "/agent_authz.approvals.v1.AgentApprovals/GetApprovalRequest", "unknown_route"),
        ("GET", "/.well-known/agent-authz/approvals/../../v1/users/alice", "unknown_route"),  # normalised
        ("GET", "/.well-known/agent-authz/approvals/apr-1;x", "malformed_request"),
    ],
)
def test_attack_the_approval_api_outside_its_one_call(e2e: E2E, method: str, path: str, reason: str) -> None:
    resp = e2e.agent().request(method, path, b"{}" if method == "POST" else None, token=None, intent=None)
    assert (resp.status, resp.reason) == (403, reason)
