"""Task tokens: scope (target, operation), a missing token, a changed intent that revokes the
task, another agent's SVID, expiry and the call budget."""

from __future__ import annotations

import time
from collections.abc import Iterator

from authz.demo.scenarios.harness import AUDITOR, BOT, Demo, Outcome


def task_tokens(d: Demo) -> Iterator[Outcome]:
    task = d.token()
    yield d.expect(
        "same task, other target",
        403,
        "principal_not_in_scope",
        d.call(BOT, "GET", "/v1/users/bob", token=task),
    )
    yield d.expect(
        "operation outside the task",
        403,
        "operation_not_in_scope",
        d.call(BOT, "POST", "/v1/users/alice/mfa/reset", token=task),
    )
    yield d.expect("no task token", 401, "task_token_missing", d.call(BOT, "GET", "/v1/users/alice"))
    drifting = d.token()
    yield d.expect(
        "changed intent",
        403,
        "intent_mismatch",
        d.call(BOT, "GET", "/v1/users/alice", token=drifting, intent="credential_recovery"),
    )
    yield d.expect(
        "then the original intent: the task is revoked",
        403,
        "task_revoked",
        d.call(BOT, "GET", "/v1/users/alice", token=drifting),
    )
    yield d.expect(
        "token presented with another agent's SVID",
        401,
        "token_binding_mismatch",
        d.call(AUDITOR, "GET", "/v1/users/alice", token=task),
    )
    expired = d.token(ttl=60, now=int(time.time()) - 600)
    yield d.expect(
        "expired token", 401, "task_token_expired", d.call(BOT, "GET", "/v1/users/alice", token=expired)
    )
    budget = d.token(max_calls=2)
    for _ in range(2):
        d.call(BOT, "GET", "/v1/users/alice", token=budget)
    yield d.expect(
        "budget of 2 calls, third call",
        403,
        "budget_exhausted",
        d.call(BOT, "GET", "/v1/users/alice", token=budget),
    )
