"""Identity and routes: which agents get in at all, unknown routes, a gated change without
approval, a body that names another principal than the path."""

from __future__ import annotations

from collections.abc import Iterator

from authz.demo.scenarios.harness import BOT, Demo, Outcome


def identity_and_routes(d: Demo) -> Iterator[Outcome]:
    task = d.token()
    yield d.expect(
        "registered agent reads a user (with a task)",
        200,
        "",
        d.call(BOT, "GET", "/v1/users/alice", token=task),
    )
    yield d.expect(
        "unregistered agent with a valid SVID",
        403,
        "unknown_agent",
        d.call("rogue-bot", "GET", "/v1/users/alice", token=task),
    )
    yield d.expect(
        "suspended agent",
        403,
        "agent_suspended",
        d.call("suspended-bot", "GET", "/v1/users/alice", token=task),
    )
    yield d.expect("unknown route", 403, "unknown_route", d.call(BOT, "GET", "/v1/admin/export", token=task))
    reset = d.token(intent="credential_recovery", actions=("user.password.reset",))
    yield d.expect(
        "password reset without approval",
        403,
        "approval_required",
        d.call(
            BOT,
            "POST",
            "/v1/users/alice/password/reset",
            token=reset,
            intent="credential_recovery",
            body={"user": "alice"},
        ),
    )
    yield d.expect(
        "body principal disagrees with the path",
        403,
        "malformed_request",
        d.call(
            BOT,
            "POST",
            "/v1/users/alice/password/reset",
            token=reset,
            intent="credential_recovery",
            body={"user": "bob"},
        ),
    )
