"""Stage 4 — binding: the request touches exactly an account the task names, with an action it names.

Names are compared the way the upstream compares them (the route's ``NameRule``): exactly, or
folded (NFKC + Unicode case folding) for an upstream that folds — then a task naming ``carol``
covers ``CAROL``, because that is whom the upstream acts on. Under exact comparison ``Alice``
and ``alice\\u200b`` are other principals than ``alice`` (and stage 7 refuses a name that only
folds onto a known one).
"""

from __future__ import annotations

from authz.model import Operation
from authz.names import NameRule, fold
from authz.reasons import Denied, Reason
from authz.tokens.task import Task


def check_binding(task: Task, operation: Operation) -> None:
    """Every action of the request: its principal and its operation are the task's."""
    rule = operation.route.names
    named = task.principals if rule is NameRule.EXACT else {fold(p) for p in task.principals}
    for action in operation.actions:
        if (action.target if rule is NameRule.EXACT else fold(action.target)) not in named:
            raise Denied(
                Reason.PRINCIPAL_NOT_IN_SCOPE,
                f"task {task.task_id} does not name the principal this request touches",
            )
        if action.name not in task.actions:
            raise Denied(Reason.OPERATION_NOT_IN_SCOPE, f"task {task.task_id} does not allow {action.name}")
