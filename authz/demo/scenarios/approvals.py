"""Approvals: the queue (the agent polls, an approver approves with the CLI, the agent retries),
replays, approvals bound to another request, separation of duties, break-glass thresholds,
expiry."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

from authz.demo.scenarios.harness import (
    GRANT_ADMIN,
    GRANT_VIEWER,
    RESET_ALICE,
    RESET_BOB,
    Demo,
    Outcome,
    as_json,
)
from authz.demo.stack import Stack


def approvals(d: Demo) -> Iterator[Outcome]:
    reset = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("alice", "bob")
    )
    yield from _the_queue(d, reset)
    yield from _bound_to_one_request(d, reset)
    yield from _break_glass(d)
    stale = d.approve("dana", reset, RESET_BOB, now=int(time.time()) - 1000)
    yield d.expect("an expired approval", 403, "approval_invalid", d.change(reset, RESET_BOB, [stale]))


def _the_queue(d: Demo, reset: str) -> Iterator[Outcome]:
    """Denied for want of an approval and filed; approved at the queue; used once."""
    asked = d.change(reset, RESET_ALICE).json()["approval"]  # denied: approval_required, and filed
    yield d.expect("the agent polls its approval request", 200, "PENDING", d.poll(asked["poll"]))
    dana = str(d.stack.workdir / "keys" / "approver-dana.key")
    _approvals_cli(d.stack, "approve", "--key", dana, asked["request_id"])
    polled = d.poll(asked["poll"])
    yield d.expect("dana approves it (approvals approve); the agent polls", 200, "APPROVED", polled)
    approval = polled.json()["approval_header"]
    yield d.expect(
        "the agent retries with the approval: the API executes it",
        200,
        "",
        d.change(reset, RESET_ALICE, [approval]),
    )
    yield d.expect(
        "the same approval again", 403, "approval_replayed", d.change(reset, RESET_ALICE, [approval])
    )


def _bound_to_one_request(d: Demo, reset: str) -> Iterator[Outcome]:
    """An approval for another principal or body, and one by the on-behalf-of user."""
    for_alice = d.approve("dana", reset, RESET_ALICE)
    yield d.expect(
        "an approval for alice used on bob",
        403,
        "approval_not_bound",
        d.change(reset, RESET_BOB, [for_alice]),
    )
    grant = d.token(intent="access_change", actions=("group.member.add",), principals=("bob",))
    viewer = d.approve("dana", grant, GRANT_VIEWER)
    admin_body = as_json({"user": "bob", "role": "admin"})
    yield d.expect(
        "same path, body changed to role admin",
        403,
        "approval_not_bound",
        d.change(grant, GRANT_VIEWER, [viewer], body=admin_body),
    )
    for_bob = d.token(
        intent="credential_recovery",
        actions=("user.password.reset",),
        principals=("alice",),
        on_behalf_of="bob",
    )
    yield d.expect(
        "approved by the on-behalf-of user",
        403,
        "approver_not_allowed",
        d.change(for_bob, RESET_ALICE, [d.approve("bob", for_bob, RESET_ALICE)]),
    )


def _break_glass(d: Demo) -> Iterator[Outcome]:
    """Emergency access takes two distinct approvers."""
    glass = d.token(intent="emergency_access", actions=("group.member.add",), principals=("bob",))
    yield d.expect(
        "break-glass grant with one approval",
        403,
        "approvals_insufficient",
        d.change(glass, GRANT_ADMIN, [d.approve("dana", glass, GRANT_ADMIN)]),
    )
    twice = [d.approve("dana", glass, GRANT_ADMIN) for _ in range(2)]
    yield d.expect(
        "break-glass, one approver twice", 403, "approvals_insufficient", d.change(glass, GRANT_ADMIN, twice)
    )
    two = [d.approve(a, glass, GRANT_ADMIN) for a in ("dana", "erik")]
    yield d.expect("break-glass, two distinct approvers", 200, "", d.change(glass, GRANT_ADMIN, two))


def _approvals_cli(stack: Stack, action: str, *args: str) -> None:
    """An approver at the queue: the CLI, another process sharing the store."""
    argv = [sys.executable, "-m", "authz", "approvals", action, "--config", str(stack.config_path), *args]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
