"""Stage 4 — binding: the request touches exactly an account the task names, with an action it names.

Exact comparison only: no case folding, no Unicode normalisation — ``Alice`` and ``alice\\u200b``
are other principals than ``alice``.
"""

from __future__ import annotations

from authz.reasons import Denied, Reason
from authz.stages.operation import Operation
from authz.tasks import Task


def check_binding(task: Task, operation: Operation) -> None:
    if operation.target not in task.principals:
        raise Denied(
            Reason.PRINCIPAL_NOT_IN_SCOPE,
            f"task {task.task_id} does not name the principal this request touches",
        )
    if operation.name not in task.actions:
        raise Denied(Reason.OPERATION_NOT_IN_SCOPE, f"task {task.task_id} does not allow {operation.name}")
