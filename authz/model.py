"""Plain data the pipeline works on: the request as Envoy described it, and the decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authz.approvals import Approval
from authz.config import Agent
from authz.directory import Group, Principal
from authz.headers import CREDENTIAL_HEADERS, INJECTED_HEADERS, NOTE_HEADERS
from authz.reasons import Reason, http_status
from authz.stages.operation import Operation
from authz.tasks import Task

__all__ = ["CREDENTIAL_HEADERS", "INJECTED_HEADERS", "NOTE_HEADERS", "Decision", "RequestContext"]


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


@dataclass
class Decision:
    decision_id: str
    request: RequestContext
    reason: Reason = Reason.INTERNAL_ERROR
    message: str = "no decision was reached"
    agent: Agent | None = None
    operation: Operation | None = None
    task: Task | None = None
    approvals: tuple[Approval, ...] = ()  # stage 6: consumed with the allow
    target: Principal | None = None  # stage 7: the directory's view of the target
    group: Group | None = None  # stage 7: the group a membership change touches
    context_degraded: bool = False  # a read let through with the target's attributes unknown
    policies: tuple[str, ...] = ()  # stage 8: the policies that decided
    shadow: dict[str, Any] | None = None  # stage 8 in shadow mode: the decision it did not enforce
    upstream_headers: dict[str, str] = field(default_factory=dict)
    body_extra: dict[str, Any] = field(default_factory=dict)  # more fields for the deny body
    denied_at: int | None = None  # the stage (1-10) that denied

    @property
    def allowed(self) -> bool:
        return self.reason is Reason.ALLOWED

    @property
    def status(self) -> int:
        return http_status(self.reason)

    @property
    def state_changing(self) -> bool:
        return self.operation is not None and self.operation.route.state_changing

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

    @property
    def approvers(self) -> list[str]:
        return sorted({a.approver for a in self.approvals})

    def deny(self, reason: Reason, message: str) -> None:
        self.reason, self.message = reason, message
        self.upstream_headers = {}
