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

from authz.approvals import APPROVAL_TYP, Approval, parse_claims, request_hash
from authz.config import Agent, ApprovalsConfig, Intent
from authz.jws import ClaimsError, JwsError, JwsVerifier
from authz.model import RequestContext
from authz.reasons import Denied, Reason
from authz.stages.operation import Operation
from authz.store import StateStore, StoreUnavailable
from authz.store.queue import ApprovalQueue, NewRequest
from authz.tasks import Task

APPROVAL_HEADER = "x-approval-token"
#: Where an agent polls its approval request, through the proxy (the agent-facing approval API).
POLL_PATH = "/.well-known/agent-authz/approvals/"


class ApprovalStage:
    def __init__(
        self,
        settings: ApprovalsConfig,
        audience: str,
        leeway: int,
        intents: Mapping[str, Intent],
        store: StateStore,
        queue: ApprovalQueue | None = None,
    ) -> None:
        self._s, self._audience, self._leeway = settings, audience, leeway
        self._intents, self._store, self._queue = intents, store, queue
        keys = {a.id: a.key for a in settings.approvers.values()}
        self._jws = JwsVerifier(APPROVAL_TYP, keys, settings.algorithms)

    def needed(self, task: Task, operation: Operation) -> int:
        intent = self._intents.get(task.intent)
        return self._s.threshold(operation.op_class, bool(intent and intent.break_glass), operation.target)

    def check(
        self, r: RequestContext, agent: Agent, task: Task, operation: Operation, now: int
    ) -> tuple[Approval, ...]:
        """The approvals to consume with the allow; raises Denied when they do not suffice."""
        agent_id = agent.spiffe_id
        needed, req = self.needed(task, operation), request_hash(r.method, r.path, r.body)
        tokens = [t.strip() for t in (r.headers.get(APPROVAL_HEADER) or "").split(",") if t.strip()]
        if not tokens:
            message = f"{operation.name} needs human approval"
            raise self._denied(
                Reason.APPROVAL_REQUIRED, message, r, agent, task, operation, req, needed, (), now
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
            message = f"{operation.name} needs {needed} distinct approvers, has {len(approvers)}"
            raise self._denied(
                Reason.APPROVALS_INSUFFICIENT, message, r, agent, task, operation, req, needed, approvers, now
            )
        return approvals

    def _denied(
        self,
        reason: Reason,
        message: str,
        r: RequestContext,
        agent: Agent,
        task: Task,
        operation: Operation,
        req: str,
        needed: int,
        approvers: tuple[str, ...] | list[str],
        now: int,
    ) -> Denied:
        """What the agent must get approved, in the deny body's ``approval`` object, and where
        to poll for it: the request is filed in the approval queue for humans to see."""
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
        new = NewRequest(
            agent=agent.spiffe_id,
            owner=agent.owner,
            task_id=task.task_id,
            on_behalf_of=task.on_behalf_of,
            intent=task.intent,
            justification=r.note("x-agent-justification"),
            prompt_ref=r.note("x-agent-prompt-ref"),
            operation=operation.name,
            op_class=operation.op_class,
            principal=operation.target,
            method=r.method,
            path=r.path,
            body=r.body,
            req=req,
            approvers_needed=needed,
            expires=task.expires,
        )
        details.update(self._file(new, now))
        return Denied(reason, message, {"approval": details})

    def _file(self, new: NewRequest, now: int) -> dict[str, Any]:
        if self._queue is None:
            return {"queued": False}
        try:
            filed = self._queue.file(
                new,
                now=now,
                per_agent=self._s.requests_per_agent,
                window=self._s.requests_window,
            )
        except StoreUnavailable:
            return {"queued": False}  # still a deny; the agent may ask again
        if filed is None:
            return {"queued": False, "retry_after": self._s.requests_window}
        request_id, _ = filed
        return {"queued": True, "request_id": request_id, "poll": POLL_PATH + request_id}

    def _verify(self, token: str, now: int) -> Approval:
        if len(token) > self._s.max_token_bytes:
            raise Denied(Reason.APPROVAL_INVALID, "an approval token is larger than allowed")
        try:
            kid, claims = self._jws.claims(token)
            approval = parse_claims(claims)
        except (JwsError, ClaimsError) as exc:
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
