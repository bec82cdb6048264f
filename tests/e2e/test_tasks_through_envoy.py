"""Task tokens, principal binding, intent, budget and the kill switch, through real Envoy over mTLS."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import E2E

from authz.wellknown import COMPLETE_TASK_PATH

pytestmark = pytest.mark.e2e


def cli(e2e: E2E, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "authz", *args, "--config", str(e2e.stack.config_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_upstream_learns_the_task_and_on_behalf_of_never_the_token(e2e: E2E) -> None:
    agent = e2e.agent()
    token = agent.token(on_behalf_of="alice@example.org")
    resp = agent.request("GET", "/v1/users/alice", token=token)
    assert resp.status == 200
    headers = e2e.reached_once(resp)["headers"]
    assert headers["x-on-behalf-of"] == "alice@example.org"
    assert len(headers["x-agent-task"]) == 32
    assert "x-agent-task-token" not in headers and token not in str(headers)


def test_attack_two_intent_headers_joined_by_envoy(e2e: E2E) -> None:
    agent = e2e.agent()
    token = agent.token()
    twice = [("x-agent-intent", "account_support"), ("x-agent-intent", "account_support")]
    resp = agent.request("GET", "/v1/users/alice", token=token, intent=None, repeated=twice)
    assert (resp.status, resp.reason) == (403, "intent_mismatch")
    assert agent.request("GET", "/v1/users/alice", token=token).reason == "task_revoked"


def test_attack_token_presented_with_another_agents_svid(e2e: E2E) -> None:
    stolen = e2e.agent("helpdesk-bot").token()
    resp = e2e.agent("audit-bot").request("GET", "/v1/users/alice", token=stolen)
    assert (resp.status, resp.reason) == (401, "token_binding_mismatch")


def test_expired_token(e2e: E2E) -> None:
    agent = e2e.agent()
    expired = agent.token(ttl=60, now=int(time.time()) - 600)
    assert agent.request("GET", "/v1/users/alice", token=expired).reason == "task_token_expired"


def test_budget(e2e: E2E) -> None:
    agent = e2e.agent()
    token = agent.token(max_calls=3)
    statuses = [agent.request("GET", "/v1/users/alice", token=token).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert agent.request("GET", "/v1/users/alice", token=token).reason == "budget_exhausted"


def test_operator_revocation_takes_effect_on_the_next_request(e2e: E2E) -> None:
    agent = e2e.agent()
    token = agent.token()
    resp = agent.request("GET", "/v1/users/alice", token=token)
    assert resp.status == 200
    task_id = e2e.reached_once(resp)["headers"]["x-agent-task"]
    cli(e2e, "task", "revoke", task_id)
    assert agent.request("GET", "/v1/users/alice", token=token).reason == "task_revoked"


def test_kill_switch_mid_task(e2e: E2E) -> None:
    agent = e2e.agent("audit-bot")
    token = agent.token()
    assert agent.request("GET", "/v1/users/alice", token=token).status == 200
    spiffe_id = e2e.stack.pki.spiffe_id("audit-bot")
    cli(e2e, "agent", "suspend", spiffe_id)
    try:
        assert agent.request("GET", "/v1/users/alice", token=token).reason == "agent_suspended"
    finally:
        cli(e2e, "agent", "resume", spiffe_id)
    assert agent.request("GET", "/v1/users/alice", token=token).status == 200


def test_agent_completes_its_task_through_the_proxy(e2e: E2E) -> None:
    agent = e2e.agent()
    token = agent.token()
    done = agent.request("POST", COMPLETE_TASK_PATH, token=token, intent=None)
    assert (done.status, done.reason) == (200, "task_completed")
    assert done.json()["task"]
    assert agent.request("GET", "/v1/users/alice", token=token).reason == "task_revoked"
