"""What an audit record holds: who decided what about which request — no secrets, no tokens,
no bodies, no query strings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from authz.model import Decision


def _trace_id(headers: Any) -> str | None:
    parts = headers.get("traceparent", "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return str(parts[1])
    value = headers.get("x-b3-traceid")
    return None if value is None else str(value)[:32]


def is_decision(record: Mapping[str, Any]) -> bool:
    """A decision's record, not one of the records that follow it in the chain (``outcome``,
    ``outcome_missing``: those name their kind in ``record``)."""
    return "record" not in record


def audit_record(decision: Decision, now: dt.datetime, elapsed: float) -> dict[str, Any]:
    """What happened, without secrets: no tokens, no bodies, no query strings."""
    request, agent, operation, task = decision.request, decision.agent, decision.operation, decision.task
    return {
        "decision_id": decision.decision_id,
        "time": now.isoformat(timespec="microseconds"),
        "decision": "allow" if decision.allowed else "deny",
        "reason": str(decision.reason),
        "agent": agent.spiffe_id if agent else None,
        "owner": agent.owner if agent else None,
        "peer": request.principal[:512] or None,
        "sub": task.subject if task else None,
        "act": list(task.actors) if task else None,
        "intent": decision.request.note("x-agent-intent"),
        "justification": decision.request.note("x-agent-justification"),
        "prompt_ref": decision.request.note("x-agent-prompt-ref"),
        "operation": operation.name if operation else None,
        "class": operation.op_class if operation else None,
        "reversible": operation.reversible if operation else None,
        "method": request.method[:16],
        "path": request.path.partition("?")[0][:2048],
        "target": operation.target if operation else None,
        "target_attributes": _attributes(decision),
        "group": _group(decision),
        "actions": _actions(decision),
        "task": task.task_id if task else None,
        "approvers": decision.approvers,
        "approval_ids": [a.approval_id for a in decision.approvals],
        "policies": list(decision.policies),
        "shadow": decision.shadow,
        "store_staleness": None if decision.store_staleness is None else round(decision.store_staleness, 3),
        "request_id": request.request_id[:128] or None,
        "trace_id": _trace_id(request.headers),
        "latency_us": int(elapsed * 1e6),
    }


def _attributes(decision: Decision) -> dict[str, Any] | None:
    """What the directory said about the target (stage 7), or that a read went on without it."""
    t = decision.target
    if t is None:
        return None
    if decision.context_degraded:
        return {"unknown": "directory unavailable; read allowed by the degraded rule"}
    return {
        "name": t.name,  # the directory's canonical name: whom the upstream acts on
        "exists": t.exists,
        "kind": t.kind,
        "privileged": t.privileged,
        "groups": sorted(t.groups),
        "active": t.active,
        "roles": sorted(t.roles),
    }


def _group(decision: Decision) -> dict[str, Any] | None:
    g = decision.group
    return None if g is None else {"name": g.name, "exists": g.exists, "privileged": g.privileged}


def _actions(decision: Decision) -> list[dict[str, Any]] | None:
    """Every action of a request that does several (a SCIM PATCH); None for one action."""
    operation = decision.operation
    if operation is None or not operation.derived:
        return None
    return [
        {
            "operation": a.name,
            "class": a.op_class,
            "target": a.target,
            "group": a.group,
            "reversible": a.reversible,
        }
        for a in operation.actions
    ]
