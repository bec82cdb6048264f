"""An agent calling a real SCIM server through Envoy as a real agent does — scim2-client over
httpx2, its SVID for mTLS, the server's bearer token — and the check every such request passes.

Every request of a ``ScimAgent`` goes through ``CheckedTransport``, the one place its httpx2
client sends from: it reads the server's own storage (``scim.state()``) before and after, and the
audit records the request added. Each request must leave exactly one audit record, for its
method and path; a request agent-authz denied (``x-authz-reason``, 401/403/429/503, never
proxied) must have left the server's state as it was; an allowed one must have been proxied to
the server (``x-envoy-upstream-service-time``, set by Envoy only on a proxied answer) and
answered by it. When a ``scim_world`` ends, the audit log may hold no decision that no checked
request accounts for: nothing reached Envoy around the check.

The approvals a request carries are signed in the httpx2 request hook, for the exact method,
path and body bytes scim2-client is about to send, as a human approver's tool would sign them.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import EnterpriseUser, Group, ResourceType, ScimProvider, User

from authz.audit import is_decision
from authz.demo.scim_stack import ScimStack
from authz.devkit.scim import Seeded, SeedGroup, SeedUser

Scim = SyncSCIMClient  # what ``ScimAgent.call`` hands its ``send``
AGENT = "helpdesk-bot"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
#: The statuses agent-authz denies with (Envoy writes its answer, with x-authz-reason).
DENY_STATUSES = (401, 403, 429, 503)
PROXIED = "x-envoy-upstream-service-time"  # Envoy sets it on an answer the upstream gave


def provider() -> ScimProvider:
    """The models the agent is configured with, not discovered (the pack refuses discovery).
    Canaille's users carry the enterprise extension."""
    types = [ResourceType.from_resource(User[EnterpriseUser]), ResourceType.from_resource(Group)]
    return ScimProvider(models=[User, EnterpriseUser, Group], resource_types=types)


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp body as raw JSON, sent as it is."""
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


@dataclass(frozen=True)
class Task:
    """A task the agent's issuer signs: its intent, whom it names, what it permits."""

    intent: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    on_behalf_of: str | None = None


@dataclass
class Exchange:
    """One request through Envoy, its answer, its audit record and the server's state around it."""

    method: str
    path: str  # as sent, with the query
    body: bytes
    status: int
    reason: str  # x-authz-reason: set by agent-authz on a deny
    answer: bytes
    audit: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    result: Any = None  # what scim2-client returned, or raised for a denied request

    @property
    def denied(self) -> bool:
        return bool(self.reason)

    def json(self) -> Any:
        return json.loads(self.answer)

    @property
    def operations(self) -> list[tuple[str, str]]:
        """What agent-authz read the request as doing: (operation, principal), every action."""
        return [(a["operation"], a["target"]) for a in self.audit.get("actions") or []]

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.reason}".rstrip()


class CheckedTransport(httpx2.BaseTransport):
    """The agent's transport: sends over mTLS and checks each request (see the module docstring)."""

    def __init__(
        self,
        stack: ScimStack,
        context: ssl.SSLContext | None,
        sent: list[Exchange],
        inner: httpx2.BaseTransport | None = None,  # the check's own tests: a fake Envoy
    ) -> None:
        if inner is None:
            assert context is not None, "a TLS context to reach Envoy, or a fake of it"
            inner = httpx2.HTTPTransport(verify=context, trust_env=False)
        self._inner = inner
        self._stack, self._sent = stack, sent

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        before, seen = self._stack.scim.state(), len(audit_records(self._stack))
        response = self._inner.handle_request(request)
        answer = response.read()
        after, records = self._stack.scim.state(), audit_records(self._stack)[seen:]
        path = request.url.raw_path.decode("ascii")
        what = f"{request.method} {path} -> {response.status_code}"
        assert len(records) == 1, f"{what}: {len(records)} audit records, not one"
        (audit,) = records
        assert (audit["method"], audit["path"]) == (request.method, path.partition("?")[0]), audit
        reason = response.headers.get("x-authz-reason", "")
        exchange = Exchange(request.method, path, request.content, response.status_code, reason,
                            answer, audit, before, after)  # fmt: skip
        if reason:
            assert response.status_code in DENY_STATUSES, f"{what}: a deny with this status"
            assert (audit["decision"], audit["reason"]) == ("deny", reason), f"{what}: audited {audit}"
            assert PROXIED not in response.headers, f"{what}: denied, but Envoy proxied it"
            assert after == before, f"{what}: denied ({reason}), but the server's state changed"
        else:
            assert audit["decision"] == "allow", f"{what}: no x-authz-reason, but audited {audit}"
            assert PROXIED in response.headers, f"{what}: allowed, but not answered by the server"
        self._sent.append(exchange)
        return response

    def close(self) -> None:
        self._inner.close()


def audit_records(stack: ScimStack) -> list[dict[str, Any]]:
    """The decision records (not the outcome records Envoy's access log adds later)."""
    records = [json.loads(line) for line in stack.audit_path.read_text().splitlines() if line]
    return [r for r in records if is_decision(r)]


