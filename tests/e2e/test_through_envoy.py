"""Every scenario and attack of the identity and operation stages, through a real Envoy over mTLS."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from conftest import E2E, running_stack

from authz.audit import is_decision, verify
from authz.demo.processes import wait_until
from authz.demo.stack import Stack
from authz.devkit.pki import SERVER_AUTH, Issued, make_ca, make_svid
from authz.model import CREDENTIAL_HEADERS, INJECTED_HEADERS
from authz.wellknown import READY_PATH

pytestmark = pytest.mark.e2e


def test_registered_agent_reads_a_user(e2e: E2E) -> None:
    resp = e2e.agent().request("GET", "/v1/users/alice")
    assert resp.status == 200
    assert resp.json()["user"] == "alice"
    seen = e2e.reached_once(resp)
    assert seen["path"] == "/v1/users/alice"
    assert seen["headers"]["x-agent-id"] == e2e.stack.pki.spiffe_id("helpdesk-bot")
    assert seen["headers"]["x-agent-owner"] == "it-helpdesk@example.org"


@pytest.mark.parametrize(
    ("agent", "path", "status", "reason"),
    [
        ("rogue-bot", "/v1/users/alice", 403, "unknown_agent"),
        ("suspended-bot", "/v1/users/alice", 403, "agent_suspended"),
        ("helpdesk-bot", "/v1/admin/export", 403, "unknown_route"),
    ],
)
def test_identity_and_route_denials(e2e: E2E, agent: str, path: str, status: int, reason: str) -> None:
    resp = e2e.agent(agent).request("GET", path)
    assert (resp.status, resp.reason) == (status, reason)
    assert resp.json()["error"] == reason
    assert resp.json()["decision_id"] == resp.headers["x-authz-decision-id"]


@pytest.mark.parametrize(
    ("intent", "action", "path", "body"),
    [
        ("credential_recovery", "user.password.reset", "/v1/users/alice/password/reset", {"user": "alice"}),
        ("credential_recovery", "user.mfa.reset", "/v1/users/alice/mfa/reset", None),
        ("key_rotation", "user.api_key.rotate", "/v1/users/alice/api-keys/rotate", None),
        ("access_change", "group.member.add", "/v1/groups/it-admins/members", {"user": "alice"}),
    ],
)
def test_credential_and_privilege_changes_need_approval(
    e2e: E2E, intent: str, action: str, path: str, body: dict[str, str] | None
) -> None:
    agent = e2e.agent()
    token = agent.token(intent=intent, actions=(action,))
    resp = agent.request("POST", path, body, token=token, intent=intent)
    assert (resp.status, resp.reason) == (403, "approval_required")


def test_attack_client_supplies_the_injected_headers(e2e: E2E) -> None:
    forged = {h: "forged" for h in INJECTED_HEADERS}
    resp = e2e.agent().request("GET", "/v1/users/alice", headers=forged)
    assert resp.status == 200
    headers = e2e.reached_once(resp)["headers"]
    assert headers["x-agent-id"] == e2e.stack.pki.spiffe_id("helpdesk-bot")
    assert headers["x-agent-owner"] == "it-helpdesk@example.org"
    assert headers["x-authz-decision-id"] not in ("forged", "forged,forged")
    assert len(headers["x-authz-decision-id"]) == 32
    assert headers["x-agent-task"] not in ("forged", "forged,forged")
    for name in ("x-on-behalf-of", "x-approved-by"):  # not set for this request: client copies removed
        assert name not in headers


def test_credentials_never_reach_the_upstream(e2e: E2E) -> None:
    agent = e2e.agent()
    token = agent.token(principals=("bob",))
    resp = agent.request("GET", "/v1/users/bob", token=token, headers={"x-approval-token": "secret-approval"})
    assert resp.status == 200
    headers = e2e.reached_once(resp)["headers"]
    assert not set(CREDENTIAL_HEADERS) & set(headers)
    assert "secret-approval" not in str(headers)


def write(tmp_path: Path, name: str, issued: Issued) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    issued.write(cert, key)
    return cert, key


def test_attack_two_uri_sans(e2e: E2E, tmp_path: Path) -> None:
    # Envoy's SPIFFE validator accepts this certificate; agent-authz does not.
    pki = e2e.stack.pki
    svid = make_svid(pki.load_ca(), [pki.spiffe_id("helpdesk-bot"), pki.spiffe_id("admin-bot")])
    cert, key = write(tmp_path, "two-sans", svid)
    resp = e2e.agent(cert=cert, key=key).request("GET", "/v1/users/alice")
    assert (resp.status, resp.reason) == (401, "invalid_client_certificate")


def test_attack_server_auth_only_svid(e2e: E2E, tmp_path: Path) -> None:
    pki = e2e.stack.pki
    cert, key = write(
        tmp_path,
        "server-auth",
        make_svid(pki.load_ca(), pki.spiffe_id("helpdesk-bot"), usages=(SERVER_AUTH,)),
    )
    resp = e2e.agent(cert=cert, key=key).request("GET", "/v1/users/alice")
    assert (resp.status, resp.reason) == (401, "invalid_client_certificate")


@pytest.mark.parametrize("kind", ["expired", "foreign-ca", "ca-as-client"])
def test_attack_rejected_in_the_tls_handshake(e2e: E2E, tmp_path: Path, kind: str) -> None:
    import datetime as dt

    pki = e2e.stack.pki
    now = dt.datetime.now(dt.UTC)
    issued = {
        "expired": lambda: make_svid(
            pki.load_ca(),
            pki.spiffe_id("helpdesk-bot"),
            not_before=now - dt.timedelta(days=2),
            not_after=now - dt.timedelta(days=1),
        ),
        "foreign-ca": lambda: make_svid(make_ca(pki.trust_domain), pki.spiffe_id("helpdesk-bot")),
        "ca-as-client": pki.load_ca,
    }[kind]()
    cert, key = write(tmp_path, kind, issued)
    before = len(e2e.stack.upstream_record())
    with pytest.raises((ssl.SSLError, ConnectionError)):
        e2e.agent(cert=cert, key=key).request("GET", "/v1/users/alice")
    assert len(e2e.stack.upstream_record()) == before


def test_no_client_certificate_is_refused(e2e: E2E) -> None:
    before = len(e2e.stack.upstream_record())
    with pytest.raises((ssl.SSLError, ConnectionError)):
        e2e.agent_without_client_certificate().request("GET", "/v1/users/alice", token=None, intent=None)
    assert len(e2e.stack.upstream_record()) == before


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("POST", "/v1/users/alice%2F..%2Fbob/password/reset", 400, ""),  # Envoy: escaped slash
        ("GET", "/v1/users/alice;x", 403, "malformed_request"),
        ("POST", "/v1/users/alice;x/password/reset", 403, "malformed_request"),
        ("GET", "/v1/users/alice?/v1/users/bob", 403, "malformed_request"),
        ("GET", "/v1/users/alice?user=bob", 403, "malformed_request"),
        ("get", "/v1/users/alice", 400, ""),  # Envoy refuses a lower-case method
        ("FOO", "/v1/users/alice", 400, ""),
    ],
)
def test_attack_paths_and_methods(e2e: E2E, method: str, path: str, status: int, reason: str) -> None:
    resp = e2e.agent().request(method, path)
    assert (resp.status, resp.reason) == (status, reason)


@pytest.mark.parametrize("path", ["//v1/users/alice", "/v1/users/bob/../alice", "/v1/users/./alice"])
def test_attack_paths_envoy_normalises_reach_only_the_decided_target(e2e: E2E, path: str) -> None:
    # Envoy normalises before ext_authz, so what agent-authz decides on is what the API gets.
    resp = e2e.agent().request("GET", path)
    assert resp.status == 200
    assert e2e.reached_once(resp)["path"] == "/v1/users/alice"
    assert resp.json()["user"] == "alice"


@pytest.mark.parametrize(
    ("body", "status"),
    [({"user": "bob"}, 403), (b'{"user": "alice"', 403), (b'{"user":"alice","user":"bob"}', 403)],
    ids=["body-principal-disagrees", "malformed-json", "duplicate-key"],
)
def test_attack_bodies(e2e: E2E, body: bytes | dict[str, str], status: int) -> None:
    resp = e2e.agent().request("POST", "/v1/users/alice/password/reset", body)
    assert (resp.status, resp.reason) == (status, "malformed_request")


def test_oversized_body_is_refused_by_envoy(e2e: E2E) -> None:
    resp = e2e.agent().request("POST", "/v1/groups/staff/members", {"user": "bob", "pad": "x" * 70000})
    assert resp.status == 413


def test_audit_log_of_the_session_verifies(e2e: E2E) -> None:
    resp = e2e.agent().request("GET", "/v1/users/carol")
    assert resp.status == 200
    e2e.reached_once(resp)
    result = verify(e2e.stack.audit_path)
    assert result.ok, result.problem
    assert result.records >= 1


def test_the_stacks_readiness_probe_is_audited_as_ready_not_as_an_unknown_route(fresh_stack: E2E) -> None:
    records = [json.loads(line) for line in fresh_stack.stack.audit_path.read_text().splitlines()]
    probes = [r for r in records if r["path"] == READY_PATH and is_decision(r)]
    assert probes and {(r["decision"], r["reason"]) for r in probes} == {("deny", "ready")}
    assert not [r for r in records if r["reason"] == "unknown_route"]


def test_authorizer_stopped_envoy_fails_closed(fresh_stack: E2E) -> None:
    agent = fresh_stack.agent()
    assert agent.request("GET", "/v1/users/alice").status == 200
    fresh_stack.stack.stop_process("authz")
    resp = agent.request("GET", "/v1/users/alice")
    assert resp.status == 503
    assert "x-authz-reason" not in resp.headers  # Envoy's own deny: the authorizer never answered
    fresh_stack.stack.start_authz()
    wait_until(fresh_stack.stack.authz_healthy_in_envoy, "agent-authz back in Envoy")
    wait_until(fresh_stack.stack.authz_answers_through_envoy, "agent-authz answering again")
    again = agent.request("GET", "/v1/users/alice")
    assert again.status == 200
    fresh_stack.reached_once(again)


def audit_to_dev_full(stack: Stack) -> None:
    text = stack.config_path.read_text()
    assert 'path = "audit.jsonl"' in text
    stack.config_path.write_text(text.replace('path = "audit.jsonl"', 'path = "/dev/full"'))


def test_attack_unwritable_audit_log_through_envoy(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack", prepare=audit_to_dev_full) as env:
        agent = env.agent()
        first = agent.request("GET", "/v1/users/alice")
        assert (first.status, first.reason) == (503, "audit_unavailable")
        wait_until(lambda: not env.stack.authz_healthy_in_envoy(), "Envoy to see agent-authz NOT_SERVING")
        later = agent.request("GET", "/v1/users/alice")
        assert later.status == 503
        assert env.stack.upstream_record() == []
