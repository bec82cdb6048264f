"""The demo's scripted scenarios: what an agent tries through Envoy, and what must happen."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from authz.audit import verify
from authz.demo.stack import Response, Stack
from authz.pipeline import COMPLETE_TASK_PATH

MARKER = "x-demo-request"
BOT, AUDITOR = "helpdesk-bot", "audit-bot"


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


class Demo:
    """Sends the calls; remembers every request agent-authz did not let through to the API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.kept_from_upstream: list[str] = []

    def call(
        self,
        agent: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        intent: str | None = "account_support",
        body: dict[str, Any] | None = None,
    ) -> Response:
        headers = {MARKER: uuid.uuid4().hex}
        if token:
            headers["x-agent-task-token"] = token
        if intent:
            headers["x-agent-intent"] = intent
        resp = self.stack.client(agent).request(method, path, body, headers)
        if resp.status != 200 or resp.reason:  # answered by Envoy or agent-authz, not the API
            self.kept_from_upstream.append(headers[MARKER])
        return resp

    def token(self, agent: str = BOT, **kwargs: Any) -> str:
        return self.stack.task_token(agent, **kwargs)

    def expect(self, scenario: str, status: int, reason: str, resp: Response) -> Outcome:
        return Outcome(scenario, status, resp.status, reason, resp.reason)


def identity_and_routes(d: Demo) -> Iterator[Outcome]:
    task = d.token()
    yield d.expect(
        "registered agent reads a user (with a task)",
        200,
        "",
        d.call(BOT, "GET", "/v1/users/alice", token=task),
    )
    yield d.expect(
        "unregistered agent with a valid SVID",
        403,
        "unknown_agent",
        d.call("rogue-bot", "GET", "/v1/users/alice", token=task),
    )
    yield d.expect(
        "suspended agent",
        403,
        "agent_suspended",
        d.call("suspended-bot", "GET", "/v1/users/alice", token=task),
    )
    yield d.expect("unknown route", 403, "unknown_route", d.call(BOT, "GET", "/v1/admin/export", token=task))
    reset = d.token(intent="credential_recovery", actions=("user.password.reset",))
    yield d.expect(
        "password reset without approval",
        403,
        "approval_required",
        d.call(
            BOT,
            "POST",
            "/v1/users/alice/password/reset",
            token=reset,
            intent="credential_recovery",
            body={"user": "alice"},
        ),
    )
    yield d.expect(
        "body principal disagrees with the path",
        403,
        "malformed_request",
        d.call(
            BOT,
            "POST",
            "/v1/users/alice/password/reset",
            token=reset,
            intent="credential_recovery",
            body={"user": "bob"},
        ),
    )


def task_tokens(d: Demo) -> Iterator[Outcome]:
    task = d.token()
    yield d.expect(
        "same task, other target",
        403,
        "principal_not_in_scope",
        d.call(BOT, "GET", "/v1/users/bob", token=task),
    )
    yield d.expect(
        "operation outside the task",
        403,
        "operation_not_in_scope",
        d.call(BOT, "POST", "/v1/users/alice/mfa/reset", token=task),
    )
    yield d.expect("no task token", 401, "task_token_missing", d.call(BOT, "GET", "/v1/users/alice"))
    drifting = d.token()
    yield d.expect(
        "changed intent",
        403,
        "intent_mismatch",
        d.call(BOT, "GET", "/v1/users/alice", token=drifting, intent="credential_recovery"),
    )
    yield d.expect(
        "then the original intent: the task is revoked",
        403,
        "task_revoked",
        d.call(BOT, "GET", "/v1/users/alice", token=drifting),
    )
    yield d.expect(
        "token presented with another agent's SVID",
        401,
        "token_binding_mismatch",
        d.call(AUDITOR, "GET", "/v1/users/alice", token=task),
    )
    expired = d.token(ttl=60, now=int(time.time()) - 600)
    yield d.expect(
        "expired token", 401, "task_token_expired", d.call(BOT, "GET", "/v1/users/alice", token=expired)
    )
    budget = d.token(max_calls=2)
    for _ in range(2):
        d.call(BOT, "GET", "/v1/users/alice", token=budget)
    yield d.expect(
        "budget of 2 calls, third call",
        403,
        "budget_exhausted",
        d.call(BOT, "GET", "/v1/users/alice", token=budget),
    )


