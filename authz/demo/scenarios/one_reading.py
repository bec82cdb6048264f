"""One reading: requests an upstream could read differently from agent-authz, and names it
could fold onto another person."""

from __future__ import annotations

from collections.abc import Iterator

from authz.demo.scenarios.harness import BOT, RESET_ALICE, Change, Demo, Outcome


def one_reading(d: Demo) -> Iterator[Outcome]:
    """Requests an upstream could read differently from agent-authz, and names it could fold."""
    grant = d.token(intent="access_change", actions=("group.member.add",), principals=("alice",))
    yield d.expect(
        'body key "User" where the route reads "user"', 403, "malformed_request",
        d.call(BOT, "POST", "/v1/groups/staff/members", token=grant, intent="access_change",
               body={"user": "alice", "User": "bob"}),
    )  # fmt: skip
    yield d.expect(
        "a read with X-HTTP-Method-Override: DELETE", 403, "malformed_request",
        d.call(BOT, "GET", "/v1/users/alice", token=d.token(), extra={"x-http-method-override": "DELETE"}),
    )  # fmt: skip
    shouting = d.token(intent="credential_recovery", actions=("user.password.reset",), principals=("CAROL",))
    upper = Change("POST", "/v1/users/CAROL/password/reset", b"", "user.password.reset", "CAROL",
                   "credential_recovery")  # fmt: skip
    yield d.expect(
        "a task naming CAROL: folds onto privileged carol", 403, "target_ambiguous",
        d.change(shouting, upper, [d.approve("dana", shouting, upper)]),
    )  # fmt: skip
    for_bob = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("alice",),
        on_behalf_of="bob@example.org",
    )  # fmt: skip
    yield d.expect(
        "bob approves a task on behalf of bob@example.org", 403, "approver_not_allowed",
        d.change(for_bob, RESET_ALICE, [d.approve("bob", for_bob, RESET_ALICE)]),
    )  # fmt: skip
