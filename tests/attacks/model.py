"""The attack corpus's rows, and the recipes their requests are built from.

A ``Case`` says what is sent — method, path, headers, body, which certificate, which task token
and approvals — and what must come of it: an HTTP status and ``x-authz-reason``, a refusal in
the TLS handshake, or (for the route table) a refusal by ``agent-authz config check``. Recipes
are data; the few attacks that need a hand-built token carry a named ``Forgery``.
``forge.Forge`` turns a case into a request against a running stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .forge import Forge

JWT, SVID, PATH, HEADER, BODY = "task token", "SVID", "path", "header", "body"
NAMES, APPROVAL, REPLAY, ROUTES = "names", "approval", "replay and budget", "route table"
CATEGORIES = (JWT, SVID, PATH, HEADER, BODY, NAMES, APPROVAL, REPLAY, ROUTES)
TASK_INTENT = "<the task's intent>"  # Case.intent: send the intent the task names


@dataclass(frozen=True)
class Expect:
    status: int  # the HTTP status; 0 when there is no HTTP answer
    reason: str = ""  # x-authz-reason: "" for an allow, or for Envoy's own refusal
    kind: str = "http"  # http | handshake | config
    policy: str = ""  # for policy_denied: the deciding policy's @reason (the deny body's policy.reason)

    @property
    def allowed(self) -> bool:
        return self.kind == "http" and self.status == 200 and not self.reason

    def __str__(self) -> str:
        if self.kind == "handshake":
            return "refused at the TLS handshake"
        if self.kind == "config":
            return "refused by `agent-authz config check`" if self.status else "accepted by `config check`"
        if self.allowed:
            return "200, allowed"
        if not self.reason:
            return f"{self.status} (Envoy)"
        return f"{self.status} `{self.reason}`" + (f" (`{self.policy}`)" if self.policy else "")


ALLOWED = Expect(200)
HANDSHAKE = Expect(0, kind="handshake")
CONFIG_REFUSED = Expect(2, kind="config")
CONFIG_ACCEPTED = Expect(0, kind="config")


def forbidden(reason: str) -> Expect:
    return Expect(403, reason)


def unauthorized(reason: str) -> Expect:
    return Expect(401, reason)


def policy_denied(reason: str) -> Expect:
    return Expect(403, "policy_denied", policy=reason)


def by_envoy(status: int) -> Expect:
    return Expect(status)


MALFORMED = forbidden("malformed_request")
TOKEN_INVALID = unauthorized("task_token_invalid")

#: Turns the genuine header and claims of a task token into the token sent.
Forgery = Callable[["Forge", dict[str, Any], dict[str, Any]], str]


@dataclass(frozen=True)
class Task:
    """A task token, signed with the stack's issuer key (the catalogue's rules are the issuer's,
    not checked here), bound to the certificate the request presents unless ``bound_to``."""

    intent: str = "account_support"
    actions: tuple[str, ...] = ("user.read",)
    principals: tuple[str, ...] = ("alice", "bob", "carol")
    on_behalf_of: str | None = None
    max_calls: int | None = None
    bound_to: str | None = None  # a stack agent: its certificate and SPIFFE ID, not the sender's
    forge: Forgery | None = None


@dataclass(frozen=True)
class Approve:
    """An approval token of the request as sent, by ``approver`` with their own key, unless an
    attribute says otherwise."""

    approver: str = "dana"
    operation: str | None = None  # None: the case's operation
    principal: str | None = None  # None: the case's target
    covers: tuple[str, str, bytes] | None = None  # (method, path, body) of `req`; None: as sent
    other_task: bool = False  # for another task of the same agent
    agent: str | None = None  # for this stack agent instead of the sender
    ttl: int = 300
    age: int = 0  # issued this many seconds ago
    impostor: bool = False  # signed by a key that is not the approver's
    again: bool = False  # the previous approval token once more (the same jti)


@dataclass(frozen=True)
class Svid:
    """A certificate made for the case: an X.509-SVID naming ``agent`` from ``issuer``."""

    agent: str = "helpdesk-bot"
    issuer: str = "stack"  # stack | rogue-ca (same trust domain) | other-domain | the-ca | none
    extra_ids: tuple[str, ...] = ()  # more URI SANs
    options: tuple[tuple[str, Any], ...] = ()  # authz.devkit.pki.make_svid keyword arguments
    valid_days: tuple[int, int] | None = None  # not before / not after, in days from now


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    attack: str  # one line, for the README table
    expect: Expect
    method: str = "GET"
    path: str = "/v1/users/alice"
    body: bytes = b""
    headers: tuple[tuple[str, str | None], ...] = ()  # None: the header is not sent
    repeated: tuple[tuple[str, str], ...] = ()  # extra header lines, also of a name already sent
    agent: str = "helpdesk-bot"
    cert: Svid | None = None  # None: the agent's own certificate from the stack's PKI
    task: Task | None = Task()  # None: no task token
    intent: str | None = TASK_INTENT  # None: no x-agent-intent
    operation: str = "user.read"  # what the request does and to whom: what approvals name
    target: str = "alice"
    approvals: tuple[Approve, ...] = ()
    before: tuple[str, ...] = ()  # "send": the same request once first (allowed); "revoke"
    folding: Expect | None = None  # the outcome under `[upstream] names = "case-insensitive"`
    config: Callable[[str], str] | None = None  # route table: edits the config text
    known_failure: str | None = None  # a hole found and not fixed yet: xfail(strict=True)

    def expected(self, folding: bool = False) -> Expect:
        return self.folding if folding and self.folding is not None else self.expect

    def describe_expected(self) -> str:
        text = str(self.expect)
        if self.folding is not None and self.folding != self.expect:
            text += f"; with `names = \"case-insensitive\"`: {self.folding}"
        return text


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


# -- requests the cases vary -------------------------------------------------------------------------
RESET = "user.password.reset"
RECOVERY = ("user.read", RESET)


def read(target: str = "alice", **kwargs: Any) -> dict[str, Any]:
    """A read of ``target`` with a read task naming it."""
    task = Task(principals=(target,))
    return {"path": f"/v1/users/{target}", "target": target, "task": task, **kwargs}


def reset(
    target: str = "alice",
    *,
    payload: bytes | None = None,
    principals: tuple[str, ...] | None = None,
    approvers: tuple[str, ...] = ("dana",),
    **kwargs: Any,
) -> dict[str, Any]:
    """``target``'s password reset, its body ``{"user": target}`` unless ``payload``, approved
    by ``approvers`` — each approval bound to the request exactly as sent."""
    task = Task(intent="credential_recovery", actions=RECOVERY, principals=principals or (target,))
    return {
        "method": "POST",
        "path": f"/v1/users/{target}/password/reset",
        "body": body({"user": target}) if payload is None else payload,
        "task": task,
        "operation": RESET,
        "target": target,
        "approvals": tuple(Approve(a) for a in approvers),
        **kwargs,
    }


def grant(
    group: str,
    user: str = "bob",
    *,
    payload: bytes | None = None,
    intent: str = "access_change",
    approvers: tuple[str, ...] = ("dana",),
    **kwargs: Any,
) -> dict[str, Any]:
    """``user`` added to ``group``, approved by ``approvers``."""
    task = Task(intent=intent, actions=("group.member.add",), principals=(user,))
    return {
        "method": "POST",
        "path": f"/v1/groups/{group}/members",
        "body": body({"user": user}) if payload is None else payload,
        "task": task,
        "operation": "group.member.add",
        "target": user,
        "approvals": tuple(Approve(a) for a in approvers),
        **kwargs,
    }
