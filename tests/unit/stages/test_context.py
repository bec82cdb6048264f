"""Stage 7: live attributes of the target; a directory that cannot answer, and the degraded rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from factories import Decider, DownDirectory, deciding, make_world

from authz.config import DirectoryConfig, Route
from authz.directory import Group, Principal
from authz.directory.http import HttpDirectory
from authz.model import Action, Context, Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.context import ContextStage, directory_from
from authz.stages.operation import OperationStage
from authz.store import StateStore
from authz.tokens.task import Task

NO_STORE = cast(StateStore, None)  # target() asks the directory only


def test_reads_carry_the_targets_attributes_into_the_audit(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    for d in deciding(world, Decider):
        decision = d.authz.check(world.request(task=world.token(world.bot)))
        assert decision.allowed and decision.target == Principal(
            "alice", True, "human", False, frozenset({"staff"}), frozenset({"alice@example.org"})
        )
        record = d.records()[0]
    assert record["target_attributes"] == {
        "name": "alice",
        "exists": True,
        "kind": "human",
        "privileged": False,
        "groups": ["staff"],
        "active": True,
        "roles": [],
    }


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> OperationStage:
    config = make_world(tmp_path_factory.mktemp("context")).config()
    return OperationStage(config.routes, config.max_body_bytes)


@pytest.mark.parametrize(
    ("method", "path", "body", "rule", "outcome"),
    [
        ("GET", "/v1/users/alice", b"", "deny", Reason.CONTEXT_UNAVAILABLE),
        ("GET", "/v1/users/alice", b"", "allow", "degraded"),
        ("POST", "/v1/users/alice/password/reset", b"", "allow", Reason.CONTEXT_UNAVAILABLE),
        ("POST", "/v1/groups/staff/members", b'{"user": "bob"}', "allow", Reason.CONTEXT_UNAVAILABLE),
    ],
)
def test_directory_down(
    operations: OperationStage, method: str, path: str, body: bytes, rule: str, outcome: object
) -> None:
    stage = ContextStage(DownDirectory(), NO_STORE, reads_when_unavailable=rule)
    operation = operations.resolve(method, path, {"content-type": "application/json"}, body)
    if outcome == "degraded":
        target = stage.target(operation)
        assert target.degraded and target.target == Principal("alice", exists=False)
    else:
        with pytest.raises(Denied) as info:
            stage.target(operation)
        assert info.value.reason is outcome


def test_a_down_directory_denies_an_approved_change_end_to_end(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    for d in deciding(world, Decider, directory=DownDirectory()):
        task = world.token(world.bot, intent="credential_recovery", actions=("user.password.reset",))
        reset = ("POST", "/v1/users/alice/password/reset")
        approval = world.approval("dana", task, *reset, "user.password.reset", "alice")
        headers = {"x-agent-intent": "credential_recovery", "x-approval-token": approval}
        decision = d.authz.check(world.request(*reset, task=task, headers=headers))
        assert decision.reason is Reason.CONTEXT_UNAVAILABLE
        assert not d.store.approval_consumed(json.loads(_payload(approval))["jti"])  # nothing spent


def _payload(token: str) -> bytes:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize(
    ("method", "path", "body", "group"),
    [
        ("GET", "/v1/users/alice", b"", None),
        ("DELETE", "/v1/groups/it-admins/members/alice", b"", Group("it-admins", exists=False)),
    ],
)
def test_without_a_directory_the_target_and_group_are_unknown_by_their_names(
    operations: OperationStage, method: str, path: str, body: bytes, group: Group | None
) -> None:
    operation = operations.resolve(method, path, {"content-type": "application/json"}, body)
    target = ContextStage(None, NO_STORE, unknown_targets="allow").target(operation)
    assert target == Context(Principal("alice", exists=False), group)
    assert target.target.exists is False and (group is None or target.group.exists is False)  # type: ignore[union-attr]


def test_without_a_directory_a_change_to_an_unknown_target_is_refused_by_default(
    operations: OperationStage,
) -> None:
    operation = operations.resolve("DELETE", "/v1/groups/it-admins/members/alice", {}, b"")
    with pytest.raises(Denied) as info:
        ContextStage(None, NO_STORE).target(operation)
    assert info.value.reason is Reason.TARGET_UNKNOWN


def test_the_directory_is_built_from_its_config(tmp_path: Path) -> None:
    http = directory_from(
        DirectoryConfig(
            "http", url="http://iam:8080/u/{name}", group_url="http://iam:8080/g/{name}", ttl=7,
            timeout_ms=250, max_concurrency=3,
        )
    )  # fmt: skip
    assert isinstance(http, HttpDirectory)
    lookups = http._lookups
    assert (http._url, http._group_url, lookups._ttl, lookups._timeout) == (
        "http://iam:8080/u/{name}", "http://iam:8080/g/{name}", 7, 0.25,
    )  # fmt: skip
    assert lookups._slots._value == 3  # type: ignore[attr-defined]
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"principals": {"alice": {"kind": "human"}}}))
    assert directory_from(DirectoryConfig("file", path=path)).lookup("alice").exists


# -- a request of several actions: every target is looked up, and must be known for a change ---------
EDIT = Route("PATCH", "/Users/{id}", "user.update", "write", "id", None, True)


def test_every_actions_target_is_looked_up_and_a_second_unknown_one_refuses_a_change(tmp_path: Path) -> None:
    config = make_world(tmp_path).config()
    assert config.directory is not None
    stage = ContextStage(directory_from(config.directory), NO_STORE)
    known = Operation(
        EDIT,
        "alice",
        derived=(Action("user.update", "write", "alice"), Action("user.update", "write", "bob")),
    )
    context = stage.target(known)
    assert [(p.name, p.exists, g) for p, g in context.each] == [("alice", True, None), ("bob", True, None)]
    unknown = Operation(
        EDIT,
        "alice",
        derived=(Action("user.update", "write", "alice"), Action("user.update", "write", "nobody")),
    )
    with pytest.raises(Denied) as info:
        stage.target(unknown)
    assert info.value.reason is Reason.TARGET_UNKNOWN and "nobody" in info.value.message


# -- the task's usage: what stage 9 and the policy see ------------------------------------------------
class Counter:
    """The state store's count of calls charged to a task's budget."""

    def __init__(self, calls: int) -> None:
        self.calls, self.asked = calls, list[str]()

    def task_calls(self, task_id: str) -> int:
        self.asked.append(task_id)
        return self.calls


def budgeted(max_calls: int | None) -> Task:
    return Task(
        "t-1", "task-issuer", "bob", (), "x", "credential_recovery", frozenset({"user.read"}),
        frozenset({"alice"}), max_calls, 100, 100, 700,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("max_calls", "seen", "asked"), [(5, 3, ["t-1"]), (None, 0, [])], ids=["budget", "no-budget"]
)
def test_the_context_holds_the_calls_charged_to_a_budgeted_task_and_none_for_others(
    operations: OperationStage, max_calls: int | None, seen: int, asked: list[str]
) -> None:
    """A task without a budget is not counted: the policy sees 0 calls, whatever the store holds."""
    store = Counter(3)
    operation = operations.resolve("GET", "/v1/users/alice", {}, b"")
    context = ContextStage(None, cast(StateStore, store)).gather(operation, budgeted(max_calls))
    assert context.task_calls == seen and store.asked == asked
    assert context.target == Principal("alice", exists=False)  # the target as target() reads it


def test_every_actions_group_is_looked_up_and_every_name_by_the_routes_rule(tmp_path: Path) -> None:
    config = make_world(tmp_path).config()
    assert config.directory is not None and EDIT.names is NameRule.EXACT
    stage = ContextStage(directory_from(config.directory), NO_STORE)
    grants = Operation(
        EDIT,
        "alice",
        derived=(
            Action("group.member.add", "privilege_change", "alice", "staff"),
            Action("group.member.add", "privilege_change", "bob", "it-admins"),
        ),
    )
    each = [(p.name, g) for p, g in stage.target(grants).each]
    assert each == [("alice", Group("staff", True, False)), ("bob", Group("it-admins", True, True))]
    edits = (Action("user.update", "write", "alice"), Action("user.update", "write", "ALICE"))
    folded = Operation(EDIT, "alice", derived=edits)
    with pytest.raises(Denied) as info:  # ALICE only folds onto alice: under exact names, not hers
        stage.target(folded)
    assert info.value.reason is Reason.TARGET_AMBIGUOUS
