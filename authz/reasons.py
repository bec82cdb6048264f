"""Stable reason codes, and the one exception that carries them through the pipeline.

The same string is the deny body's ``error``, the ``x-authz-reason`` header, the audit
record's ``reason`` and the ``reason`` label of ``authz_decisions_total``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from authz.effects import Revoke
from authz.errors import AuthzError


class Reason(StrEnum):
    ALLOWED = "allowed"
    TASK_COMPLETED = "task_completed"  # the agent ended its task; answered by agent-authz itself
    READY = "ready"  # a readiness probe through the proxy; answered by agent-authz itself
    # stage 1: identity
    MISSING_CLIENT_IDENTITY = "missing_client_identity"
    INVALID_CLIENT_CERTIFICATE = "invalid_client_certificate"
    UNKNOWN_AGENT = "unknown_agent"
    AGENT_SUSPENDED = "agent_suspended"
    # stage 2: operation
    UNKNOWN_ROUTE = "unknown_route"
    MALFORMED_REQUEST = "malformed_request"
    # stage 3: task
    TASK_TOKEN_MISSING = "task_token_missing"
    TASK_TOKEN_INVALID = "task_token_invalid"
    TASK_TOKEN_EXPIRED = "task_token_expired"
    TOKEN_BINDING_MISMATCH = "token_binding_mismatch"
    TASK_REVOKED = "task_revoked"
    # stage 4: binding
    PRINCIPAL_NOT_IN_SCOPE = "principal_not_in_scope"
    OPERATION_NOT_IN_SCOPE = "operation_not_in_scope"
    # stage 5: intent
    INTENT_MISSING = "intent_missing"
    INTENT_MISMATCH = "intent_mismatch"
    # stage 6: approval
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_INVALID = "approval_invalid"
    APPROVAL_NOT_BOUND = "approval_not_bound"
    APPROVER_NOT_ALLOWED = "approver_not_allowed"
    APPROVALS_INSUFFICIENT = "approvals_insufficient"
    APPROVAL_REPLAYED = "approval_replayed"
    APPROVAL_REQUEST_UNKNOWN = "approval_request_unknown"  # a poll of no request of the caller's
    # stages 7-9
    CONTEXT_UNAVAILABLE = "context_unavailable"
    TARGET_UNKNOWN = "target_unknown"  # a change to a principal or group the directory does not know
    TARGET_AMBIGUOUS = "target_ambiguous"  # a name that folds onto another known principal or group
    POLICY_DENIED = "policy_denied"
    BUDGET_EXHAUSTED = "budget_exhausted"
    # stage 10 and anything unexpected
    AUDIT_UNAVAILABLE = "audit_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"
    INTERNAL_ERROR = "internal_error"


#: The pipeline's stages (docs/design.md), and the stage each deny reason belongs to.
STAGES = (
    "identity",
    "operation",
    "task",
    "binding",
    "intent",
    "approval",
    "context",
    "policy",
    "budget",
    "record",
)
_BY_STAGE: tuple[tuple[Reason, ...], ...] = (
    (
        Reason.MISSING_CLIENT_IDENTITY,
        Reason.INVALID_CLIENT_CERTIFICATE,
        Reason.UNKNOWN_AGENT,
        Reason.AGENT_SUSPENDED,
    ),
    (Reason.UNKNOWN_ROUTE, Reason.MALFORMED_REQUEST),
    (
        Reason.TASK_TOKEN_MISSING,
        Reason.TASK_TOKEN_INVALID,
        Reason.TASK_TOKEN_EXPIRED,
        Reason.TOKEN_BINDING_MISMATCH,
        Reason.TASK_REVOKED,
    ),
    (Reason.PRINCIPAL_NOT_IN_SCOPE, Reason.OPERATION_NOT_IN_SCOPE),
    (Reason.INTENT_MISSING, Reason.INTENT_MISMATCH),
    (
        Reason.APPROVAL_REQUIRED,
        Reason.APPROVAL_INVALID,
        Reason.APPROVAL_NOT_BOUND,
        Reason.APPROVER_NOT_ALLOWED,
        Reason.APPROVALS_INSUFFICIENT,
        Reason.APPROVAL_REPLAYED,
        Reason.APPROVAL_REQUEST_UNKNOWN,
    ),
    (Reason.CONTEXT_UNAVAILABLE, Reason.TARGET_UNKNOWN, Reason.TARGET_AMBIGUOUS),
    (Reason.POLICY_DENIED,),
    (Reason.BUDGET_EXHAUSTED,),
    (Reason.AUDIT_UNAVAILABLE, Reason.STORE_UNAVAILABLE, Reason.INTERNAL_ERROR),
)
STAGE_OF = {reason: number for number, reasons in enumerate(_BY_STAGE, start=1) for reason in reasons}


_UNAUTHENTICATED = frozenset(
    {
        Reason.MISSING_CLIENT_IDENTITY,
        Reason.INVALID_CLIENT_CERTIFICATE,
        Reason.TASK_TOKEN_MISSING,
        Reason.TASK_TOKEN_INVALID,
        Reason.TASK_TOKEN_EXPIRED,
        Reason.TOKEN_BINDING_MISMATCH,
    }
)
#: Answers that are not refusals: no stage denies them, their status is 200.
NOT_DENIES = frozenset({Reason.ALLOWED, Reason.TASK_COMPLETED, Reason.READY})
_UNAVAILABLE = frozenset({Reason.AUDIT_UNAVAILABLE, Reason.STORE_UNAVAILABLE, Reason.INTERNAL_ERROR})


def http_status(reason: Reason) -> int:
    """The HTTP status of a deny (docs/reasons.md): 401 identity/token, 503 unavailable, 404 a
    poll of no approval request of the caller's, else 403."""
    if reason in NOT_DENIES:
        return 200
    if reason in _UNAUTHENTICATED:
        return 401
    if reason in _UNAVAILABLE:
        return 503
    if reason is Reason.APPROVAL_REQUEST_UNKNOWN:
        return 404
    return 403


class Denied(AuthzError):
    """A stage refused the request. ``message`` is safe to show the agent: no token or key text.

    ``extra`` holds more fields for the deny body, e.g. what to get approved. ``stage`` is the
    stage that denied (1-10): the one its reason belongs to (``STAGE_OF``) unless given — a
    policy (stage 8) can deny with an approval reason. ``liftable``: more approvers might lift
    it (the pipeline then asks how many, ``authz/stages/lift.py``). ``revoke``: the deny also
    ends a task (a changed intent), which stage 10 applies.
    """

    def __init__(
        self,
        reason: Reason,
        message: str,
        extra: dict[str, Any] | None = None,
        stage: int | None = None,
        *,
        liftable: bool = False,
        revoke: Revoke | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.extra = extra or {}
        self.stage = stage or STAGE_OF.get(reason, len(STAGES))
        self.liftable, self.revoke = liftable, revoke
