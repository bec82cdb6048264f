"""The record check itself: it fails when it should, and no e2e test sends around it.

No Envoy here: a fake API stands in for the stack, so each way the check can be fooled is shown
to fail, not just the happy path the other e2e tests take.
"""

from __future__ import annotations

import ast
import json
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from conftest import E2E, MARKER, Agent, Ledger, read_record

from authz.demo import sample_api
from authz.demo.client import Response
from authz.demo.processes import StackError
from authz.demo.stack import Stack

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent


class FakeApi:
    """Envoy and the API in one: ``/deny…`` is denied (and recorded all the same if ``leak``)."""

    def __init__(self, record: Path, leak: bool = False) -> None:
        self.record, self.leak = record, leak
        record.touch()

    def request(
        self, method: str, path: str, body: Any = None, headers: Any = None, repeated: Any = ()
    ) -> Response:
        if path == "/handshake-fails":
            raise ssl.SSLError("certificate required")
        denied = path.startswith("/deny")
        if not denied or self.leak:
            entry = {
                "method": method,
                "path": path,
                "status": 200,
                "headers": dict(headers or {}),
                "body": "",
            }
            with self.record.open("a") as f:
                f.write(json.dumps(entry) + "\n")
        if denied:
            return Response(403, {"x-authz-reason": "unknown_route"}, b"")
        return Response(200, {}, b"{}")


def fake_e2e(record: Path) -> E2E:
    return E2E(cast(Stack, SimpleNamespace(record_path=record)))


def test_a_clean_record_passes(tmp_path: Path) -> None:
    record, ledger = tmp_path / "record.jsonl", Ledger()
    api = FakeApi(record)
    ledger.send(api, "bot", "GET", "/v1/users/alice")
    ledger.send(api, "bot", "GET", "/deny")
    with pytest.raises(ssl.SSLError):
        ledger.send(api, "bot", "GET", "/handshake-fails")
    assert len(ledger.kept) == 2 and len(ledger.reached) == 1
    ledger.check(read_record(record))


def test_a_denied_request_in_the_record_fails(tmp_path: Path) -> None:
    record, ledger = tmp_path / "record.jsonl", Ledger()
    ledger.send(FakeApi(record, leak=True), "bot", "POST", "/deny/reset")
    with pytest.raises(
        AssertionError, match=r"1 request\(s\) not answered by the API reached it.*POST /deny"
    ):
        ledger.check(read_record(record))


def test_a_missing_record_fails(tmp_path: Path) -> None:
    env = fake_e2e(tmp_path / "never-written.jsonl")
    with pytest.raises(AssertionError, match="is missing"):
        env.assert_denied_never_reached_upstream()


def test_an_allowed_request_missing_from_the_record_fails(tmp_path: Path) -> None:
    record, ledger = tmp_path / "record.jsonl", Ledger()
    ledger.send(FakeApi(record), "bot", "GET", "/v1/users/alice")
    record.write_text("")  # as if the API had not executed it
    with pytest.raises(AssertionError, match="not recorded exactly once"):
        ledger.check(read_record(record))


def test_an_allowed_request_recorded_twice_fails(tmp_path: Path) -> None:
    record, ledger = tmp_path / "record.jsonl", Ledger()
    ledger.send(FakeApi(record), "bot", "POST", "/v1/users/alice/password/reset")
    record.write_text(record.read_text() * 2)  # a retry, a replay
    with pytest.raises(AssertionError, match="not recorded exactly once"):
        ledger.check(read_record(record))


def test_a_request_sent_around_the_ledger_fails(tmp_path: Path) -> None:
    record, ledger = tmp_path / "record.jsonl", Ledger()
    FakeApi(record).request("GET", "/v1/users/bob", headers={})
    with pytest.raises(AssertionError, match="no test sent through the ledger.*GET /v1/users/bob"):
        ledger.check(read_record(record))


def test_a_change_without_approvers_fails(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    env = fake_e2e(record)
    env.ledger.send(FakeApi(record), "bot", "POST", "/v1/users/alice/password/reset")
    with pytest.raises(AssertionError, match="changes executed without approval"):
        env.assert_denied_never_reached_upstream()


def test_the_marker_cannot_be_overridden(tmp_path: Path) -> None:
    api, ledger = FakeApi(tmp_path / "record.jsonl"), Ledger()
    with pytest.raises(AssertionError, match="the marker is the ledger's"):
        ledger.send(api, "bot", "GET", "/v1/users/alice", headers={MARKER.upper(): "someone-else's"})
    with pytest.raises(AssertionError, match="the marker is the ledger's"):
        ledger.send(api, "bot", "GET", "/v1/users/alice", repeated=[(MARKER, "a second one")])
    agent = Agent(ledger, cast(Stack, None), "bot", api)
    with pytest.raises(AssertionError, match="as token= or intent="):
        agent.request("GET", "/v1/users/alice", headers={"X-Agent-Task-Token": "t"})


def test_the_sample_api_creates_its_record_at_start(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    server = sample_api.start("127.0.0.1", 0, record)
    try:
        assert record.is_file() and record.read_text() == ""
    finally:
        server.shutdown()
        server.server_close()


def test_the_stack_refuses_a_missing_record(tmp_path: Path) -> None:
    stack = Stack(tmp_path, cast(Any, None), tmp_path / "agent-authz.toml", {})
    with pytest.raises(StackError, match="is missing"):
        stack.upstream_record()


# -- no e2e test sends through Envoy around Agent.request ----------------------------------------
#: What sends or connects on its own: a client, a connection, a TLS context, an agent's insides.
RAW = {"AgentClient", "HTTPSConnection", "HTTPConnection", "create_default_context", "SSLContext",
       "load_cert_chain", "client", "_client", "_ledger"}  # fmt: skip
#: (module, function) -> why it may: each still has to register what it sends, or has no API.
ALLOWED = {
    ("test_demo.py", "test_demo_hold_serves_until_interrupted"):
        "the demo's own stack, not an E2E one: sent with Ledger.send, checked against its record",
    ("test_certificate_rotation.py", "served_serial"):
        "a TLS handshake only, to read the certificate Envoy serves: no request is sent",
    ("test_envoy_health.py", "test_not_serving_endpoint_gets_no_checks"):
        "an Envoy with a direct response and no API behind it: the authorizer's call count is checked",
}  # fmt: skip


def raw_sends(path: Path) -> set[tuple[str, str, int, str]]:
    found = set()
    for top in ast.parse(path.read_text()).body:
        scope = getattr(top, "name", "<module>")
        for node in ast.walk(top):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if name in RAW:
                found.add((path.name, scope, node.lineno, str(name)))
    return found


def test_every_request_through_envoy_goes_through_the_ledger() -> None:
    modules = sorted(p for p in HERE.glob("test_*.py") if p.name != Path(__file__).name)
    found = set().union(*(raw_sends(p) for p in modules))
    offences = sorted(
        f"{m}:{line} {scope}: {name}" for m, scope, line, name in found if (m, scope) not in ALLOWED
    )
    assert not offences, "send with E2E.agent(...).request (or register in Ledger): " + "; ".join(offences)
    stale = set(ALLOWED) - {(m, scope) for m, scope, _, _ in found}
    assert not stale, f"allowed, but no longer needed: {stale}"
