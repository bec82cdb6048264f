"""Plain data the pipeline works on: the request as Envoy described it, what each stage
established, and the decision. It imports no stage: stages import it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from authz.config import GATED_CLASSES, READ_CLASSES, Agent, Route
from authz.directory import Group, Principal
from authz.effects import Effects
from authz.headers import CREDENTIAL_HEADERS, INJECTED_HEADERS, NOTE_HEADERS
from authz.reasons import STAGE_OF, Denied, Reason, http_status
from authz.tokens.approval import Approval
from authz.tokens.task import Task

__all__ = [
    "CREDENTIAL_HEADERS",
    "Action",
    "INJECTED_HEADERS",
    "NOTE_HEADERS",
    "Caller",
    "Context",
    "Decision",
    "Operation",
    "RequestContext",
]


@dataclass(frozen=True)
class RequestContext:
    method: str
    path: str  # as Envoy forwards it: normalised, query string included
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ','
    body: bytes
    principal: str  # source.principal: the URI SAN Envoy saw
    certificate: str  # source.certificate: URL-encoded PEM of the client leaf
    request_id: str = ""

    def note(self, name: str) -> str | None:
        """One of ``NOTE_HEADERS``, capped."""
        value = self.headers.get(name)
        return None if value is None else value[: NOTE_HEADERS[name]]


@dataclass(frozen=True)
class Caller:
    """Stage 1: the registered, active agent behind the mTLS connection."""

    agent: Agent
    thumbprint: str  # x5t#S256 of its certificate: what task tokens are bound to


@dataclass(frozen=True)
class Action:
    """One thing a request does: an operation of a class, on one principal (and group)."""

    name: str
    op_class: str
    target: str  # the principal acted on (the directory's name for it, when the route resolves ids)
    group: str | None = None  # the group a membership change touches
    reversible: bool = True

    @cached_property
    def gated(self) -> bool:
        return self.op_class in GATED_CLASSES

    @cached_property
    def state_changing(self) -> bool:
        return self.op_class not in READ_CLASSES


@dataclass(frozen=True)
class Operation:
    """Stage 2: what the request does, and to whom.

    Most routes do one thing: their operation, on the principal the path or body names. A route
    that reads its operations from the body (``authz/stages/derive/``) may do several — a SCIM
    PATCH that edits a profile and sets a password — each an ``Action``, the most demanding
    first. Every stage decides on every action; ``name``, ``target`` and ``group`` are the
    first's, for messages and records.
    """

    route: Route
    target: str
    params: Mapping[str, str] = field(default_factory=dict)  # the path's {param}s, decoded
    derived: tuple[Action, ...] = ()  # the actions read from the body; () for a route's one action

    @cached_property
    def actions(self) -> tuple[Action, ...]:
        if self.derived:
            return self.derived
        route = self.route
        group = self.params.get(route.group_param) if route.group_param else None
        return (Action(route.operation, route.op_class, self.target, group, route.reversible),)

    @cached_property
    def name(self) -> str:
        return self.actions[0].name

    @cached_property
    def op_class(self) -> str:
        return self.actions[0].op_class

    @cached_property
    def group(self) -> str | None:
        """The group a membership change touches (the route's ``group_param``)."""
        return self.actions[0].group

    @cached_property
    def gated(self) -> bool:
        """Needs human approval: the route says so, or an action's class does."""
        return self.route.approval or any(a.gated for a in self.actions)

    @cached_property
    def state_changing(self) -> bool:
        return any(a.state_changing for a in self.actions)

    @cached_property
    def takes_approvals(self) -> bool:
        """Approvals count here: every change, and gated requests (plain reads need none)."""
        return self.gated or self.state_changing

    @cached_property
    def reversible(self) -> bool:
        return all(a.reversible for a in self.actions)

    @cached_property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.target for a in self.actions))


@dataclass(frozen=True)
class Context:
    """Stage 7: the live context of the decision."""

    target: Principal  # the directory's entry of the target (canonical name)
    group: Group | None = None  # the group a membership change touches
    others: tuple[tuple[Principal, Group | None], ...] = ()  # the other actions' target and group
    degraded: bool = False  # a read let through with the attributes unknown (the degraded rule)
    task_calls: int = 0  # calls already charged to the task's budget

    @property
    def each(self) -> tuple[tuple[Principal, Group | None], ...]:
        """The target and group of each action of the operation, in its order."""
        return ((self.target, self.group), *self.others)


@dataclass
class Decision:
    decision_id: str
    request: RequestContext
    reason: Reason = Reason.INTERNAL_ERROR
    message: str = "no decision was reached"
    caller: Caller | None = None  # stage 1
    operation: Operation | None = None  # stage 2
    task: Task | None = None  # stage 3
    approvals: tuple[Approval, ...] = ()  # stage 6: consumed with the allow
    context: Context | None = None  # stage 7
    policies: tuple[str, ...] = ()  # stage 8: the policies that decided
    shadow: dict[str, Any] | None = None  # stage 8 in shadow mode: the decision it did not enforce
    effects: Effects = field(default_factory=Effects)  # what stage 10 applies
    store_staleness: float | None = None  # an allowed read decided on state this old (seconds)
    upstream_headers: dict[str, str] = field(default_factory=dict)
    body_extra: dict[str, Any] = field(default_factory=dict)  # more fields for the deny body
    denied_at: int | None = None  # the stage (1-10) that denied

    @property
    def agent(self) -> Agent | None:
        return self.caller.agent if self.caller else None

    @property
    def target(self) -> Principal | None:
        return self.context.target if self.context else None

    @property
    def group(self) -> Group | None:
        return self.context.group if self.context else None

    @property
    def context_degraded(self) -> bool:
        return self.context is not None and self.context.degraded

    @property
    def allowed(self) -> bool:
        return self.reason is Reason.ALLOWED

    @property
    def status(self) -> int:
        return http_status(self.reason)

    @cached_property
    def state_changing(self) -> bool:
        return self.operation is not None and self.operation.state_changing

    @property
    def failing_stage(self) -> int | None:
        """The stage (1-10) that ended the decision, or None for an allow."""
        return None if self.allowed else self.denied_at or STAGE_OF.get(self.reason, 10)

    @property
    def approvers(self) -> list[str]:
        return sorted({a.approver for a in self.approvals})

    def allow(self) -> None:
        assert self.agent is not None and self.operation is not None
        self.reason, self.message = Reason.ALLOWED, "allowed"
        self.upstream_headers = {
            "x-authz-decision-id": self.decision_id,
            "x-agent-id": self.agent.spiffe_id,
            "x-agent-owner": self.agent.owner,
        }
        if self.task is not None:
            self.upstream_headers["x-agent-task"] = self.task.task_id
            if self.task.on_behalf_of is not None:
                self.upstream_headers["x-on-behalf-of"] = self.task.on_behalf_of
        if self.approvals:
            self.upstream_headers["x-approved-by"] = ",".join(self.approvers)

    def deny(self, reason: Reason, message: str) -> None:
        self.reason, self.message = reason, message
        self.upstream_headers = {}

    def refuse(self, denied: Denied) -> None:
        """A stage's deny, with what it carries: body fields, its stage, a task it ends."""
        self.deny(denied.reason, denied.message)
        self.body_extra, self.denied_at = denied.extra, denied.stage
        if "policy" in denied.extra:  # a policy deny: the deciding policies go to the record too
            self.policies = tuple(denied.extra["policy"]["policies"])
        if denied.revoke is not None:
            self.effects.revoke = denied.revoke
