"""``agent-authz demo --api scim``: an agent in front of a real SCIM server (scim2-server, or
Canaille with ``--scim-server canaille``), through Envoy and agent-authz.

Every request is sent as an agent would send it, with the server's bearer token; every
outcome is checked twice — the answer, and then the server's own storage (``state()``,
``check_password()``), which shows what was executed and that nothing denied was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from authz.demo.client import Response
from authz.demo.scenarios.harness import BOT, Outcome
from authz.demo.scim_stack import ScimStack
from authz.devkit.scim import SeedGroup, SeedUser

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
USERS = (
    SeedUser("alice", "Alice-Old-1", emails=("alice@example.org",)),
    SeedUser("bob", "Bob-Old-1", emails=("bob@example.org",)),
    SeedUser("mallory", "Mallory-1"),
    # the approvers: separation of duties compares their directory entries with the target's
    SeedUser("dana", emails=("dana@example.org",)),
    SeedUser("erik", emails=("erik@example.org",)),
)
GROUPS = (SeedGroup("it-admins", ("bob",)), SeedGroup("staff", ("bob",)))
NEW_PASSWORD = "Alice-New-2"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


@dataclass(frozen=True)
class Scope:
    """A task: its intent, whom it names, what it permits."""

    intent: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]


READ_ALICE = Scope("scim_support", ("alice",), ("user.read",))
RECOVER_ALICE = Scope("scim_recovery", ("alice",), ("user.password.set",))
OFFBOARD_ALICE = Scope("scim_offboarding", ("alice",), ("user.disable",))
OFFBOARD_BOB = Scope("scim_offboarding", ("bob",), ("user.disable",))
OFFBOARD_MALLORY = Scope("scim_offboarding", ("mallory",), ("user.disable",))
GRANT_ALICE = Scope("scim_emergency_access", ("alice",), ("group.member.add",))


@dataclass
class ScimDemo:
    stack: ScimStack
    users: dict[str, str]  # userName -> the server's id
    groups: dict[str, str]

    def call(
        self, method: str, path: str, scope: Scope, body: dict[str, Any] | None = None,
        approvers: Sequence[str] = (),
    ) -> Response:  # fmt: skip
        """One request under a fresh task, approved by ``approvers`` for exactly these bytes."""
        stack, intent = self.stack, scope.intent
        task = stack.task_token(BOT, intent=intent, principals=scope.principals, actions=scope.actions)
        path = stack.base_path + path
        data = b"" if body is None else json.dumps(body).encode()
        headers = {**stack.agent_headers(), "x-agent-task-token": task, "x-agent-intent": intent}
        if body is None:
            del headers["content-type"]
        bound = {"agent": BOT, "operation": scope.actions[0], "principal": scope.principals[0]}
        approvals = [stack.approval(a, task, method, path, data, **bound) for a in approvers]
        if approvals:
            headers["x-approval-token"] = ",".join(approvals)
        return stack.client(BOT).request(method, path, data or None, headers)

    def outcome(self, name: str, expected: tuple[int | str, str], resp: Response) -> Outcome:
        status: int | str = resp.status
        if resp.status in (200, 201, 204) and not resp.reason:
            status = "executed"  # scim2-server answers a PATCH 204, Canaille 200
        return Outcome(name, expected[0], status, expected[1], resp.reason)


def reads(demo: ScimDemo) -> Iterator[Outcome]:
    alice, bob = demo.users["alice"], demo.users["bob"]
    yield demo.outcome("SCIM: read alice by the server's id, within the task", ("executed", ""),
                       demo.call("GET", f"/Users/{alice}", READ_ALICE))  # fmt: skip
    yield demo.outcome("SCIM: read bob, whom the task does not name", (403, "principal_not_in_scope"),
                       demo.call("GET", f"/Users/{bob}", READ_ALICE))  # fmt: skip


def smuggling(demo: ScimDemo) -> Iterator[Outcome]:
    """Changes hidden where a route-only reading would see a write or a read, each approved by
    two approvers: all refused, and the server's state unchanged after each."""
    alice, bob, scim = demo.users["alice"], demo.users["bob"], demo.stack.scim
    members = [scim.member(alice), scim.member(demo.users["mallory"])]
    cases: list[tuple[str, str, str, dict[str, Any], Scope, str]] = [
        ("a password in a path-less value, in capitals", "PATCH", f"/Users/{alice}",
         patch({"op": "replace", "value": {"PASSWORD": "Pwned-1", "Active": False}}), OFFBOARD_ALICE,
         "operation_not_in_scope"),
        ("a fully qualified password path", "PATCH", f"/Users/{alice}",
         patch({"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password",
                "value": "Pwned-1"}), OFFBOARD_ALICE, "operation_not_in_scope"),
        ("a recovery e-mail behind a value filter", "PATCH", f"/Users/{alice}",
         patch({"op": "replace", "path": 'emails[value eq "alice@example.org"].value',
                "value": "attacker@example.net"}), OFFBOARD_ALICE, "operation_not_in_scope"),
        ("a /Bulk read of alice beside a reset of bob", "POST", "/Bulk",
         {"schemas": [BULK], "Operations": [
             {"method": "GET", "path": f"/Users/{alice}"},
             {"method": "PATCH", "path": f"/Users/{bob}",
              "data": patch({"op": "replace", "path": "password", "value": "Pwned-1"})}]},
         READ_ALICE, "malformed_request"),
        ("a group PATCH adding someone the task does not name", "PATCH", f"/Groups/{demo.groups['staff']}",
         patch({"op": "add", "path": "members", "value": members}), GRANT_ALICE, "principal_not_in_scope"),
    ]  # fmt: skip
    for name, method, path, body, scope, reason in cases:
        before = scim.state()
        resp = demo.call(method, path, scope, body, approvers=("dana", "erik"))
        got = demo.outcome(f"SCIM attack: {name}", (403, reason), resp)
        yield got if scim.state() == before else replace(got, status="state changed")


