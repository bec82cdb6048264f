"""Stage 6 — approval: human approval tokens bound to this exact request (docs/tokens.md).

Every approval a state-changing or gated request carries in ``x-approval-token`` (several:
comma-separated; on a plain read the header is ignored, and stripped like on any request) must be
signed by a configured approver allowed for the class of every change the request makes, for
this agent, task, operation, target principal (the first action's, compared as the upstream
compares names) and ``req`` hash (method, path, exact body: the whole request, every action
read from it), unexpired and never used. An approver who is the agent, its on-behalf-of
subject or any principal the request touches, under any of their names, is refused (separation
of duties by identity, ``authz/duties.py``), and two approvals count as two approvers only if
they come from two people. Approval-gated operations (the gated classes, and routes marked
``approval``) need at least one: that floor is an invariant, and its deny is one approvers
can lift. How many distinct approvers a request needs beyond it is the policy's to say (stage
8); the pipeline asks how many would lift a deny in one place (``authz/stages/lift.py``). The
approvals are consumed in stage 10, atomically with the allow.
"""

from __future__ import annotations

from authz import duties
from authz.config import ApprovalsConfig
from authz.directory import DirectoryUnavailable
from authz.model import Operation, RequestContext
from authz.names import same_name
from authz.reasons import Denied, Reason
from authz.store import StateStore
from authz.tokens.approval import APPROVAL_TYP, Approval, parse_claims, request_hash
from authz.tokens.jws import ClaimsError, JwsError, JwsVerifier
from authz.tokens.task import Task

APPROVAL_HEADER = "x-approval-token"


class ApprovalStage:
    def __init__(
        self,
        settings: ApprovalsConfig,
        audience: str,
        leeway: int,
        store: StateStore,
        identities: duties.Identities | None = None,
    ) -> None:
        self._s, self._audience, self._leeway = settings, audience, leeway
        self._store = store
        self._identities = identities or duties.Identities(None)
        keys = {a.id: a.key for a in settings.approvers.values()}
        self._jws = JwsVerifier(APPROVAL_TYP, keys, settings.algorithms)

    def verify(
        self, r: RequestContext, agent_id: str, task: Task, operation: Operation, now: int
    ) -> tuple[Approval, ...]:
        """The approvals this request carries (none: ``()``), each valid for it; raises Denied
        for any that is not, and when an approval-gated operation carries none (the floor)."""
        header = r.headers.get(APPROVAL_HEADER) if operation.takes_approvals else None
        if not header:
            if operation.gated:
                message = f"{operation.name} needs human approval"
                raise Denied(Reason.APPROVAL_REQUIRED, message, liftable=True)
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
        if len(set(ids)) != len(ids) or any(self._store.approval_consumed(i, task.task_id) for i in ids):
            raise Denied(Reason.APPROVAL_REPLAYED, "an approval token was already used")
        return approvals

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
        approved = sorted({(x.op_class, x.target) for x in operation.actions})
        for a in approvals:
            approver = self._s.approvers[a.approver]  # verified against its key: it is configured
            for op_class, target in approved:
                refusal = duties.refusal(
                    approver,
                    op_class,
                    agent=agent_id,
                    on_behalf_of=task.on_behalf_of,
                    target=target,
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
