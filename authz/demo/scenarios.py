"""The demo's scripted scenarios: what an agent tries through Envoy, and what must happen."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from authz.audit import verify
from authz.demo.client import Response
from authz.demo.stack import Stack
from authz.wellknown import COMPLETE_TASK_PATH

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


@dataclass(frozen=True)
class Change:
    """A state-changing request, exactly as sent: what an approval is bound to."""

    method: str
    path: str
    body: bytes
    operation: str
    principal: str
    intent: str


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


RESET_ALICE = Change(
    "POST",
    "/v1/users/alice/password/reset",
    _json({"user": "alice"}),
    "user.password.reset",
    "alice",
    "credential_recovery",
)
RESET_BOB = Change(
    "POST",
    "/v1/users/bob/password/reset",
    _json({"user": "bob"}),
    "user.password.reset",
    "bob",
    "credential_recovery",
)
RESET_SVC = Change(
    "POST",
    "/v1/users/svc-backup/password/reset",
    _json({"user": "svc-backup"}),
    "user.password.reset",
    "svc-backup",
    "credential_recovery",
)
MFA_SVC = Change(
    "POST",
    "/v1/users/svc-backup/mfa/reset",
    _json({"user": "svc-backup"}),
    "user.mfa.reset",
    "svc-backup",
    "credential_recovery",
)
RESET_CAROL = Change(
    "POST",
    "/v1/users/carol/password/reset",
    _json({"user": "carol"}),
    "user.password.reset",
    "carol",
    "credential_recovery",
)
GRANT_VIEWER = Change(
    "POST",
    "/v1/groups/staff/members",
    _json({"user": "bob", "role": "viewer"}),
    "group.member.add",
    "bob",
    "access_change",
)
GRANT_ADMIN = Change(
    "POST",
    "/v1/groups/it-admins/members",
    _json({"user": "bob"}),
    "group.member.add",
    "bob",
    "emergency_access",
)


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
        body: bytes | dict[str, Any] | None = None,
        approvals: Sequence[str] = (),
        extra: dict[str, str] | None = None,
    ) -> Response:
        headers = {MARKER: uuid.uuid4().hex, **(extra or {})}
        if token:
            headers["x-agent-task-token"] = token
        if approvals:
            headers["x-approval-token"] = ",".join(approvals)
        if intent:
            headers["x-agent-intent"] = intent
        resp = self.stack.client(agent).request(method, path, body, headers)
        if resp.status != 200 or resp.reason:  # answered by Envoy or agent-authz, not the API
            self.kept_from_upstream.append(headers[MARKER])
        return resp

    def token(self, agent: str = BOT, **kwargs: Any) -> str:
        return self.stack.task_token(agent, **kwargs)

    def approve(self, approver: str, task: str, request: Change, **kwargs: Any) -> str:
        return self.stack.approval(
            approver,
            task,
            request.method,
            request.path,
            request.body,
            agent=BOT,
            operation=request.operation,
            principal=request.principal,
            **kwargs,
        )

    def change(
        self, task: str, request: Change, approvals: Sequence[str] = (), body: bytes = b""
    ) -> Response:
        return self.call(
            BOT,
            request.method,
            request.path,
            token=task,
            intent=request.intent,
            body=body or request.body,
            approvals=approvals,
        )

    def poll(self, where: str) -> Response:
        """The agent-facing approval API; the outcome's reason is the request's status."""
        resp = self.stack.client(BOT).request("GET", where, None, {})
        if resp.status == 200:
            resp.headers["x-authz-reason"] = str(resp.json()["status"])
        return resp

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


def approvals(d: Demo) -> Iterator[Outcome]:
    reset = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("alice", "bob")
    )
    asked = d.change(reset, RESET_ALICE).json()["approval"]  # denied: approval_required, and filed
    yield d.expect("the agent polls its approval request", 200, "PENDING", d.poll(asked["poll"]))
    dana = str(d.stack.workdir / "keys" / "approver-dana.key")
    _approvals_cli(d.stack, "approve", "--key", dana, asked["request_id"])
    polled = d.poll(asked["poll"])
    yield d.expect("dana approves it (approvals approve); the agent polls", 200, "APPROVED", polled)
    approval = polled.json()["approval_header"]
    yield d.expect(
        "the agent retries with the approval: the API executes it",
        200,
        "",
        d.change(reset, RESET_ALICE, [approval]),
    )
    yield d.expect(
        "the same approval again", 403, "approval_replayed", d.change(reset, RESET_ALICE, [approval])
    )
    for_alice = d.approve("dana", reset, RESET_ALICE)
    yield d.expect(
        "an approval for alice used on bob",
        403,
        "approval_not_bound",
        d.change(reset, RESET_BOB, [for_alice]),
    )
    grant = d.token(intent="access_change", actions=("group.member.add",), principals=("bob",))
    viewer = d.approve("dana", grant, GRANT_VIEWER)
    admin_body = _json({"user": "bob", "role": "admin"})
    yield d.expect(
        "same path, body changed to role admin",
        403,
        "approval_not_bound",
        d.change(grant, GRANT_VIEWER, [viewer], body=admin_body),
    )
    for_bob = d.token(
        intent="credential_recovery",
        actions=("user.password.reset",),
        principals=("alice",),
        on_behalf_of="bob",
    )
    yield d.expect(
        "approved by the on-behalf-of user",
        403,
        "approver_not_allowed",
        d.change(for_bob, RESET_ALICE, [d.approve("bob", for_bob, RESET_ALICE)]),
    )
    glass = d.token(intent="emergency_access", actions=("group.member.add",), principals=("bob",))
    yield d.expect(
        "break-glass grant with one approval",
        403,
        "approvals_insufficient",
        d.change(glass, GRANT_ADMIN, [d.approve("dana", glass, GRANT_ADMIN)]),
    )
    twice = [d.approve("dana", glass, GRANT_ADMIN) for _ in range(2)]
    yield d.expect(
        "break-glass, one approver twice", 403, "approvals_insufficient", d.change(glass, GRANT_ADMIN, twice)
    )
    two = [d.approve(a, glass, GRANT_ADMIN) for a in ("dana", "erik")]
    yield d.expect("break-glass, two distinct approvers", 200, "", d.change(glass, GRANT_ADMIN, two))
    stale = d.approve("dana", reset, RESET_BOB, now=int(time.time()) - 1000)
    yield d.expect("an expired approval", 403, "approval_invalid", d.change(reset, RESET_BOB, [stale]))


def one_reading(d: Demo) -> Iterator[Outcome]:
    """Requests an upstream could read differently from agent-authz, and names it could fold."""
    grant = d.token(intent="access_change", actions=("group.member.add",), principals=("alice",))
    yield d.expect(
        'body key "User" where the route reads "user"', 403, "malformed_request",
        d.call(BOT, "POST", "/v1/groups/staff/members", token=grant, intent="access_change",
               body={"user": "alice", "User": "bob"}),
    )  # fmt: skip
    yield d.expect(
        "a read with X-HTTP-Method-Override: DELETE", 403, "malformed_request",
        d.call(BOT, "GET", "/v1/users/alice", token=d.token(), extra={"x-http-method-override": "DELETE"}),
    )  # fmt: skip
    shouting = d.token(intent="credential_recovery", actions=("user.password.reset",), principals=("CAROL",))
    upper = Change("POST", "/v1/users/CAROL/password/reset", b"", "user.password.reset", "CAROL",
                   "credential_recovery")  # fmt: skip
    yield d.expect(
        "a task naming CAROL: folds onto privileged carol", 403, "target_ambiguous",
        d.change(shouting, upper, [d.approve("dana", shouting, upper)]),
    )  # fmt: skip
    for_bob = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("alice",),
        on_behalf_of="bob@example.org",
    )  # fmt: skip
    yield d.expect(
        "bob approves a task on behalf of bob@example.org", 403, "approver_not_allowed",
        d.change(for_bob, RESET_ALICE, [d.approve("bob", for_bob, RESET_ALICE)]),
    )  # fmt: skip


def policies(d: Demo) -> Iterator[Outcome]:
    """Stage 8: Cedar policies over the live attributes of the target."""
    machine = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("svc-backup",)
    )
    approved = d.approve("dana", machine, RESET_SVC)
    resp = d.change(machine, RESET_SVC, [approved])
    yield Outcome(
        "password reset of a service account, even approved",
        403,
        resp.status,
        "policy_denied: machine_identity_recovery",
        f"{resp.reason}: {resp.json().get('policy', {}).get('reason')}" if resp.reason else "",
    )
    privileged = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("carol",)
    )
    resp = d.change(privileged, RESET_CAROL, [])
    needed = resp.json().get("approval", {}).get("approvers_needed") if resp.reason else None
    yield Outcome(
        "privileged user's reset, no approval: policy asks for two",
        403,
        resp.status,
        "approval_required: 2 approvers",
        f"{resp.reason}: {needed} approvers",
    )
    one = [d.approve("dana", privileged, RESET_CAROL)]
    yield d.expect(
        "privileged user's reset with one approval", 403, "approvals_insufficient",
        d.change(privileged, RESET_CAROL, one),
    )  # fmt: skip
    two = [d.approve(a, privileged, RESET_CAROL) for a in ("dana", "erik")]
    yield d.expect(
        "privileged user's reset with two approvals", 200, "", d.change(privileged, RESET_CAROL, two)
    )
    shadowed = d.token(intent="credential_recovery", actions=("user.mfa.reset",), principals=("svc-backup",))
    resp = d.change(shadowed, MFA_SVC, [d.approve("dana", shadowed, MFA_SVC)])
    records = [json.loads(line) for line in d.stack.audit_path.read_text().splitlines()]
    audited: dict[str, Any] = next((r for r in reversed(records) if r.get("path") == MFA_SVC.path), {})
    shadow = audited.get("shadow") or {}
    yield Outcome(
        "shadow-mode route: a would-be deny passes; the audit has it",
        200,
        resp.status,
        "audited: deny machine_identity_recovery",
        f"audited: {shadow.get('decision')} {shadow.get('reason')}" if shadow else "not audited",
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


def _approvals_cli(stack: Stack, action: str, *args: str) -> None:
    """An approver at the queue: the CLI, another process sharing the store."""
    argv = [sys.executable, "-m", "authz", "approvals", action, "--config", str(stack.config_path), *args]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


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
    approvals,
    one_reading,
    policies,
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
