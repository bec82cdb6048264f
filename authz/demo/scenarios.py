"""The demo's scripted scenarios: what an agent tries through Envoy, and what must happen."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from authz.audit import verify
from authz.demo.stack import Stack

MARKER = "x-demo-request"


@dataclass
class Outcome:
    scenario: str
    expected_status: int | str
    status: int | str
    expected_reason: str
    reason: str

    @property
    def ok(self) -> bool:
        return self.status == self.expected_status and self.reason == self.expected_reason

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class Call:
    scenario: str
    agent: str
    method: str
    path: str
    expected_status: int
    expected_reason: str
    body: dict[str, Any] | None = None


CALLS = (
    Call("registered agent reads a user", "helpdesk-bot", "GET", "/v1/users/alice", 200, ""),
    Call("unregistered agent with a valid SVID", "rogue-bot", "GET", "/v1/users/alice", 403, "unknown_agent"),
    Call("suspended agent", "suspended-bot", "GET", "/v1/users/alice", 403, "agent_suspended"),
    Call("unknown route", "helpdesk-bot", "GET", "/v1/admin/export", 403, "unknown_route"),
    Call(
        "password reset without approval",
        "helpdesk-bot",
        "POST",
        "/v1/users/alice/password/reset",
        403,
        "approval_required",
        {"user": "alice"},
    ),
    Call(
        "body principal disagrees with the path",
        "helpdesk-bot",
        "POST",
        "/v1/users/alice/password/reset",
        403,
        "malformed_request",
        {"user": "bob"},
    ),
)


def run_call(stack: Stack, call: Call, denied_markers: list[str]) -> Outcome:
    marker = uuid.uuid4().hex
    resp = stack.client(call.agent).request(call.method, call.path, call.body, {MARKER: marker})
    if resp.status != 200:
        denied_markers.append(marker)
    return Outcome(call.scenario, call.expected_status, resp.status, call.expected_reason, resp.reason)


def authorizer_stopped(stack: Stack, denied_markers: list[str]) -> Outcome:
    """Fail closed: with agent-authz gone, Envoy answers 503 itself and nothing passes."""
    stack.stop_process("authz")
    marker = uuid.uuid4().hex
    resp = stack.client("helpdesk-bot").request("GET", "/v1/users/alice", headers={MARKER: marker})
    denied_markers.append(marker)
    return Outcome("authorizer stopped: Envoy denies (fail closed)", 503, resp.status, "", resp.reason)


def audit_checks(stack: Stack) -> list[Outcome]:
    intact = verify(stack.audit_path)
    tampered = stack.workdir / "audit-tampered.jsonl"
    lines = stack.audit_path.read_text().splitlines(keepends=True)
    allow, deny = '"decision":"allow"', '"decision":"deny"'
    lines[0] = lines[0].replace(allow, deny) if allow in lines[0] else lines[0].replace(deny, allow)
    tampered.write_text("".join(lines))
    broken = verify(tampered)
    return [
        Outcome("audit verify on the log", "intact", "intact" if intact.ok else intact.problem, "", ""),
        Outcome(
            "audit verify after editing one record (in a copy)",
            "broken at record 1",
            "intact" if broken.ok else f"broken at record {broken.line}",
            "",
            "",
        ),
    ]


def denied_never_reached_upstream(stack: Stack, denied_markers: list[str]) -> Outcome:
    seen = {r["headers"].get(MARKER) for r in stack.upstream_record()}
    leaked = [m for m in denied_markers if m in seen]
    return Outcome(
        f"denied requests absent from the API's record ({len(denied_markers)} checked)",
        0,
        len(leaked),
        "",
        "",
    )


def run_all(stack: Stack, progress: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    outcomes: list[Outcome] = []
    denied: list[str] = []

    def add(outcome: Outcome) -> None:
        outcomes.append(outcome)
        progress(outcome)

    for call in CALLS:
        add(run_call(stack, call, denied))
    add(authorizer_stopped(stack, denied))
    for outcome in audit_checks(stack):
        add(outcome)
    add(denied_never_reached_upstream(stack, denied))
    return outcomes


def write_json(path: Path, outcomes: list[Outcome]) -> None:
    import json

    path.write_text(json.dumps([o.as_dict() for o in outcomes], indent=2) + "\n")
