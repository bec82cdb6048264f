"""Checks 1, 3, 4 and 5 of an allow: the identity, the one principal, the one operation and the
declared intent, each against the lenient ``Reading`` of the request and the audit record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fuzz.oracle.facts import INTENT_HEADER, Facts, Request
from fuzz.oracle.peer import Peer
from fuzz.oracle.reading import UNROUTED, Reading


def check_identity(f: Facts, r: Request, peer: Peer) -> list[str]:
    """1. a registered, active agent's SVID from the trust bundle, and ``source.principal`` its ID."""
    if peer.problem or peer.spiffe_id is None:
        return [f"1 identity: the certificate is no valid SVID ({peer.problem})"]
    if f.agents.get(peer.spiffe_id) != "active":
        return [f"1 identity: {peer.spiffe_id} is not a registered, active agent"]
    if r.principal != peer.spiffe_id:
        return [f"1 identity: source.principal {r.principal!r} is not the SAN {peer.spiffe_id}"]
    return []


def check_principal(
    reading: Reading, principal: str | None, principals: list[str], record: Mapping[str, Any]
) -> list[str]:
    """3. exactly one principal under every reading, named by the task, the audit's target."""
    found = []
    if len(reading.principals) != 1:
        found.append(f"3 principal: a lenient upstream reads {sorted(reading.principals)}, not exactly one")
    if principal is not None and principal not in principals:
        found.append(f"3 principal: {principal!r} is not among the task's principals {principals}")
    if principal is not None and record.get("target") != principal:
        found.append(f"3 principal: the audit's target is {record.get('target')!r}, not {principal!r}")
    return found


def check_operation(
    f: Facts,
    reading: Reading,
    operation: str | None,
    intent: Any,
    actions: list[str],
    peer: Peer,
    record: Mapping[str, Any],
) -> list[str]:
    """4. exactly one operation under every reading, among the task's actions, permitted by its
    intent for this agent, the audit's operation."""
    found = []
    if len(reading.operations) != 1 or UNROUTED in reading.operations:
        found.append(f"4 operation: a lenient upstream performs {sorted(reading.operations)}")
    if operation is not None:
        if operation not in actions:
            found.append(f"4 operation: {operation} is not among the task's actions {actions}")
        ops, agents = f.intents.get(str(intent), (frozenset(), frozenset()))
        if operation not in ops or peer.spiffe_id not in agents:
            found.append(f"4 operation: intent {intent!r} does not permit {operation} for this agent")
        if record.get("operation") != operation:
            found.append(f"4 operation: the audit's operation is {record.get('operation')!r}")
    return found


def check_intent(r: Request, claims: Mapping[str, Any]) -> list[str]:
    """5. ``x-agent-intent`` is the task's intent, exactly."""
    intent = claims.get("intent")
    if claims and r.headers.get(INTENT_HEADER) != intent:
        return [f"5 intent: x-agent-intent {r.headers.get(INTENT_HEADER)!r} is not {intent!r}"]
    return []
