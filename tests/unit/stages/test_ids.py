"""Stage 2's last step (``authz/stages/ids.py``): where a route names accounts by the upstream's
ids (``ids = "directory"``: the scim2 pack), every action's target becomes the name the
directory knows the account by — the real ``FileDirectory``, with each SCIM id an alias."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from factories import DownDirectory, make_world

from authz.config import Route
from authz.config.routes import read_routes
from authz.config.table import Table
from authz.directory import Directory, DirectoryUnavailable, Group, Principal
from authz.directory.file import FileDirectory
from authz.model import Action, Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.ids import AccountIds
from authz.stages.operation import OperationStage

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM = {"content-type": "application/scim+json"}
ALICE, BOB = "2819c223", "9f1b3e07"  # the SCIM server's ids of alice and bob
ADMINS = "5c1e0a77"  # the SCIM server's id of the group it-admins
TWINS = "ab12cd34"  # dave's id; erin's is "AB12CD34": one account to an upstream that folds


def scim_routes(ids: str = "directory") -> tuple[Route, ...]:
    text = f'[[packs]]\nname = "scim2"\nprefix = "/scim/v2"\nids = "{ids}"\n'
    return read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(text)), text, NameRule.EXACT)


ROUTES = scim_routes()
RAW = OperationStage(ROUTES, 65536)  # stage 2 without a directory: targets as written


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> FileDirectory:
    human: dict[str, Any] = {"kind": "human"}
    entries = {
        "alice": {**human, "aliases": [ALICE, "alice@example.org"]},
        "bob": {**human, "aliases": [BOB]},
        "dave": {**human, "aliases": [TWINS]},
        "erin": {**human, "aliases": [TWINS.upper()]},
    }
    path = tmp_path_factory.mktemp("ids") / "directory.json"
    groups = {"it-admins": {"privileged": True, "aliases": [ADMINS]}}
    path.write_text(json.dumps({"principals": entries, "groups": groups}))
    return FileDirectory(path)


def patch(*operations: dict[str, Any]) -> bytes:
    return json.dumps({"schemas": [PATCH_URN], "Operations": list(operations)}).encode()


def read(stage: OperationStage, method: str, path: str, body: bytes = b"") -> Operation:
    return stage.resolve(method, "/scim/v2" + path, SCIM if body else {}, body)


def targets(operation: Operation) -> list[tuple[str, str, str | None]]:
    return [(a.name, a.target, a.group) for a in operation.actions]


def refused(ids: AccountIds, operation: Operation) -> Denied:
    with pytest.raises(Denied) as info:
        ids.named(operation)
    return info.value


MEMBERS = patch({"op": "add", "path": "members", "value": [{"value": ALICE}, {"value": BOB}]})
PASSWORD_AND_DISABLE = patch({"op": "replace", "value": {"password": "n3w-Pass", "active": False}})


# -- ids become names -----------------------------------------------------------------------------
def test_a_users_id_in_the_path_becomes_her_name(directory: FileDirectory) -> None:
    raw = read(RAW, "GET", f"/Users/{ALICE}")
    named = AccountIds(directory).named(raw)
    assert named.target == "alice" and targets(named) == [("user.read", "alice", None)]
    assert named.params == {"id": ALICE}  # the path is forwarded as written: only the target is named
    assert (named.op_class, named.reversible, named.gated) == ("read", True, False)


def test_a_single_action_stays_the_routes_one_action(directory: FileDirectory) -> None:
    """``derived`` is () for a route's one action (``authz/model.py``): the audit record and the
    approval details list actions only for a request that does several."""
    named = AccountIds(directory).named(read(RAW, "DELETE", f"/Users/{ALICE}"))
    assert named.derived == () and targets(named) == [("user.delete", "alice", None)]


def test_every_action_of_a_patch_names_the_account(directory: FileDirectory) -> None:
    named = AccountIds(directory).named(read(RAW, "PATCH", f"/Users/{ALICE}", PASSWORD_AND_DISABLE))
    assert targets(named) == [("user.password.set", "alice", None), ("user.disable", "alice", None)]
    assert named.target == "alice" and named.targets == ("alice",)
    assert named.gated and not named.reversible  # the classes are the body's, unchanged


def test_each_member_a_group_patch_adds_by_id_is_named(directory: FileDirectory) -> None:
    named = AccountIds(directory).named(read(RAW, "PATCH", "/Groups/g-7", MEMBERS))
    assert targets(named) == [("group.member.add", "alice", "g-7"), ("group.member.add", "bob", "g-7")]
    assert named.targets == ("alice", "bob")


def test_a_groups_id_becomes_its_name_for_the_group_and_its_members(directory: FileDirectory) -> None:
    ids = AccountIds(directory)
    add = ids.named(read(RAW, "PATCH", f"/Groups/{ADMINS}", MEMBERS))
    assert targets(add) == [
        ("group.member.add", "alice", "it-admins"), ("group.member.add", "bob", "it-admins"),
    ]  # fmt: skip
    group = ids.named(read(RAW, "GET", f"/Groups/{ADMINS}"))  # the group is the principal
    assert (group.target, group.group, group.params["id"]) == ("it-admins", "it-admins", "it-admins")
    unknown = ids.named(read(RAW, "PATCH", "/Groups/0000", MEMBERS))
    assert [a.group for a in unknown.actions] == ["0000", "0000"]  # stage 7 refuses it: not known


MEMBERS_ROUTE = """
[[routes]]
method = "POST"
path = "/v1/groups/{group}/members"
operation = "group.member.add"
class = "privilege_change"
principal = { body_field = "user" }
body = { user = "string" }
ids = "directory"
"""


def test_a_route_naming_a_group_and_a_member_by_id_names_both(directory: FileDirectory) -> None:
    """The group is not the principal here: the member is looked up as an account, the group
    as a group, and the path's group parameter becomes the group's name too."""
    routes = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(MEMBERS_ROUTE)), MEMBERS_ROUTE,
                         NameRule.EXACT)  # fmt: skip
    raw = OperationStage(routes, 65536).resolve(
        "POST", f"/v1/groups/{ADMINS}/members", {"content-type": "application/json"},
        json.dumps({"user": ALICE}).encode(),
    )  # fmt: skip
    named = AccountIds(directory).named(raw)
    assert (named.target, named.group, dict(named.params)) == ("alice", "it-admins", {"group": "it-admins"})


def test_a_patch_by_group_id_keeps_every_path_parameter_named(directory: FileDirectory) -> None:
    named = AccountIds(directory).named(read(RAW, "PATCH", f"/Groups/{ADMINS}", MEMBERS))
    assert dict(named.params) == {"id": "it-admins"} and named.group == "it-admins"


def test_the_groups_own_path_parameter_is_read_as_the_group_whatever_the_actions_say(
    directory: FileDirectory,
) -> None:
    """``named`` reads the operation it is given: on ``/Groups/{id}`` the principal is the group,
    looked up as a group even in actions that carry no group (stage 2 always sets one today)."""
    route = read(RAW, "GET", f"/Groups/{ADMINS}").route
    bare = Operation(route, ADMINS, {"id": ADMINS}, (Action(route.operation, route.op_class, ADMINS),))
    named = AccountIds(directory).named(bare)
    assert (named.target, dict(named.params)) == ("it-admins", {"id": "it-admins"})


def test_a_group_parameter_no_action_names_stays_as_written(directory: FileDirectory) -> None:
    routes = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(MEMBERS_ROUTE)), MEMBERS_ROUTE,
                         NameRule.EXACT)  # fmt: skip
    member = Action("group.member.add", "privilege_change", ALICE)  # no group: nothing names g-7
    named = AccountIds(directory).named(Operation(routes[0], ALICE, {"group": "g-7"}, (member,)))
    assert (named.target, dict(named.params)) == ("alice", {"group": "g-7"})


def test_stage_2_with_a_directory_names_the_accounts(directory: FileDirectory) -> None:
    stage = OperationStage(ROUTES, 65536, directory)
    assert read(stage, "GET", f"/Users/{ALICE}").target == "alice"
    assert read(stage, "GET", f"/Users/{ALICE}").target == "alice"  # remembered (path only), still named
    assert [a.target for a in read(stage, "PATCH", "/Groups/g-7", MEMBERS).actions] == ["alice", "bob"]
    mixed = patch({"op": "add", "path": "members", "value": [{"value": "alice"}, {"value": BOB}]})
    assert [a.target for a in read(stage, "PATCH", "/Groups/g-7", mixed).actions] == ["alice", "bob"]


def test_an_id_in_another_case_names_the_account_when_the_upstream_folds(directory: FileDirectory) -> None:
    assert {r.names for r in ROUTES} == {NameRule.CASE_INSENSITIVE}  # the pack's rule (RFC 7643 §4.1)
    for written in (ALICE.upper(), "2819C223", "alice@EXAMPLE.org", "ALICE"):
        assert AccountIds(directory).named(read(RAW, "GET", f"/Users/{written}")).target == "alice"


# -- what stays as written ------------------------------------------------------------------------
def test_a_name_already_canonical_is_the_same_operation(directory: FileDirectory) -> None:
    for raw in (read(RAW, "GET", "/Users/alice"), read(RAW, "PATCH", "/Users/alice", PASSWORD_AND_DISABLE)):
        assert AccountIds(directory).named(raw) is raw


def test_an_id_the_directory_does_not_know_stays_as_written(directory: FileDirectory) -> None:
    raw = read(RAW, "GET", "/Users/deadbeef")
    assert AccountIds(directory).named(raw) is raw and raw.target == "deadbeef"
    unknown = patch({"op": "add", "path": "members", "value": [{"value": ALICE}, {"value": "deadbeef"}]})
    named = AccountIds(directory).named(read(RAW, "PATCH", "/Groups/g-7", unknown))
    assert [a.target for a in named.actions] == ["alice", "deadbeef"]  # stage 4 refuses the second


def test_without_a_directory_targets_stay_as_written() -> None:
    for raw in (read(RAW, "GET", f"/Users/{ALICE}"), read(RAW, "PATCH", "/Groups/g-7", MEMBERS)):
        assert AccountIds(None).named(raw) is raw
    assert read(OperationStage(ROUTES, 65536, None), "GET", f"/Users/{ALICE}").target == ALICE


# -- what is refused ------------------------------------------------------------------------------
@pytest.mark.parametrize("written", [TWINS, TWINS.upper(), "Ab12Cd34"])
def test_attack_an_id_that_folds_onto_two_accounts_is_ambiguous(
    directory: FileDirectory, written: str
) -> None:
    denied = refused(AccountIds(directory), read(RAW, "GET", f"/Users/{written}"))
    assert denied.reason is Reason.TARGET_AMBIGUOUS and "dave" in denied.message and "erin" in denied.message


def test_attack_an_ambiguous_member_beside_a_known_one_refuses_the_whole_patch(
    directory: FileDirectory,
) -> None:
    body = patch({"op": "add", "path": "members", "value": [{"value": ALICE}, {"value": TWINS}]})
    stage = OperationStage(ROUTES, 65536, directory)
    with pytest.raises(Denied) as info:
        read(stage, "PATCH", "/Groups/g-7", body)
    assert info.value.reason is Reason.TARGET_AMBIGUOUS


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", f"/Users/{ALICE}", b""), ("GET", "/Users/alice", b""), ("PATCH", "/Groups/g-7", MEMBERS)],
    ids=["read-by-id", "read-by-name", "member-add"],
)
def test_a_directory_that_cannot_answer_refuses_reads_too(method: str, path: str, body: bytes) -> None:
    # DownDirectory (tests/factories.py) is fault injection: a directory whose every lookup raises.
    raw = read(RAW, method, path, body)
    denied = refused(AccountIds(DownDirectory()), raw)
    assert denied.reason is Reason.CONTEXT_UNAVAILABLE and raw.target in denied.message


class Switch:
    """Fault injection: the real directory, until it is switched off (then it cannot answer)."""

    def __init__(self, real: Directory) -> None:
        self.real, self.down, self.asked = real, False, 0

    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        self.asked += 1
        if self.down:
            raise DirectoryUnavailable("connection refused")
        return self.real.lookup(name, rule)

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        raise AssertionError("stage 2 names principals only")


def test_the_directorys_answer_is_asked_on_every_request_not_remembered(directory: FileDirectory) -> None:
    switch = Switch(directory)
    stage = OperationStage(ROUTES, 65536, switch)
    assert read(stage, "GET", f"/Users/{ALICE}").target == "alice"
    switch.down = True
    with pytest.raises(Denied) as info:
        read(stage, "GET", f"/Users/{ALICE}")  # the route was remembered; whom it names was not
    assert info.value.reason is Reason.CONTEXT_UNAVAILABLE and switch.asked == 2


# -- routes that name accounts as tasks do --------------------------------------------------------
def test_routes_naming_accounts_by_name_never_ask_the_directory(directory: FileDirectory) -> None:
    switch = Switch(directory)
    switch.down = True  # any lookup would raise
    stage = OperationStage(scim_routes("names"), 65536, switch)
    assert read(stage, "GET", f"/Users/{ALICE}").target == ALICE
    assert read(stage, "GET", "/Users/alice@example.org").target == "alice@example.org"
    assert [a.target for a in read(stage, "PATCH", "/Groups/g-7", MEMBERS).actions] == [ALICE, BOB]
    assert switch.asked == 0


def test_the_example_configs_own_routes_never_ask_the_directory(tmp_path: Path) -> None:
    config = make_world(tmp_path).config()
    assert {r.ids for r in config.routes} == {"names"}
    stage = OperationStage(config.routes, config.max_body_bytes, DownDirectory())  # would raise if asked
    assert stage.resolve("GET", "/v1/users/alice@example.org", {}, b"").target == "alice@example.org"
    grant = stage.resolve(
        "POST", "/v1/groups/staff/members", {"content-type": "application/json"}, b'{"user": "bob"}'
    )
    assert (grant.target, grant.group) == ("bob", "staff")


def test_attack_an_id_in_another_case_is_not_the_account_when_the_upstream_compares_exactly(
    directory: FileDirectory,
) -> None:
    """To an upstream that compares ids exactly, ``2819C223`` is not alice's ``2819c223``: naming
    it alice would let a task for alice cover another account. It only folds onto her: refused."""
    text = '[[packs]]\nname = "scim2"\nprefix = "/scim/v2"\nids = "directory"\nnames = "exact"\n'
    exact = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(text)), text, NameRule.EXACT)
    assert {r.names for r in exact} == {NameRule.EXACT}
    stage, ids = OperationStage(exact, 65536), AccountIds(directory)
    assert ids.named(read(stage, "GET", f"/Users/{ALICE}")).target == "alice"
    members = patch({"op": "add", "path": "members", "value": [{"value": ALICE.upper()}]})
    for raw in (read(stage, "GET", f"/Users/{ALICE.upper()}"), read(stage, "PATCH", "/Groups/g-7", members)):
        assert refused(ids, raw).reason is Reason.TARGET_AMBIGUOUS
    group = read(stage, "GET", f"/Groups/{ADMINS.upper()}")  # the group itself, looked up as a group
    assert refused(ids, group).reason is Reason.TARGET_AMBIGUOUS
