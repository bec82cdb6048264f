"""Stage 6 — approval: human approval tokens bound to this exact request (DESIGN §3.2).

Every approval a state-changing or gated request carries in ``x-approval-token`` (several:
comma-separated; on a plain read the header is ignored, and stripped like on any request) must be
signed by a configured approver allowed for the operation's class, for this agent, task,
operation, target principal (compared as the upstream compares names) and ``req`` hash
(method, path, exact body), unexpired and never used. An approver who is the agent, its
on-behalf-of subject or the target principal under any of their names is refused (separation
of duties by identity, ``authz/duties.py``), and two approvals count as two approvers only if
they come from two people. Approval-gated operations (the gated classes, and routes marked
``approval``) need at least one: that floor is an invariant. How many distinct approvers a
request needs beyond it is the policy's to say (stage 8); ``ask`` builds the deny that tells
the agent, and files the request in the approval queue for humans. The approvals are consumed
in stage 10, atomically with the allow.
"""

from __future__ import annotations

from typing import Any

from authz import duties
from authz.approvals import APPROVAL_TYP, Approval, parse_claims, request_hash
from authz.config import ApprovalsConfig
from authz.directory import DirectoryUnavailable
from authz.jws import ClaimsError, JwsError, JwsVerifier
from authz.model import Decision, RequestContext
from authz.names import same_name
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
        store: StateStore,
        queue: ApprovalQueue | None = None,
        identities: duties.Identities | None = None,
    ) -> None:
        self._s, self._audience, self._leeway = settings, audience, leeway
        self._store, self._queue = store, queue
        self._identities = identities or duties.Identities(None)
        keys = {a.id: a.key for a in settings.approvers.values()}
        self._jws = JwsVerifier(APPROVAL_TYP, keys, settings.algorithms)

    @property
    def most(self) -> int:
        """The most approvals one request can carry: no policy can ask for more."""
        return self._s.max_tokens

    @staticmethod
    def counts(operation: Operation) -> bool:
        """Whether approvals count for this operation: changes, and gated routes (plain reads
        need none)."""
        return operation.route.gated or operation.route.state_changing

    def verify(
        self, r: RequestContext, agent_id: str, task: Task, operation: Operation, now: int
    ) -> tuple[Approval, ...]:
        """The approvals this request carries (none: ``()``), each valid for it; raises Denied
        for any that is not."""
        header = r.headers.get(APPROVAL_HEADER)
        if not header or not self.counts(operation):
            return ()
        tokens = [t.strip() for t in header.split(",") if t.strip()]
        if len(tokens) > self._s.max_tokens:
            raise Denied(Reason.APPROVAL_INVALID, f"more than {self._s.max_tokens} approval tokens")
        approvals = tuple(self._verify(token, now) for token in tokens)
        req = request_hash(r.method, r.path, r.body)
        for a in approvals:
            self._check_bound(a, agent_id, task, operation, req)
        try:
            self._check_approvers(approvals, agent_id, task, operation)
        except DirectoryUnavailable as exc:
            raise Denied(
                Reason.CONTEXT_UNAVAILABLE, f"who the approvers are cannot be checked now: {exc}"
            ) from None
        ids = [a.approval_id for a in approvals]
        if len(set(ids)) != len(ids) or any(self._store.approval_consumed(i) for i in ids):
            raise Denied(Reason.APPROVAL_REPLAYED, "an approval token was already used")
        return approvals

    def ask(self, d: Decision, denied: Denied, needed: int | None, now: int) -> Denied:
        """``denied`` for want of (more) approvers, with the deny body's ``approval`` object: what
        to get approved and, when ``needed`` distinct approvers would do, the request filed in the
        approval queue with a poll address. ``needed`` None: no number of approvers would make
        the policy allow it, and nothing is filed."""
        assert d.task and d.operation
        r, task, operation, approvers = d.request, d.task, d.operation, d.approvers
        details: dict[str, Any] = {
            "operation": operation.name,
            "principal": operation.target,
            "task": task.task_id,
            "req": request_hash(r.method, r.path, r.body),
            "approvers_required": None if needed is None else needed - len(approvers),
            "approvers_needed": needed,
            "approved_by": approvers,
            "expires": task.expires,
        }
        if needed is None:
            details["queued"] = False
        else:
            details.update(self._file(self._new_request(d, details["req"], needed), now))
        return Denied(denied.reason, denied.message, {**denied.extra, "approval": details}, denied.stage)

    @staticmethod
    def _new_request(d: Decision, req: str, needed: int) -> NewRequest:
        assert d.agent and d.task and d.operation
        r, agent, task, operation = d.request, d.agent, d.task, d.operation
        return NewRequest(
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
        bound = (a.agent, a.task_id, a.operation, a.req) == (agent_id, task.task_id, operation.name, req)
        if not bound or not same_name(a.principal, operation.target, operation.route.names):
            raise Denied(Reason.APPROVAL_NOT_BOUND, "an approval token is for another request")

    def _check_approvers(
        self, approvals: tuple[Approval, ...], agent_id: str, task: Task, operation: Operation
    ) -> None:
        """Each approver may approve this request, and distinct approver ids are distinct people."""
        seen: dict[str, frozenset[str]] = {}
        for a in approvals:
            approver = self._s.approvers[a.approver]  # verified against its key: it is configured
            refusal = duties.refusal(
                approver,
                operation.op_class,
                agent=agent_id,
                on_behalf_of=task.on_behalf_of,
                target=operation.target,
                identities=self._identities,
            )
            if refusal:
                raise Denied(Reason.APPROVER_NOT_ALLOWED, refusal)
            identity = self._identities.of_approver(approver) or frozenset()
            for other, names in seen.items():
                if other != approver.id and names & identity:
                    raise Denied(
                        Reason.APPROVER_NOT_ALLOWED,
                        f"{other} and {approver.id} are one person: their approvals count once",
                    )
            seen[approver.id] = identity