@dataclass(frozen=True)
class _Call:
    task: Task
    token: str
    approvers: tuple[str, ...]
    operation: str
    principal: str


class ScimAgent:
    """``scim``: the agent's scim2-client, through Envoy; send with ``call`` only."""

    def __init__(self, stack: ScimStack, name: str = AGENT) -> None:
        self.stack, self.name = stack, name
        self.sent: list[Exchange] = []
        self._call: _Call | None = None
        context = ssl.create_default_context(cafile=str(stack.pki.bundle))
        context.load_cert_chain(str(stack.pki.agent_cert(name)), str(stack.pki.agent_key(name)))
        self._http = httpx2.Client(
            base_url=f"https://127.0.0.1:{stack.ports['envoy']}{stack.base_path}",
            headers={"authorization": f"Bearer {stack.scim_token}"},
            transport=CheckedTransport(stack, context, self.sent),
            event_hooks={"request": [self._sign]},
            trust_env=False,
        )
        self.scim = SyncSCIMClient(self._http, provider=provider())

    def _sign(self, request: httpx2.Request) -> None:
        """The task, and the approvals of exactly the bytes about to be sent."""
        call = self._call
        assert call is not None, "send with ScimAgent.call, which names the task"
        request.headers["x-agent-task-token"] = call.token
        request.headers["x-agent-intent"] = call.task.intent
        if call.approvers:
            path = request.url.raw_path.decode("ascii")
            bound = {"agent": self.name, "operation": call.operation, "principal": call.principal}
            tokens = [
                self.stack.approval(who, call.token, request.method, path, request.content, **bound)
                for who in call.approvers
            ]
            request.headers["x-approval-token"] = ",".join(tokens)

    def call(
        self,
        task: Task,
        send: Callable[[SyncSCIMClient], Any],
        *,
        approvers: Sequence[str] = (),
        operation: str | None = None,
        principal: str | None = None,
    ) -> Exchange:
        """``send(scim)`` under a fresh token for ``task``: one request, approved by ``approvers``
        for ``operation`` on ``principal`` (default: the task's first). What scim2-client raises
        for a denied request is the exchange's ``result``; for an allowed one it is raised."""
        kwargs = {"on_behalf_of": task.on_behalf_of} if task.on_behalf_of else {}
        token = self.stack.task_token(
            self.name, intent=task.intent, principals=task.principals, actions=task.actions, **kwargs
        )
        bound = (operation or task.actions[0], principal or task.principals[0])
        self._call, count = _Call(task, token, tuple(approvers), *bound), len(self.sent)
        try:
            result: Any = send(self.scim)
        except Exception as exc:
            if len(self.sent) != count + 1 or not self.sent[-1].denied:
                raise
            result = exc
        finally:
            self._call = None
        assert len(self.sent) == count + 1, f"one call sent {len(self.sent) - count} requests"
        exchange = self.sent[-1]
        exchange.result = result
        return exchange

    def close(self) -> None:
        self._http.close()


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two states, as {"users/alice/active": value after} (None: gone)."""
    out: dict[str, Any] = {}
    for kind in ("users", "groups"):
        for name in before[kind].keys() | after[kind].keys():
            old, new = before[kind].get(name, {}), after[kind].get(name, {})
            for key in old.keys() | new.keys():
                if old.get(key) != new.get(key):
                    out[f"{kind}/{name}/{key}"] = new.get(key)
    return out


@dataclass
class ScimWorld:
    """A started stack in front of ``server``, seeded; its agents' requests all checked."""

    stack: ScimStack
    seeded: Seeded
    audit_from: int
    agents: list[ScimAgent] = field(default_factory=list)

    def agent(self, name: str = AGENT) -> ScimAgent:
        agent = ScimAgent(self.stack, name)
        self.agents.append(agent)
        return agent

    def user(self, name: str) -> str:
        return self.seeded.users[name]

    def group(self, name: str) -> str:
        return self.seeded.groups[name]

    def member(self, name: str) -> dict[str, str]:
        """A member value as the server takes it (Canaille needs ``$ref``)."""
        return self.stack.scim.member(self.user(name))

    def check_every_decision_was_checked(self) -> None:
        decided = len(audit_records(self.stack)) - self.audit_from
        checked = sum(len(a.sent) for a in self.agents)
        assert decided == checked, f"agent-authz decided {decided} requests, the agents checked {checked}"


@contextlib.contextmanager
def scim_world(
    workdir: Path, server: str, users: Sequence[SeedUser], groups: Sequence[SeedGroup]
) -> Iterator[ScimWorld]:
    """Started, seeded (directly, not through Envoy), stopped by PID whatever happens."""
    stack = ScimStack.create_scim(workdir, server)
    world: ScimWorld | None = None
    try:
        stack.start()
        world = ScimWorld(stack, stack.scim.seed(users, groups), len(audit_records(stack)))
        yield world
        world.check_every_decision_was_checked()
    finally:
        for agent in world.agents if world else ():
            agent.close()
        stack.stop()
