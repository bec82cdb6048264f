"""What the API did, in the audit: Envoy's gRPC access log reaches agent-authz, which appends an
``outcome`` record to the same hash chain, linked to its decision by decision id and carrying
Envoy's ``x-request-id`` — the id the API saw and the decision record holds too."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import E2E

from authz.audit import verify
from authz.demo.sample_api import FAIL_HEADER

pytestmark = pytest.mark.e2e


def test_an_allowed_read_and_what_the_api_answered(e2e: E2E) -> None:
    resp = e2e.agent().request("GET", "/v1/users/alice")
    assert resp.status == 200
    seen = e2e.reached_once(resp)
    decision_id, request_id = seen["headers"]["x-authz-decision-id"], seen["headers"]["x-request-id"]
    outcome = e2e.outcome(decision_id)
    assert (outcome["status"], outcome["upstream"], outcome["upstream_failure"]) == (200, True, None)
    assert (outcome["method"], outcome["path"]) == ("GET", "/v1/users/alice")
    assert outcome["request_id"] == request_id
    assert outcome["duration_ms"] >= 0 and outcome["response_bytes"] > 0
    assert e2e.audited(decision_id)["request_id"] == request_id  # the API's id, not Envoy's stream id


def test_an_allowed_request_the_api_failed(e2e: E2E) -> None:
    resp = e2e.agent().request("GET", "/v1/users/alice", headers={FAIL_HEADER: "500"})
    assert resp.status == 500
    decision_id = e2e.reached_once(resp)["headers"]["x-authz-decision-id"]
    assert e2e.audited(decision_id)["decision"] == "allow"
    outcome = e2e.outcome(decision_id)
    assert (outcome["status"], outcome["upstream"]) == (500, True)


def test_a_denied_request_never_reached_the_api(e2e: E2E) -> None:
    resp = e2e.agent().request("GET", "/v1/users/alice", token=None)
    assert (resp.status, resp.reason) == (401, "task_token_missing")
    decision_id = resp.json()["decision_id"]
    outcome = e2e.outcome(decision_id)
    assert (outcome["status"], outcome["upstream"], outcome["details"]) == (401, False, "ext_authz_denied")


def test_audit_show_prints_the_decision_with_its_outcome_and_the_chain_holds(e2e: E2E) -> None:
    resp = e2e.agent().request("GET", "/v1/users/bob")
    decision_id = e2e.reached_once(resp)["headers"]["x-authz-decision-id"]
    e2e.outcome(decision_id)
    argv = [sys.executable, "-m", "authz", "audit", "show", decision_id, "--log", str(e2e.stack.audit_path)]
    shown = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.index('"decision": "allow"') < shown.stdout.index('"record": "outcome"')
    assert verify(e2e.stack.audit_path).ok  # decisions and outcomes in one unbroken chain
