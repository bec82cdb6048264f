"""An agent driving two real SCIM servers (scim2-server, Canaille) through Envoy and agent-authz
with a real SCIM client (scim2-client): reads, password resets, disables and an admin-group grant
under break-glass, each allowed or denied as its task and approvals say.

Every request goes through ``scim_agent.CheckedTransport``: a denied one leaves the server's own
storage as it was, an allowed one is answered by the server. The tests then read what changed
from that storage (``changes``), and passwords with ``check_password``.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx2
import pytest
from scim2_client import UnexpectedStatusCodeException
from scim2_models import Group, GroupMember, PatchOp, PatchOperation, User
from scim_agent import (
    PROXIED,
    CheckedTransport,
    Exchange,
    Scim,
    ScimAgent,
    ScimWorld,
    Task,
    changes,
    scim_world,
)

from authz.demo.scim_stack import SERVERS, ScimStack
from authz.devkit.scim import Seeded, SeedGroup, SeedUser, fingerprint

pytestmark = pytest.mark.e2e

PASSWORDS = {"alice": "Alice-Old-1", "bob": "Bob-Old-1", "carol": "Carol-Old-1", "dave": "Dave-Old-1"}
USERS = (
    *(SeedUser(name, password, emails=(f"{name}@example.org",)) for name, password in PASSWORDS.items()),
    SeedUser("frank", "Frank-Old-1"),
    SeedUser("mallory", "Mallory-1"),
    SeedUser("oscar", "Oscar-1"),  # it-admins' one member (Canaille refuses a group without)
    # the approvers: separation of duties finds them in the directory (dana by her address)
    SeedUser("dana", emails=("dana@example.org",)),
    SeedUser("erik", emails=("erik@example.org",)),
)
GROUPS = (SeedGroup("it-admins", ("oscar",)),)
READ_ALICE = Task("scim_support", ("alice",), ("user.read",))


@pytest.fixture(scope="module", params=sorted(SERVERS))
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimWorld]:
    with scim_world(tmp_path_factory.mktemp(request.param), request.param, USERS, GROUPS) as started:
        yield started


@pytest.fixture
def agent(world: ScimWorld) -> ScimAgent:
    return world.agent()


def recovery(name: str, on_behalf_of: str | None = None) -> Task:
    return Task("scim_recovery", (name,), ("user.password.set",), on_behalf_of)


def set_password(password: str) -> PatchOp[User]:
    return PatchOp[User](operations=[PatchOperation(op="replace", path="password", value=password)])


def modify(resource: type[User] | type[Group], ident: str, body: PatchOp[Any]) -> Callable[[Scim], Any]:
    return lambda scim: scim.modify(resource, ident, body)


def audited(sent: Exchange) -> tuple[str, str, list[str]]:
    """What agent-authz recorded of an allow or a deny: operation, principal, approvers."""
    return sent.audit["operation"], sent.audit["target"], sent.audit["approvers"]


def grant(world: ScimWorld, name: str) -> PatchOp[Group]:
    member = world.member(name)
    value = [GroupMember(value=member["value"], ref=member["$ref"])]
    return PatchOp[Group](operations=[PatchOperation(op="add", path="members", value=value)])


def test_a_read_within_the_task_reaches_the_server(world: ScimWorld, agent: ScimAgent) -> None:
    sent = agent.call(READ_ALICE, lambda scim: scim.query(User, world.user("alice")))
    assert (sent.status, sent.reason) == (200, "")
    assert (sent.result.id, sent.result.user_name) == (world.user("alice"), "alice")
    assert audited(sent) == ("user.read", "alice", [])


def test_a_read_of_someone_the_task_does_not_name_is_denied(world: ScimWorld, agent: ScimAgent) -> None:
    sent = agent.call(READ_ALICE, lambda scim: scim.query(User, world.user("bob")))
    assert (sent.status, sent.reason) == (403, "principal_not_in_scope")
    assert sent.audit["target"] == "bob"  # the server's id, named as the directory names it
    assert isinstance(sent.result, UnexpectedStatusCodeException)  # agent-authz's deny is no SCIM Error
    assert b"bob@example.org" not in sent.answer


def test_a_password_reset_approved_by_dana_is_executed(world: ScimWorld, agent: ScimAgent) -> None:
    reset = modify(User, world.user("carol"), set_password("Carol-New-2"))
    sent = agent.call(recovery("carol"), reset, approvers=("dana",))
    assert sent.reason == "" and sent.status in (200, 204)  # scim2-server: 204; Canaille: 200
    new = fingerprint("Carol-New-2")
    assert changes(sent.before, sent.after) == {"users/carol/password_fingerprint": new}
    assert world.stack.scim.check_password("carol", "Carol-New-2")
    assert not world.stack.scim.check_password("carol", "Carol-Old-1")
    assert audited(sent) == ("user.password.set", "carol", ["dana"])


def test_a_password_reset_without_approval_is_denied(world: ScimWorld, agent: ScimAgent) -> None:
    sent = agent.call(recovery("alice"), modify(User, world.user("alice"), set_password("Pwned-1")))
    assert (sent.status, sent.reason) == (403, "approval_required")
    assert world.stack.scim.check_password("alice", "Alice-Old-1")
    assert not world.stack.scim.check_password("alice", "Pwned-1")


@pytest.mark.parametrize(
    ("target", "on_behalf_of"), [("bob", None), ("alice", "bob")], ids=["his-own-account", "on-his-behalf"]
)
def test_bob_may_not_approve_a_reset_of_his_own_or_on_his_behalf(
    world: ScimWorld, agent: ScimAgent, target: str, on_behalf_of: str | None
) -> None:
    reset = modify(User, world.user(target), set_password("Pwned-1"))
    sent = agent.call(recovery(target, on_behalf_of), reset, approvers=("bob",))
    assert (sent.status, sent.reason) == (403, "approver_not_allowed")
    assert world.stack.scim.check_password(target, PASSWORDS[target])


def test_disabling_a_user_takes_eriks_approval(world: ScimWorld, agent: ScimAgent) -> None:
    disable = PatchOp[User](operations=[PatchOperation(op="replace", path="active", value=False)])
    offboarding = Task("scim_offboarding", ("dave",), ("user.disable",))
    unapproved = agent.call(offboarding, modify(User, world.user("dave"), disable))
    assert (unapproved.status, unapproved.reason) == (403, "policy_denied")
    assert world.stack.scim.state()["users"]["dave"]["active"] is True

    sent = agent.call(offboarding, modify(User, world.user("dave"), disable), approvers=("erik",))
    assert sent.reason == "" and sent.status in (200, 204)
    assert changes(sent.before, sent.after) == {"users/dave/active": False}
    assert world.stack.scim.check_password("dave", "Dave-Old-1")
    assert audited(sent) == ("user.disable", "dave", ["erik"])


@pytest.mark.parametrize(
    ("intent", "approvers", "reason", "because"),
    [
        ("scim_emergency_access", (), "approval_required", None),
        ("scim_emergency_access", ("dana",), "approvals_insufficient", "approvals_insufficient"),
        ("access_change", ("dana", "erik"), "policy_denied", "admin_group_grant"),  # not break-glass
    ],
    ids=["break-glass-unapproved", "break-glass-one-approver", "two-approvers-no-break-glass"],
)
def test_an_admin_grant_short_of_break_glass_and_two_approvers_is_denied(
    world: ScimWorld,
    agent: ScimAgent,
    intent: str,
    approvers: tuple[str, ...],
    reason: str,
    because: str | None,
) -> None:
    task = Task(intent, ("mallory",), ("group.member.add",))
    add = modify(Group, world.group("it-admins"), grant(world, "mallory"))
    sent = agent.call(task, add, approvers=approvers)
    assert (sent.status, sent.reason) == (403, reason)
    assert sent.json().get("policy", {}).get("reason") == because  # the forbid's @reason
    assert sent.operations == [("group.member.add", "mallory")]
    assert sent.audit["group"] == {"exists": True, "name": "it-admins", "privileged": True}
    assert world.stack.scim.state()["groups"]["it-admins"]["members"] == ["oscar"]


def test_an_admin_grant_under_break_glass_with_two_approvers_is_executed(
    world: ScimWorld, agent: ScimAgent
) -> None:
    task = Task("scim_emergency_access", ("frank",), ("group.member.add",))
    add = modify(Group, world.group("it-admins"), grant(world, "frank"))
    sent = agent.call(task, add, approvers=("dana", "erik"))
    assert sent.reason == "" and sent.status in (200, 204)
    assert changes(sent.before, sent.after) == {
        "groups/it-admins/members": ["frank", "oscar"],
        "users/frank/groups": ["it-admins"],
    }
    assert audited(sent) == ("group.member.add", "frank", ["dana", "erik"])


# -- the check itself fails when it should (no Envoy: a fake answers and audits as told) ----------
class FakeEnvoy:
    """agent-authz, Envoy and the SCIM server in one: each answer, audit record and change as told."""

    def __init__(self, audit_path: Path) -> None:
        self.audit_path, self.scim = audit_path, self
        self.users: dict[str, Any] = {"alice": {"active": True}}
        audit_path.write_text("")

    def state(self) -> dict[str, Any]:
        return {"users": copy.deepcopy(self.users), "groups": {}}

    def answering(self, reason: str, proxied: bool, records: int, change: bool) -> httpx2.MockTransport:
        def answer(request: httpx2.Request) -> httpx2.Response:
            decided = {"method": request.method, "path": request.url.path}
            decided |= {"decision": "deny", "reason": reason} if reason else {"decision": "allow"}
            with self.audit_path.open("a") as audit:
                audit.write((json.dumps(decided) + "\n") * records)
            self.users["alice"]["active"] = not change
            headers = ({"x-authz-reason": reason} if reason else {}) | ({PROXIED: "3"} if proxied else {})
            return httpx2.Response(403 if reason else 200, headers=headers, content=b"{}")

        return httpx2.MockTransport(answer)


@pytest.mark.parametrize(
    ("reason", "proxied", "records", "change", "fails"),
    [
        ("principal_not_in_scope", False, 1, False, None),
        ("", True, 1, True, None),
        ("principal_not_in_scope", False, 1, True, "denied .principal_not_in_scope., but the server's state"),
        ("principal_not_in_scope", True, 1, False, "denied, but Envoy proxied it"),
        ("", False, 1, False, "allowed, but not answered by the server"),
        ("", True, 2, False, "2 audit records, not one"),
        ("principal_not_in_scope", False, 0, False, "0 audit records, not one"),
    ],
)
def test_the_check_of_each_request_fails_when_it_should(
    tmp_path: Path, reason: str, proxied: bool, records: int, change: bool, fails: str | None
) -> None:
    fake, sent = FakeEnvoy(tmp_path / "audit.jsonl"), list[Exchange]()
    inner = fake.answering(reason, proxied, records, change)
    transport = CheckedTransport(cast(ScimStack, fake), None, sent, inner)
    request = httpx2.Request("PATCH", "https://envoy/v2/Users/1", content=b"{}")
    if fails is None:
        transport.handle_request(request)
        assert [(s.method, s.path, s.reason) for s in sent] == [("PATCH", "/v2/Users/1", reason)]
    else:
        with pytest.raises(AssertionError, match=fails):
            transport.handle_request(request)
        assert sent == []


def test_a_decision_no_agent_checked_fails_the_world(tmp_path: Path) -> None:
    fake = FakeEnvoy(tmp_path / "audit.jsonl")
    world = ScimWorld(cast(ScimStack, fake), Seeded({}, {}), audit_from=0)
    world.check_every_decision_was_checked()
    fake.audit_path.write_text(json.dumps({"decision": "allow"}) + "\n")  # sent around the agents
    with pytest.raises(AssertionError, match="agent-authz decided 1 requests, the agents checked 0"):
        world.check_every_decision_was_checked()


# -- the SCIM modules send only through the checked agent --------------------------------------------
#: What sends on its own: an HTTP stack, a TLS context, the SCIM client's engine or its transport.
SENDERS = {"httpx2", "ssl", "socket", "http", "urllib", "requests", "scim2_client.engines",
           "SyncSCIMClient", "CheckedTransport", "HTTPTransport", "AgentClient", "Stack"}  # fmt: skip


def sends(name: str) -> bool:
    return any(name == sender or name.startswith(sender + ".") for sender in SENDERS)


#: Only the check's own tests (a fake Envoy in an httpx2.MockTransport) may use these. Importing
#: them is allowed, unrenamed: any use elsewhere is a name this test finds.
CHECK_TESTS = ("FakeEnvoy", "test_the_check_of_each_request_fails_when_it_should")
IMPORTED_FOR_THEM = ("httpx2", "CheckedTransport")


def sends_outside_the_agent(path: Path) -> Iterator[str]:
    for top in ast.parse(path.read_text()).body:
        if getattr(top, "name", "") in CHECK_TESTS:
            continue
        for node in ast.walk(top):
            names: list[str] = []
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names if a.asname or a.name not in IMPORTED_FOR_THEM]
                names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            elif isinstance(node, ast.Name | ast.Attribute):
                names = [node.id if isinstance(node, ast.Name) else node.attr]
            yield from (f"{path.name}:{getattr(node, 'lineno', 0)} {n}" for n in names if sends(n))


def test_the_scim_modules_send_only_through_the_checked_agent() -> None:
    modules = sorted(Path(__file__).parent.glob("test_scim*.py"))
    assert Path(__file__) in modules
    found = [offence for path in modules for offence in sends_outside_the_agent(path)]
    assert not found, "send with ScimAgent.call (tests/e2e/scim_agent.py): " + "; ".join(found)