def changes(demo: ScimDemo) -> Iterator[Outcome]:
    alice, bob = f"/Users/{demo.users['alice']}", f"/Users/{demo.users['bob']}"
    mallory = f"/Users/{demo.users['mallory']}"
    reset = patch({"op": "replace", "path": "password", "value": NEW_PASSWORD})
    disable = patch({"op": "replace", "path": "active", "value": False})
    add = patch({"op": "add", "path": "members", "value": [demo.stack.scim.member(demo.users["alice"])]})
    admins = f"/Groups/{demo.groups['it-admins']}"
    cases: list[tuple[str, str, str, dict[str, Any], Scope, tuple[str, ...], tuple[int | str, str]]] = [
        ("set alice's password without approval", "PATCH", alice, reset, RECOVER_ALICE, (),
         (403, "approval_required")),
        ("set alice's password, approved by dana", "PATCH", alice, reset, RECOVER_ALICE, ("dana",),
         ("executed", "")),
        ("disable bob, one approver: he is in it-admins, the SCIM server says", "PATCH", bob, disable,
         OFFBOARD_BOB, ("erik",), (403, "approvals_insufficient")),
        ("disable mallory, approved by erik", "PATCH", mallory, disable, OFFBOARD_MALLORY, ("erik",),
         ("executed", "")),
        ("break-glass grant into it-admins, one approver", "PATCH", admins, add, GRANT_ALICE, ("dana",),
         (403, "approvals_insufficient")),
        ("break-glass grant into it-admins, two approvers", "PATCH", admins, add, GRANT_ALICE,
         ("dana", "erik"), ("executed", "")),
    ]  # fmt: skip
    for name, method, path, body, scope, approvers, expected in cases:
        yield demo.outcome(f"SCIM: {name}", expected, demo.call(method, path, scope, body, approvers))


def server_state(demo: ScimDemo) -> Iterator[Outcome]:
    """What the server holds at the end: exactly the three allowed changes."""
    scim, state = demo.stack.scim, demo.stack.scim.state()
    facts = {
        "alice's password is the approved one": scim.check_password("alice", NEW_PASSWORD),
        "bob's password is untouched": scim.check_password("bob", "Bob-Old-1"),
        "mallory is disabled, bob and alice are not": [
            state["users"][u]["active"] for u in ("mallory", "bob", "alice")
        ] == [False, True, True],
        "it-admins holds alice and bob, staff only bob": (
            state["groups"]["it-admins"]["members"], state["groups"]["staff"]["members"]
        ) == (["alice", "bob"], ["bob"]),
        "alice's recovery e-mail is hers": state["users"]["alice"]["emails"] == ["alice@example.org"],
    }  # fmt: skip
    for fact, holds in facts.items():
        yield Outcome(f"SCIM server state: {fact}", "yes", "yes" if holds else "no", "", "")


SCRIPT: tuple[Callable[[ScimDemo], Iterator[Outcome]], ...] = (reads, smuggling, changes, server_state)


def run_scim(stack: ScimStack, progress: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    seeded = stack.scim.seed(USERS, GROUPS)
    demo, outcomes = ScimDemo(stack, seeded.users, seeded.groups), []
    for part in SCRIPT:
        for outcome in part(demo):
            progress(outcome)
            outcomes.append(outcome)
    return outcomes
