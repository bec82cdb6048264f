"""Stage 9 — budget: a task with ``budget.max_calls`` is allowed that many calls, no more.

Many small permitted actions can add up to a large one; a per-task budget bounds that. The
count is the one stage 7 read (the policy saw the same); the allow's spend — this call charged
and the request's approvals consumed — is returned for stage 10 to commit atomically with the
allow, re-checking the count, so concurrent calls in several processes never exceed it.
"""

from __future__ import annotations

from authz.effects import Spend
from authz.model import Context
from authz.reasons import Denied, Reason
from authz.tokens.approval import Approval
from authz.tokens.task import Task


def check_budget(task: Task, context: Context, approvals: tuple[Approval, ...]) -> Spend:
    if task.max_calls is not None and context.task_calls >= task.max_calls:
        raise Denied(Reason.BUDGET_EXHAUSTED, f"task {task.task_id} has used its {task.max_calls} calls")
    ids = tuple(a.approval_id for a in approvals)
    until = min(task.expires, max(a.expires for a in approvals)) if approvals else None  # bound to the task
    return Spend(task.task_id, task.max_calls, ids, task.expires, until)
