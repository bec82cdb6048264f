"""A state store that reads the real one and writes nothing: ``agent-authz check`` decides a
request against the live state (revocations, suspensions, budgets, spent approvals) without
spending, revoking or filing anything."""

from __future__ import annotations

from collections.abc import Sequence

from authz.store import AuditAnchor, CommitOutcome, Revocation, StateStore


class DryRunStore:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self.would_revoke: list[str] = []  # tasks the decision would have revoked

    def task_revoked(self, task_id: str) -> bool:
        return self._store.task_revoked(task_id)

    def revoke_task(self, task_id: str, *, reason: str, by: str) -> bool:
        self.would_revoke.append(task_id)
        return not self._store.task_revoked(task_id)

    def revocations(self, limit: int = 100) -> list[Revocation]:
        return self._store.revocations(limit)

    def agent_suspended(self, spiffe_id: str) -> bool:
        return self._store.agent_suspended(spiffe_id)

    def set_agent_suspended(self, spiffe_id: str, suspended: bool, *, by: str) -> None:
        raise AssertionError("a dry run never suspends an agent")

    def suspended_agents(self) -> list[str]:
        return self._store.suspended_agents()

    def task_calls(self, task_id: str) -> int:
        return self._store.task_calls(task_id)

    def approval_consumed(self, approval_id: str, task_id: str) -> bool:
        return self._store.approval_consumed(approval_id, task_id)

    def staleness(self) -> float | None:
        return self._store.staleness()

    def commit_allow(
        self,
        *,
        task_id: str | None,
        max_calls: int | None,
        approval_ids: Sequence[str] = (),
        keep_until: float | None = None,
        approvals_until: float | None = None,
    ) -> CommitOutcome:
        """The outcome the real commit would have now, in its order of checks; nothing spent."""
        if task_id is not None and self._store.task_revoked(task_id):
            return CommitOutcome.TASK_REVOKED
        if max_calls is not None and task_id is not None and self._store.task_calls(task_id) >= max_calls:
            return CommitOutcome.BUDGET_EXHAUSTED
        if len(set(approval_ids)) != len(approval_ids) or any(
            self._store.approval_consumed(a, task_id or "") for a in approval_ids
        ):
            return CommitOutcome.APPROVAL_REPLAYED
        return CommitOutcome.ALLOWED

    def anchor_audit(self, anchor: AuditAnchor) -> None:
        pass  # a dry run's throw-away audit log is never anchored

    def audit_anchors(self) -> list[AuditAnchor]:
        return self._store.audit_anchors()

    def close(self) -> None:
        self._store.close()
