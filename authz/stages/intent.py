"""Stage 5 — intent: the declared ``x-agent-intent`` is the task's, and the catalogue permits it.

An agent whose declared intent drifts from its task's is treated as compromised or confused:
the task is revoked, and every later request with it gets ``task_revoked``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from authz.config import Intent
from authz.reasons import Denied, Reason
from authz.stages.operation import Operation
from authz.store import StateStore
from authz.tasks import Task


class IntentStage:
    def __init__(
        self, catalogue: Mapping[str, Intent], store: StateStore, on_revoke: Callable[[], None] = lambda: None
    ) -> None:
        self._catalogue = catalogue
        self._store = store
        self._on_revoke = on_revoke

    def check(self, declared: str | None, task: Task, operation: Operation) -> Intent:
        if not declared:
            raise Denied(Reason.INTENT_MISSING, "declare the task's intent in x-agent-intent")
        if declared != task.intent:  # also two headers, which Envoy joins with ','
            if self._store.revoke_task(task.task_id, reason="intent_mismatch", by=task.agent):
                self._on_revoke()
            raise Denied(
                Reason.INTENT_MISMATCH,
                f"declared intent differs from task {task.task_id}'s; the task is revoked",
            )
        intent = self._catalogue.get(task.intent)
        if intent is None or task.agent not in intent.agents:
            raise Denied(
                Reason.INTENT_MISMATCH, f"intent {task.intent!r} is not in the catalogue for this agent"
            )
        if operation.name not in intent.operations:
            raise Denied(Reason.INTENT_MISMATCH, f"intent {task.intent!r} does not permit {operation.name}")
        return intent
