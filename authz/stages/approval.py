"""Stage 6 — approval: human approval tokens bound to this exact request (DESIGN §3.2).

For every approval-gated operation (the gated classes, and routes marked ``approval``) the
request must carry, in ``x-approval-token`` (several: comma-separated), approvals that are
each signed by a configured approver allowed for the class, for this agent, task, operation,
target principal and ``req`` hash (method, path, exact body), unexpired and never used; from
as many distinct approvers as the threshold asks. An approver who is the agent, its
on-behalf-of subject or the target principal does not count (separation of duties). The
approvals are consumed in stage 10, atomically with the allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authz.approvals import APPROVAL_TYP, Approval, ApprovalClaimsError, parse_claims, request_hash
from authz.config import ApprovalsConfig, Intent
from authz.jws import JwsError, JwsVerifier
from authz.model import RequestContext
from authz.reasons import Denied, Reason
from authz.stages.operation import Operation
from authz.store import StateStore
from authz.tasks import Task

APPROVAL_HEADER = "x-approval-token"


class ApprovalStage:
    def __init__(
        self,
        settings: ApprovalsConfig,
        audience: str,
        leeway: int,
        intents: Mapping[str, Intent],
        store: StateStore,
    ) -> None:
        self._s, self._audience, self._leeway = settings, audience, leeway
        self._intents, self._store = intents, store
        keys = {a.id: a.key for a in settings.approvers.values()}
        self._jws = JwsVerifier(APPROVAL_TYP, keys, settings.algorithms)

    def needed(self, task: Task, operation: Operation) -> int:
        intent = self._intents.get(task.intent)
        return self._s.threshold(operation.op_class, bool(intent and intent.break_glass), operation.target)

    def check(
        self, r: RequestContext, agent_id: str, task: Task, operation: Operation, now: int
    ) -> tuple[Approval, ...]:
        """The approvals to consume with the allow; raises Denied when they do not suffice."""
        needed, req = self.needed(task, operation), request_hash(r.method, r.path, r.body)
        tokens = [t.strip() for t in (r.headers.get(APPROVAL_HEADER) or "").split(",") if t.strip()]
        if not tokens:
            raise self._denied(
                Reason.APPROVAL_REQUIRED,
                f"{operation.name} needs human approval",
                task,
                operation,
                req,
                needed,
                (),
            )
        if len(tokens) > self._s.max_tokens:
            raise Denied(Reason.APPROVAL_INVALID, f"more than {self._s.max_tokens} approval tokens")
        approvals = tuple(self._verify(token, now) for token in tokens)
        for a in approvals:
            self._check_bound(a, agent_id, task, operation, req)
        for a in approvals:
            self._check_approver(a, agent_id, task, operation)
        ids = [a.approval_id for a in approvals]
        if len(set(ids)) != len(ids) or any(self._store.approval_consumed(i) for i in ids):
            raise Denied(Reason.APPROVAL_REPLAYED, "an approval token was already used")
        approvers = sorted({a.approver for a in approvals})
        if len(approvers) < needed:
            raise self._denied(
                Reason.APPROVALS_INSUFFICIENT,
                f"{operation.name} needs {needed} distinct approvers, has {len(approvers)}",
                task,
                operation,
                req,
                needed,
                approvers,
            )
        return approvals

    def _denied(
        self,
        reason: Reason,
        message: str,
        task: Task,
        operation: Operation,
        req: str,
        needed: int,
        approvers: tuple[str, ...] | list[str],
    ) -> Denied:
        """What the agent must get approved, in the deny body's ``approval`` object."""
        details: dict[str, Any] = {
            "operation": operation.name,
            "principal": operation.target,
            "task": task.task_id,
            "req": req,
            "approvers_required": needed - len(approvers),
            "approvers_needed": needed,
            "approved_by": list(approvers),
            "expires": task.expires,
        }
        return Denied(reason, message, {"approval": details})

    def _verify(self, token: str, now: int) -> Approval:
        if len(token) > self._s.max_token_bytes:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token is larger than allowed")
        try:
            kid, claims = self._jws.claims(token)
            approval = parse_claims(claims)
        except (JwsError, ApprovalClaimsError) as exc:
            raise Denied(Reason.APPROVAL_INVALID, f"an approval token is refused: {exc}") from None
        if approval.approver != kid:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token's iss is not its signing key's approver")
        if claims.get("aud") != self._audience:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token is for another audience")
        if approval.expires - approval.issued_at > self._s.max_ttl:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token lives longer than allowed")
        if now > approval.expires + self._leeway:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token has expired")
        if now + self._leeway < approval.issued_at:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token is not valid yet")
        return approval

    @staticmethod
    def _check_bound(a: Approval, agent_id: str, task: Task, operation: Operation, req: str) -> None:
        bound = (a.agent, a.task_id, a.operation, a.principal, a.req) == (
            agent_id,
            task.task_id,
            operation.name,
            operation.target,
            req,
        )
        if not bound:
            raise Denied(Reason.APPROVAL_NOT_BOUND, "an approval token is for another request")

    def _check_approver(self, a: Approval, agent_id: str, task: Task, operation: Operation) -> None:
        approver = self._s.approvers[a.approver]  # verified against its key: it is configured
        if operation.op_class not in approver.classes:
            raise Denied(Reason.APPROVER_NOT_ALLOWED, f"{a.approver} may not approve {operation.op_class}")
        if a.approver in (agent_id, task.subject, operation.target):
            raise Denied(
                Reason.APPROVER_NOT_ALLOWED,
                f"{a.approver} is the agent, its on-behalf-of subject or the target: not an approver here",
            )
