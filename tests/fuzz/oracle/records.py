"""What the oracle remembers from outcomes (as the authorizer reports them): the calls charged
to each task and the approvals spent by allows, the tasks revoked by a completion or a changed
intent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fuzz.oracle.facts import APPROVAL_HEADER, INTENT_HEADER, Facts, Request, TokenFacts
from fuzz.oracle.reading import read_request


@dataclass
class Records:
    consumed: set[str] = field(default_factory=set)  # approval jtis spent by allows
    calls: dict[str, int] = field(default_factory=dict)  # allows per task
    revoked: set[str] = field(default_factory=set)  # tasks completed or intent-changed

    def observe(
        self,
        facts: Facts,
        r: Request,
        carried: TokenFacts | None,
        approvals: Mapping[str, TokenFacts],
        allowed: bool,
        reason: str,
    ) -> None:
        """Track what an outcome changes; ``carried``: the task token the request carries."""
        task_id = str(carried.claims.get("jti")) if carried is not None else None
        if allowed:
            if task_id is not None:
                self.calls[task_id] = self.calls.get(task_id, 0) + 1
            if any(rt.op_class != "read" for rt in read_request(facts, r).routes):
                for token in r.headers.get(APPROVAL_HEADER, "").split(","):
                    if (a := approvals.get(token.strip())) is not None:
                        self.consumed.add(str(a.claims.get("jti")))
        elif task_id is not None and carried is not None:
            declared = r.headers.get(INTENT_HEADER)
            if reason == "task_completed" or (
                reason == "intent_mismatch" and declared != carried.claims.get("intent")
            ):
                self.revoked.add(task_id)
