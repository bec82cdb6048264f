"""The ``Oracle``: judges an allow by the six checks, in order, and tracks what each outcome
changes (``Records``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fuzz.oracle.checks import check_identity, check_intent, check_operation, check_principal
from fuzz.oracle.facts import Facts, Request, TokenFacts, carried_task
from fuzz.oracle.peer import Peer, read_peer
from fuzz.oracle.reading import UNROUTED, read_request
from fuzz.oracle.records import Records
from fuzz.oracle.tokens import check_approvals, check_task, task_details

POLL = re.compile(r"/\.well-known/agent-authz/approvals/apr-[0-9a-f]{16}")


@dataclass
class Oracle:
    facts: Facts
    now: int
    records: Records = field(default_factory=Records)
    _peers: dict[str, Peer] = field(default_factory=dict)

    def peer(self, certificate: str) -> Peer:
        if certificate not in self._peers:
            self._peers[certificate] = read_peer(self.facts, self.now, certificate)
        return self._peers[certificate]

    def judge(
        self,
        r: Request,
        task: TokenFacts | None,
        approvals: Mapping[str, TokenFacts],
        record: Mapping[str, Any] | None,
    ) -> list[str]:
        """Every invariant this allow breaks (empty: a rightful allow)."""
        f, peer = self.facts, self.peer(r.certificate)
        found = check_identity(f, r, peer)
        if r.method == "GET" and POLL.fullmatch(r.path):
            return found  # the agent-facing approval API: identity is all it takes
        if record is None or record.get("decision") != "allow":
            found.append("10 record: no audit record of this allow")
            record = {}
        reading = read_request(f, r)
        carried = carried_task(r, task)
        found += check_task(f, self.now, self.records, peer, carried)
        claims = carried.claims if carried is not None else {}
        principals, actions = task_details(claims) or ([], [])
        principal = next(iter(reading.principals), None)
        found += check_principal(reading, principal, principals, record)
        operation = next(iter(reading.operations - {UNROUTED}), None)
        found += check_operation(f, reading, operation, claims.get("intent"), actions, peer, record)
        found += check_intent(r, claims)
        route = reading.routes[0] if len(reading.routes) == 1 else None
        if route is not None and route.gated and principal is not None and operation is not None:
            found += check_approvals(f, self.now, self.records, r, peer, claims, approvals, route, principal)
        return found

    def observe(
        self,
        r: Request,
        task: TokenFacts | None,
        approvals: Mapping[str, TokenFacts],
        allowed: bool,
        reason: str,
    ) -> None:
        """Track what an outcome changes: calls charged and approvals spent by an allow, tasks
        revoked by a completion or a changed intent (as the authorizer reports them)."""
        self.records.observe(self.facts, r, carried_task(r, task), approvals, allowed, reason)
