"""The approval queue: requests for human approval, filed by the authorizer when it denies.

One small interface (``ApprovalQueue``); ``sqlite_queue.py`` keeps it in the state store's file.
The queue stores only approval tokens that approvers signed themselves; it cannot make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from authz.errors import StoreError


class QueueError(StoreError):
    """An operator action the queue refuses (unknown request, not pending, approver twice)."""


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass(frozen=True)
class NewRequest:
    """What the authorizer knows when it denies for want of approval."""

    agent: str
    owner: str
    task_id: str
    on_behalf_of: str | None
    intent: str
    justification: str | None
    prompt_ref: str | None
    operation: str
    op_class: str
    principal: str
    method: str
    path: str
    body: bytes
    req: str
    approvers_needed: int
    expires: float  # the task's expiry: approvals for it are useless afterwards


@dataclass(frozen=True)
class ApprovalRequest:
    request_id: str
    new: NewRequest
    created: float
    status: RequestStatus
    decided_by: str | None = None
    reason: str | None = None
    approvals: tuple[tuple[str, str], ...] = ()  # (approver, signed approval token)

    @property
    def approvers(self) -> list[str]:
        return sorted({approver for approver, _ in self.approvals})


class ApprovalQueue(Protocol):
    def file(self, new: NewRequest, *, now: float, per_agent: int, window: float) -> tuple[str, bool] | None:
        """(request id, newly filed) — the pending request for the same agent, task and ``req``
        if there is one; ``None`` when the agent filed ``per_agent`` requests in the last
        ``window`` seconds (a looping agent cannot flood the approvers)."""
        ...

    def get(self, request_id: str, *, now: float) -> ApprovalRequest | None: ...

    def requests(
        self, *, now: float, status: RequestStatus | None = None, limit: int = 100
    ) -> list[ApprovalRequest]:
        """Newest first."""
        ...

    def add_approval(self, request_id: str, approver: str, token: str, *, now: float) -> ApprovalRequest:
        """Store a signed approval; the request is approved once enough distinct approvers signed."""
        ...

    def deny(self, request_id: str, *, by: str, reason: str, now: float) -> ApprovalRequest: ...
