"""The state store: revoked tasks, suspended agents, task budgets and consumed approvals.

One small interface, two implementations: ``sqlite.py`` (one file, the processes of one host)
and ``redis_store.py`` (several hosts); ``open.py`` opens the one ``[store]`` names.
``task_revoked`` and ``agent_suspended`` are asked on every request and must be cheap (answered
from memory, yet current: a change by any process is seen on the next request). The only
write on the request path is ``commit_allow``, the single atomic transaction of pipeline stage
10 (docs/design.md: nothing is spent before the decision is final); a request with nothing to
spend — no budget, no approvals — writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from authz.errors import StoreError

__all__ = ["StoreError"]  # the store area's root, defined in authz.errors


class StoreOpenError(StoreError):
    """The store cannot be opened (start-up problem): bad path, not a database, newer schema."""


class StoreUnavailable(StoreError):
    """The store cannot answer; callers deny with store_unavailable."""


class CommitOutcome(StrEnum):
    ALLOWED = "allowed"
    TASK_REVOKED = "task_revoked"
    BUDGET_EXHAUSTED = "budget_exhausted"
    APPROVAL_REPLAYED = "approval_replayed"


@dataclass(frozen=True)
class Revocation:
    task_id: str
    reason: str
    by: str
    at: float  # unix seconds


@dataclass(frozen=True)
class AuditAnchor:
    """How far one audit log's hash chain reached: records cut off after it are detected."""

    chain: str  # the chain's id: the hash of its first record
    seq: int
    hash: str  # of record ``seq``
    at: float  # unix seconds


class StateStore(Protocol):
    def task_revoked(self, task_id: str) -> bool: ...

    def revoke_task(self, task_id: str, *, reason: str, by: str) -> bool:
        """True if newly revoked, False if it already was (the first revocation is kept)."""
        ...

    def revocations(self, limit: int = 100) -> list[Revocation]:
        """Newest first."""
        ...

    def agent_suspended(self, spiffe_id: str) -> bool: ...

    def set_agent_suspended(self, spiffe_id: str, suspended: bool, *, by: str) -> None: ...

    def suspended_agents(self) -> list[str]: ...

    def task_calls(self, task_id: str) -> int:
        """Calls charged to the task's budget so far (0 if none; tasks without a budget are not counted)."""
        ...

    def approval_consumed(self, approval_id: str, task_id: str) -> bool:
        """Whether the approval was spent (an approval is bound to one task)."""
        ...

    def staleness(self) -> float | None:
        """None while reads are answered from current state; else the age, in seconds, of the
        state they are answered from (a store's degraded rule): only reads may be allowed on it."""
        ...

    def commit_allow(
        self,
        *,
        task_id: str | None,
        max_calls: int | None,
        approval_ids: Sequence[str] = (),
        keep_until: float | None = None,
        approvals_until: float | None = None,
    ) -> CommitOutcome:
        """Atomically: re-check revocation, check the budget, check and consume the approvals.

        In this order the first failing check is the outcome: TASK_REVOKED, BUDGET_EXHAUSTED
        (calls >= max_calls), APPROVAL_REPLAYED (any id already consumed, or given twice).
        Only on ALLOWED is anything written: the task's counter +1 (when the task has a budget,
        ``max_calls`` not None) and every approval id recorded as consumed. Safe against
        concurrent callers in other threads and processes. ``keep_until`` (unix seconds: when
        the task expires) and ``approvals_until`` (when the last approval does) are how long a
        store that forgets must keep the counter and the consumed marks: a store adds its
        clock-skew margin, which covers the leeway tokens are accepted with past ``exp``.
        """
        ...

    def anchor_audit(self, anchor: AuditAnchor) -> None:
        """Record how far a chain reached; an anchor only ever moves forward (a higher ``seq``)."""
        ...

    def audit_anchors(self) -> list[AuditAnchor]: ...

    def close(self) -> None: ...
