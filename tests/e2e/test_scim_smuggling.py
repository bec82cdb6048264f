"""Changes smuggled past agent-authz in requests a real SCIM client sends, through Envoy, to two
real SCIM servers: each is denied, for the reason that names what it hides, and the servers'
own storage proves nothing was executed (``scim_agent.CheckedTransport`` compares ``state()``
around every request; passwords are checked with ``check_password``).

The hidden changes are real ones: ``test_the_hidden_changes_are_ones_the_servers_execute`` sends
the same bodies to each server directly (not through Envoy) and sees them executed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scim2_client import Me
from scim2_models import Group, PatchOp, PatchOperation, User
from scim_agent import BULK, PATCH_OP, Scim, ScimAgent, ScimWorld, Task, changes, patch, scim_world

from authz.demo.scim_stack import SERVERS
from authz.devkit.scim import SeedGroup, SeedUser

pytestmark = pytest.mark.e2e

URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PWNED = "Pwned-1"
PASSWORDS = {"alice": "Alice-Old-1", "bob": "Bob-Old-1", "carol": "Carol-Old-1"}
USERS = (
    *(SeedUser(name, password, emails=(f"{name}@example.org",)) for name, password in PASSWORDS.items()),
    SeedUser("mallory", "Mallory-1"),
    SeedUser("oscar", "Oscar-1"),  # staff's one member (Canaille refuses a group without)
    SeedUser("dana", emails=("dana@example.org",)),  # the approvers, as the directory knows them
    SeedUser("erik", emails=("erik@example.org",)),
)
GROUPS = (SeedGroup("staff", ("oscar",)),)
READ_ALICE = Task("scim_support", ("alice",), ("user.read",))
DISABLE_ALICE = Task("scim_offboarding", ("alice",), ("user.read", "user.disable"))
DISABLE = {"op": "replace", "path": "active", "value": False}
RESET = {"op": "replace", "path": "password", "value": PWNED}

ATTACKER = "x@attacker.example"
PASSWORD, EMAILS = ("user.password.set", "password_fingerprint"), ("user.emails.change", "emails")


def replace(path: str | None, value: Any) -> dict[str, Any]:
    return {"op": "replace", "value": value} | ({} if path is None else {"path": path})


#: A PATCH operation on alice a disable task may not carry: the operation; what agent-authz must
#: read it as; what the server changes when it is sent directly (None: nothing on these servers).
HIDDEN: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "password-in-a-pathless-value": (replace(None, {"PASSWORD": PWNED, "Active": False}), *PASSWORD),
    "path-Password": (replace("Password", PWNED), *PASSWORD),
    "path-pAsSwOrD": (replace("pAsSwOrD", PWNED), *PASSWORD),
    "urn-qualified-path": (replace(f"{URN}:password", PWNED), *PASSWORD),
    "urn-keyed-value": (replace(None, {URN: {"password": PWNED}}), *PASSWORD),
    # no e-mail has a type here: scim2-server answers 400, Canaille 500
    "work-email-by-type": (replace('emails[type eq "work"].value', ATTACKER), EMAILS[0], None),
    "email-by-value": (replace('emails[value eq "alice@example.org"].value', ATTACKER), *EMAILS),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimWorld]:
    with scim_world(tmp_path_factory.mktemp(request.param), request.param, USERS, GROUPS) as started:
        yield started


@pytest.fixture
def agent(world: ScimWorld) -> ScimAgent:
    return world.agent()


def modify(resource: type[User] | type[Group], ident: str, body: dict[str, Any]) -> Callable[[Scim], Any]:
    """A PatchOp sent as raw JSON: scim2-client passes a dict on as it is."""
    return lambda scim: scim.modify(resource, ident, body)


def passwords_hold(world: ScimWorld) -> bool:
    return all(world.stack.scim.check_password(name, old) for name, old in PASSWORDS.items())


@pytest.mark.parametrize(("operation", "smuggled", "_"), HIDDEN.values(), ids=HIDDEN.keys())
def test_a_change_hidden_in_a_disable_is_denied(
    world: ScimWorld, agent: ScimAgent, operation: dict[str, Any], smuggled: str, _: str | None
) -> None:
    """erik approves what the agent says it does (disable alice); the body does more."""
    send = modify(User, world.user("alice"), patch(operation))
    sent = agent.call(DISABLE_ALICE, send, approvers=("erik",), operation="user.disable")
    assert (sent.status, sent.reason) == (403, "operation_not_in_scope")
    assert (smuggled, "alice") in sent.operations
    assert world.stack.scim.state()["users"]["alice"]["emails"] == ["alice@example.org"]
    assert passwords_hold(world) and not world.stack.scim.check_password("alice", PWNED)


def test_the_same_disable_without_the_password_is_allowed(world: ScimWorld, agent: ScimAgent) -> None:
    """The control of the path-less case: its deny is the password's, not the disable's."""
    task = Task("scim_offboarding", ("carol",), ("user.disable",))
    send = modify(User, world.user("carol"), patch({"op": "replace", "value": {"Active": False}}))
    sent = agent.call(task, send, approvers=("erik",))
    assert sent.reason == "" and sent.status in (200, 204)
    assert changes(sent.before, sent.after) == {"users/carol/active": False}
    assert passwords_hold(world)


@pytest.mark.parametrize(("operation", "_", "changed"), HIDDEN.values(), ids=HIDDEN.keys())
def test_the_hidden_changes_are_ones_the_servers_execute(
    world: ScimWorld, operation: dict[str, Any], _: str, changed: str | None
) -> None:
    """Sent directly (no Envoy) to a user of its own, the body does change what it hides."""
    decoy = f"decoy-{len(world.stack.scim.state()['users'])}"
    email = f"{decoy}@example.org"
    ident = world.stack.scim.seed([SeedUser(decoy, "Decoy-Old-1", emails=(email,))]).users[decoy]
    body = json.loads(json.dumps(patch(operation)).replace("alice@example.org", email))
    before = world.stack.scim.state()
    status, answer = world.stack.scim.request("PATCH", f"/Users/{ident}", body)
    done = {key.rpartition("/")[2] for key in changes(before, world.stack.scim.state())}
    if changed is None:
        assert status >= 400 and not done, (status, answer)
    else:
        assert status in (200, 204) and changed in done, (status, answer)


def bulk(*operations: tuple[str, str, dict[str, Any] | None]) -> dict[str, Any]:
    ops = [{"method": m, "path": p, **({} if d is None else {"data": d})} for m, p, d in operations]
    return {"schemas": [BULK], "Operations": ops}


@pytest.mark.parametrize(
    ("first", "task", "approvers", "reason"),
    [
        ("GET", READ_ALICE, (), "malformed_request"),  # RFC 7644 §3.7: no GET in a bulk request
        (
            "PATCH",
            Task("scim_offboarding", ("alice",), ("user.disable",)),
            ("erik",),
            "principal_not_in_scope",
        ),
        ("PATCH", Task("scim_support", ("alice", "bob"), ("user.read",)), (), "operation_not_in_scope"),
    ],
    ids=["read-alice-reset-bob", "disable-alice-reset-bob", "both-named-for-reads-only"],
)
def test_a_reset_of_bob_in_a_bulk_request_about_alice_is_denied(
    world: ScimWorld, agent: ScimAgent, first: str, task: Task, approvers: tuple[str, ...], reason: str
) -> None:
    alice, bob = f"/Users/{world.user('alice')}", f"/Users/{world.user('bob')}"
    body = bulk((first, alice, None if first == "GET" else patch(DISABLE)), ("PATCH", bob, patch(RESET)))
    sent = agent.call(
        task,
        lambda scim: scim.bulk(body, check_request_payload=False),
        approvers=approvers,
        operation="user.disable",
    )
    assert (sent.status, sent.reason) == (403, reason)
    if first == "PATCH":
        assert sent.operations == [("user.password.set", "bob"), ("user.disable", "alice")]
    assert world.stack.scim.state()["users"]["alice"]["active"] is True
    assert passwords_hold(world) and not world.stack.scim.check_password("bob", PWNED)


def test_a_group_patch_adding_someone_the_task_does_not_name_is_denied(
    world: ScimWorld, agent: ScimAgent
) -> None:
    task = Task("access_change", ("alice",), ("group.member.add",))
    members = [world.member("alice"), world.member("mallory")]
    send = modify(Group, world.group("staff"), patch({"op": "add", "path": "members", "value": members}))
    sent = agent.call(task, send, approvers=("dana", "erik"))
    assert (sent.status, sent.reason) == (403, "principal_not_in_scope")
    assert sent.operations == [("group.member.add", "alice"), ("group.member.add", "mallory")]
    assert world.stack.scim.state()["groups"]["staff"]["members"] == ["oscar"]


def set_password(password: str) -> PatchOp[User]:
    return PatchOp[User](operations=[PatchOperation(op="replace", path="password", value=password)])


def refused_sends(world: ScimWorld) -> dict[str, Callable[[Scim], Any]]:
    """Requests the scim2 pack refuses whatever the task, each carrying a reset of alice."""
    alice = world.user("alice")
    both = {"schemas": [PATCH_OP], "Operations": [RESET], "operations": [DISABLE]}  # servers run both
    return {
        "put-user": lambda scim: scim.replace(User(id=alice, user_name="alice", password=PWNED)),
        "get-me": lambda scim: scim.query(Me),
        "patch-me": lambda scim: scim.modify(Me, set_password(PWNED)),
        "operations-twice": modify(User, alice, both),
    }


@pytest.mark.parametrize(
    ("case", "refusal"),
    [
        ("put-user", "a full replace clears every attribute it omits"),
        ("get-me", "/Me acts on the server's authenticated subject"),
        ("patch-me", "/Me acts on the server's authenticated subject"),
        ("operations-twice", "may be read as one key"),
    ],
)
def test_a_request_the_pack_refuses_is_denied(
    world: ScimWorld, agent: ScimAgent, case: str, refusal: str
) -> None:
    task = Task("scim_recovery", ("alice",), ("user.read", "user.password.set"))
    approvers = () if case == "get-me" else ("dana",)
    sent = agent.call(task, refused_sends(world)[case], approvers=approvers, operation="user.password.set")
    assert (sent.status, sent.reason) == (403, "malformed_request")
    assert refusal in sent.json()["message"]
    assert passwords_hold(world) and not world.stack.scim.check_password("alice", PWNED)
