"""One approval, many concurrent uses, two agent-authz processes: it is spent exactly once.

End to end, through one Envoy spreading Checks over both processes. That the consume-once
transaction wins every race, also between processes released together, is shown closer in:
tests/unit/store/test_sqlite_concurrency.py (test_processes_racing_for_approvals_consume_each_once).
"""

from __future__ import annotations

import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import E2E, Sent

pytestmark = pytest.mark.e2e

RESET = "/v1/users/alice/password/reset"
BODY = json.dumps({"user": "alice"}).encode()
ATTEMPTS = 200


def decisions(e2e: E2E, metrics: str) -> int:
    url = f"http://127.0.0.1:{e2e.stack.ports[metrics]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return sum(int(float(v)) for v in re.findall(r"^authz_decisions_total\{[^}]*\} ([\d.e+]+)$", text, re.M))


def test_200_concurrent_requests_with_one_approval_across_two_processes(two_authorizers: E2E) -> None:
    e2e = two_authorizers
    agent = e2e.agent()
    task = agent.token(intent="credential_recovery", actions=("user.password.reset",), principals=("alice",))
    approval = e2e.stack.approval(
        "dana", task, "POST", RESET, BODY,
        agent="helpdesk-bot", operation="user.password.reset", principal="alice",
    )  # fmt: skip
    before = [decisions(e2e, m) for m in ("metrics", "metrics2")]

    def attempt(_: int) -> Sent:
        headers = {"x-approval-token": approval}
        return agent.request("POST", RESET, BODY, headers, token=task, intent="credential_recovery")

    with ThreadPoolExecutor(max_workers=32) as pool:
        sent = list(pool.map(attempt, range(ATTEMPTS)))
    outcomes = [(resp.status, resp.reason) for resp in sent]
    assert outcomes.count((200, "")) == 1, sorted(set(outcomes))
    assert outcomes.count((403, "approval_replayed")) == ATTEMPTS - 1, sorted(set(outcomes))
    (allowed,) = [resp for resp in sent if resp.status == 200]
    e2e.reached_once(allowed, approved_by="dana")
    executed = [r for r in e2e.stack.upstream_record() if r["method"] == "POST" and r["path"] == RESET]
    assert len(executed) == 1, "the approval was spent more than once"
    after = [decisions(e2e, m) for m in ("metrics", "metrics2")]
    assert all(a > b for a, b in zip(after, before, strict=True)), "both processes decided some"