def kill_switch_and_completion(d: Demo) -> Iterator[Outcome]:
    auditor_task = d.token(AUDITOR)
    yield d.expect(
        "audit-bot reads with its task",
        200,
        "",
        d.call(AUDITOR, "GET", "/v1/users/alice", token=auditor_task),
    )
    _agent_switch(d.stack, "suspend", AUDITOR)
    yield d.expect(
        "agent suspended mid-task (agent-authz agent suspend)",
        403,
        "agent_suspended",
        d.call(AUDITOR, "GET", "/v1/users/alice", token=auditor_task),
    )
    _agent_switch(d.stack, "resume", AUDITOR)
    task = d.token()
    yield d.expect(
        "agent completes its task",
        200,
        "task_completed",
        d.call(BOT, "POST", COMPLETE_TASK_PATH, token=task, intent=None),
    )
    yield d.expect("its next call", 403, "task_revoked", d.call(BOT, "GET", "/v1/users/alice", token=task))


def _agent_switch(stack: Stack, action: str, agent: str) -> None:
    """The kill switch as an operator uses it: the CLI, another process sharing the store."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "authz",
            "agent",
            action,
            "--config",
            str(stack.config_path),
            stack.pki.spiffe_id(agent),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def authorizer_stopped(d: Demo) -> Iterator[Outcome]:
    """Fail closed: with agent-authz gone, Envoy answers 503 itself and nothing passes."""
    d.stack.stop_process("authz")
    resp = d.call(BOT, "GET", "/v1/users/alice", token=d.token())
    yield d.expect("authorizer stopped: Envoy denies (fail closed)", 503, "", resp)


def audit_checks(d: Demo) -> Iterator[Outcome]:
    intact = verify(d.stack.audit_path)
    tampered = d.stack.workdir / "audit-tampered.jsonl"
    lines = d.stack.audit_path.read_text().splitlines(keepends=True)
    allow, deny = '"decision":"allow"', '"decision":"deny"'
    lines[0] = lines[0].replace(allow, deny) if allow in lines[0] else lines[0].replace(deny, allow)
    tampered.write_text("".join(lines))
    broken = verify(tampered)
    yield Outcome("audit verify on the log", "intact", "intact" if intact.ok else intact.problem, "", "")
    yield Outcome(
        "audit verify after editing one record (in a copy)",
        "broken at record 1",
        "intact" if broken.ok else f"broken at record {broken.line}",
        "",
        "",
    )


def denied_never_reached_upstream(d: Demo) -> Iterator[Outcome]:
    seen = {r["headers"].get(MARKER) for r in d.stack.upstream_record()}
    leaked = [m for m in d.kept_from_upstream if m in seen]
    yield Outcome(
        f"denied requests absent from the API's record ({len(d.kept_from_upstream)} checked)",
        0,
        len(leaked),
        "",
        "",
    )


SCRIPT: tuple[Callable[[Demo], Iterator[Outcome]], ...] = (
    identity_and_routes,
    task_tokens,
    kill_switch_and_completion,
    authorizer_stopped,
    audit_checks,
    denied_never_reached_upstream,
)


def run_all(stack: Stack, progress: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    demo, outcomes = Demo(stack), []
    for part in SCRIPT:
        for outcome in part(demo):
            outcomes.append(outcome)
            progress(outcome)
    return outcomes


def write_json(path: Path, outcomes: list[Outcome]) -> None:
    path.write_text(json.dumps([o.as_dict() for o in outcomes], indent=2) + "\n")
