"""What every scenario group shares: the ``Outcome`` of a scenario, the ``Demo`` that sends the
calls (and remembers which ones agent-authz kept from the API), and the gated ``Change`` requests
exactly as sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from authz.demo.client import Response
from authz.demo.stack import Stack

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


def as_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


RESET_ALICE = Change(
    "POST",
    "/v1/users/alice/password/reset",
    as_json({"user": "alice"}),
    "user.password.reset",
    "alice",
    "credential_recovery",
)
RESET_BOB = Change(
    "POST",
    "/v1/users/bob/password/reset",
    as_json({"user": "bob"}),
    "user.password.reset",
    "bob",
    "credential_recovery",
)
RESET_SVC = Change(
    "POST",
    "/v1/users/svc-backup/password/reset",
    as_json({"user": "svc-backup"}),
    "user.password.reset",
    "svc-backup",
    "credential_recovery",
)
MFA_SVC = Change(
    "POST",
    "/v1/users/svc-backup/mfa/reset",
    as_json({"user": "svc-backup"}),
    "user.mfa.reset",
    "svc-backup",
    "credential_recovery",
)
RESET_CAROL = Change(
    "POST",
    "/v1/users/carol/password/reset",
    as_json({"user": "carol"}),
    "user.password.reset",
    "carol",
    "credential_recovery",
)
GRANT_VIEWER = Change(
    "POST",
    "/v1/groups/staff/members",
    as_json({"user": "bob", "role": "viewer"}),
    "group.member.add",
    "bob",
    "access_change",
)
GRANT_ADMIN = Change(
    "POST",
    "/v1/groups/it-admins/members",
    as_json({"user": "bob"}),
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
