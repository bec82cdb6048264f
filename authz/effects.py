"""What a decision changes, as plain data: the stages name it, stage 10 applies it.

No stage writes while a decision is being made. A stage that decides something must change
puts it here — the allow's spend (stages 6 and 9), a task revoked by a changed intent (stage 5)
or by the agent completing it, an approval request for the humans (a deny that approvers could
lift) — and stage 10 (``authz/stages/record.py``) applies it, in one place, once the decision is
final: the spend atomically with the allow, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from authz.store.queue import NewRequest


@dataclass(frozen=True)
class Spend:
    """What an allow spends, in the same store transaction that re-checks revocation."""

    task_id: str
    max_calls: int | None  # the task's budget: charged one call (None: no budget, nothing charged)
    approval_ids: tuple[str, ...] = ()  # consumed, each once
    keep_until: float | None = None  # when the task expires: its budget counter need not outlive it
    approvals_until: float | None = None  # when the last of the approvals expires: nor need their marks


@dataclass(frozen=True)
class Revoke:
    """A task that stops working: its intent changed, or its agent completed it."""

    task_id: str
    reason: str  # "intent_mismatch" | "completed"
    by: str


@dataclass
class Effects:
    spend: Spend | None = None  # an allow: stages 6 and 9
    revoke: Revoke | None = None  # stage 5, or the task-complete endpoint
    file: NewRequest | None = None  # a deny approvers could lift: filed in the approval queue
