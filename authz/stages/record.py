"""Stage 10 — record: the decision's effects, the audit record, the metrics, the last word.

The only stage that changes anything, once the decision is final (``authz/effects.py``):

- an allow's spend is committed in one store transaction that re-checks revocation, charges the
  task's budget and consumes the approvals (docs/design.md: nothing is spent before the decision is
  final); if the store refuses, the allow becomes a deny;
- a task a deny ends (a changed intent) or the agent completed is revoked;
- an approval request a deny asks for is filed in the approval queue, and the deny says where
  to poll it.

Then the record is written; the allow of a state-changing operation returns only after it is
on disk. If it cannot be written, the decision becomes a deny (``audit_unavailable``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from authz.audit import AuditLog, AuditUnavailable, audit_record
from authz.config import ApprovalsConfig
from authz.effects import Revoke, Spend
from authz.metrics import Metrics
from authz.model import Decision
from authz.reasons import Reason
from authz.store import CommitOutcome, StateStore, StoreUnavailable
from authz.store.queue import ApprovalQueue, NewRequest
from authz.wellknown import POLL_PATH


class RecordStage:
    def __init__(
        self,
        audit: AuditLog,
        store: StateStore,
        metrics: Metrics,
        queue: ApprovalQueue | None = None,
        approvals: ApprovalsConfig | None = None,
    ) -> None:
        self._audit = audit
        self._store = store
        self._metrics = metrics
        self._queue = queue
        self._approvals = approvals or ApprovalsConfig()

    def record(self, decision: Decision, now: dt.datetime, elapsed: float) -> Decision:
        self._apply(decision, int(now.timestamp()))
        try:
            self._audit.append(
                audit_record(decision, now, elapsed), durable=decision.allowed and decision.state_changing
            )
        except AuditUnavailable:
            self._metrics.audit_failures.inc()
            decision.deny(
                Reason.AUDIT_UNAVAILABLE, "the audit log cannot be written; all requests are denied"
            )
        if decision.reason is Reason.APPROVAL_REPLAYED:
            self._metrics.replays_blocked.inc()
        op_class = decision.operation.op_class if decision.operation else "unknown"
        if decision.shadow is not None:
            labels = {"reason": str(decision.shadow.get("reason")), "class": op_class}
            self._metrics.shadow_denies.labels(**labels).inc()
        self._metrics.count_decision(decision.allowed, decision.reason, op_class, elapsed)
        return decision

    def _apply(self, decision: Decision, now: int) -> None:
        """The decision's effects (``authz/effects.py``), in this one place."""
        effects, stale = decision.effects, None
        try:
            if decision.allowed:  # the degraded rule lets reads through on stale state, audited
                stale = self._store.staleness()
                if stale is not None and decision.state_changing:
                    raise StoreUnavailable("a change is never decided on stale state")
            if decision.allowed and effects.spend is not None:
                self._commit(decision, effects.spend)
            if effects.revoke is not None:
                self._revoke(effects.revoke)
        except StoreUnavailable:
            self._metrics.store_errors.inc()
            decision.deny(
                Reason.STORE_UNAVAILABLE, "the state store cannot be written; the request is denied"
            )
        decision.store_staleness = stale if decision.allowed else None  # only an allow was decided on it
        if effects.file is not None and not decision.allowed and "approval" in decision.body_extra:
            decision.body_extra["approval"].update(self._file(effects.file, now))

    def _commit(self, decision: Decision, spend: Spend) -> None:
        outcome = self._store.commit_allow(
            task_id=spend.task_id,
            max_calls=spend.max_calls,
            approval_ids=list(spend.approval_ids),
            keep_until=spend.keep_until,
            approvals_until=spend.approvals_until,
        )
        if outcome is not CommitOutcome.ALLOWED:
            decision.deny(*_REFUSALS[outcome])
        elif spend.approval_ids:
            self._metrics.approvals_consumed.inc(len(spend.approval_ids))

    def _revoke(self, revoke: Revoke) -> None:
        if self._store.revoke_task(revoke.task_id, reason=revoke.reason, by=revoke.by):
            self._metrics.revocations.inc()

    def _file(self, new: NewRequest, now: int) -> dict[str, Any]:
        """File the approval request (de-duplicated, rate-limited per agent); where to poll it."""
        if self._queue is None:
            return {"queued": False}
        settings = self._approvals
        try:
            filed = self._queue.file(
                new, now=now, per_agent=settings.requests_per_agent, window=settings.requests_window
            )
        except StoreUnavailable:
            return {"queued": False}  # still a deny; the agent may ask again
        if filed is None:
            return {"queued": False, "retry_after": settings.requests_window}
        request_id, _ = filed
        return {"queued": True, "request_id": request_id, "poll": POLL_PATH + request_id}


_REFUSALS = {
    CommitOutcome.TASK_REVOKED: (Reason.TASK_REVOKED, "the task was revoked while this request was decided"),
    CommitOutcome.BUDGET_EXHAUSTED: (Reason.BUDGET_EXHAUSTED, "the task's call budget is used up"),
    CommitOutcome.APPROVAL_REPLAYED: (Reason.APPROVAL_REPLAYED, "an approval token was already used"),
}
