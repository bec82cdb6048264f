"""The scim2 pack end to end: paths and member values name accounts by the SCIM server's ids,
tasks and approvals name them by name, and the real pipeline (its file directory saying which
account each id is) decides on the account — as the audit record shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import BOT, Decider, World, deciding, make_world

from authz.model import Decision
from authz.reasons import Reason

ALICE, BOB = "2819c223-7f76-453a-919d-413861904646", "902c246b-6245-4190-8e05-00816be7344a"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
INTENT = "scim_support"
RENAME = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": "displayName", "value": "Al"}]}
SCIM_INTENT = f"""
[[packs]]
name = "scim2"
prefix = "/scim/v2"

[[intents]]
id = "{INTENT}"
description = "Look up, recover and regroup accounts on the SCIM server"
operations = ["user.read", "user.update", "group.member.add"]
agents = ["{BOT}"]
"""


def scim_world(root: Path) -> World:
    """The example world, its file directory knowing alice and bob by their SCIM ids too."""
    world = make_world(root)
    path = world.root / "directory.json"
    directory = json.loads(path.read_text())
    directory["principals"]["alice"]["aliases"].append(ALICE)
    directory["principals"]["bob"]["aliases"].append(BOB)
    path.write_text(json.dumps(directory))
    world.config_path.write_text(world.config_path.read_text() + SCIM_INTENT)
    return world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return scim_world(tmp_path)


@pytest.fixture
def d(world: World) -> Iterator[Decider]:
    yield from deciding(world, Decider)  # the config's own [directory]: the file above


def task(world: World, *principals: str, actions: tuple[str, ...] = ("user.read",)) -> str:
    return world.token(world.bot, intent=INTENT, principals=principals or ("alice",), actions=actions)


def check(d: Decider, method: str, path: str, token: str, body: Any = None, **headers: str) -> Decision:
    raw = b"" if body is None else json.dumps(body).encode()
    sent = {"x-agent-intent": INTENT, "content-type": "application/scim+json", **headers}
    return d.authz.check(d.world.request(method, "/scim/v2" + path, body=raw, headers=sent, task=token))


def test_a_task_for_alice_reads_her_by_her_scim_id(d: Decider) -> None:
    decision = check(d, "GET", f"/Users/{ALICE}", task(d.world))
    assert decision.allowed, decision.reason
    record = d.records()[-1]
    assert (record["decision"], record["operation"], record["target"]) == ("allow", "user.read", "alice")
    assert record["target_attributes"]["name"] == "alice" and record["path"] == f"/scim/v2/Users/{ALICE}"
    assert record["actions"] is None  # one action, as a read by name records it


def test_an_id_in_another_case_is_alice_to_the_folding_scim_server(d: Decider) -> None:
    assert check(d, "GET", f"/Users/{ALICE.upper()}", task(d.world)).allowed


def test_attack_the_same_task_cannot_read_bob_by_his_id(d: Decider) -> None:
    decision = check(d, "GET", f"/Users/{BOB}", task(d.world))
    assert decision.reason is Reason.PRINCIPAL_NOT_IN_SCOPE
    assert d.records()[-1]["target"] == "bob"  # the audit says whom it would have touched


def test_attack_an_id_the_directory_does_not_know_is_denied(d: Decider) -> None:
    stranger = "0b6e1f2a-0000-4000-8000-000000000000"
    assert check(d, "GET", f"/Users/{stranger}", task(d.world)).reason is Reason.PRINCIPAL_NOT_IN_SCOPE
    token = task(d.world, stranger, actions=("user.update",))  # even a task naming the raw id
    decision = check(d, "PATCH", f"/Users/{stranger}", token, RENAME)
    assert decision.reason is Reason.TARGET_UNKNOWN  # a change to nobody the directory knows


def test_an_approval_for_alice_covers_adding_her_to_a_group_by_id(d: Decider) -> None:
    token, path = task(d.world, actions=("group.member.add",)), "/Groups/staff"
    body = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": ALICE}]}],
    }
    raw, name = json.dumps(body).encode(), "group.member.add"
    assert check(d, "PATCH", path, token, body).reason is Reason.APPROVAL_REQUIRED
    for_the_id = d.world.approval("dana", token, "PATCH", "/scim/v2" + path, name, ALICE, body=raw)
    denied = check(d, "PATCH", path, token, body, **{"x-approval-token": for_the_id})
    assert denied.reason is Reason.APPROVAL_NOT_BOUND  # approvers name the account, as tasks do
    for_alice = d.world.approval("dana", token, "PATCH", "/scim/v2" + path, name, "alice", body=raw)
    decision = check(d, "PATCH", path, token, body, **{"x-approval-token": for_alice})
    assert decision.allowed, decision.reason
    record = d.records()[-1]
    assert record["target"] == "alice" and record["actions"][0]["target"] == "alice"
    assert record["group"] == {"name": "staff", "exists": True, "privileged": False}


def test_attack_a_member_added_by_id_is_bound_like_one_added_by_name(d: Decider) -> None:
    token = task(d.world, actions=("group.member.add",))
    body = {"schemas": [PATCH_URN], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": ALICE}, {"value": BOB}]}]}  # fmt: skip
    decision = check(d, "PATCH", "/Groups/staff", token, body)
    assert decision.reason is Reason.PRINCIPAL_NOT_IN_SCOPE  # bob, by his id, is not the task's
    assert [a["target"] for a in d.records()[-1]["actions"]] == ["alice", "bob"]
