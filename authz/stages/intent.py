"""Stage 5 — intent: the declared ``x-agent-intent`` is the task's, and the catalogue permits it.

An agent whose declared intent drifts from its task's is treated as compromised or confused:
the deny carries the task's revocation, which stage 10 applies, and every later request with
it gets ``task_revoked``.
"""

from __future__ import annotations

from collections.abc import Mapping

from authz.config import Intent
from authz.effects import Revoke
from authz.model import Operation
from authz.reasons import Denied, Reason
from authz.tokens.task import Task


class IntentStage:
    def __init__(self, catalogue: Mapping[str, Intent]) -> None:
        self._catalogue = catalogue

    def check(self, declared: str | None, task: Task, operation: Operation) -> Intent:
        if not declared:
            raise Denied(Reason.INTENT_MISSING, "declare the task's intent in x-agent-intent")
        if declared != task.intent:  # also two headers, which Envoy joins with ','
            raise Denied(
                Reason.INTENT_MISMATCH,
                f"declared intent differs from task {task.task_id}'s; the task is revoked",
                revoke=Revoke(task.task_id, reason="intent_mismatch", by=task.agent),
            )
        intent = self._catalogue.get(task.intent)
        if intent is None or task.agent not in intent.agents:
            raise Denied(
                Reason.INTENT_MISMATCH, f"intent {task.intent!r} is not in the catalogue for this agent"
            )
        for action in operation.actions:
            if action.name not in intent.operations:
                raise Denied(Reason.INTENT_MISMATCH, f"intent {task.intent!r} does not permit {action.name}")
        return intent
