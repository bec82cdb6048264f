"""Stage 8 on a request of several actions (a SCIM PATCH adding members, a bulk request): Cedar
decides each with everything it would see were the action alone — its own target, the group it
touches, the task's usage, the route's name rule — so no policy is dodged by batching."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import pytest

from authz.directory import Group, Principal
from authz.model import Action, Context, Decision, Operation
from authz.names import fold
from authz.policy.engine import PolicyInput, PolicyVerdict
from authz.reasons import Denied

from .test_policy_inputs import GRANT, NOW, READ, Cedar, check, decision, stage

ADMINS = Group("it-admins", exists=True, privileged=True)


def members_added(*names: str) -> Decision:
    """A grant of several members to the privileged group it-admins (stage 7 done)."""
    d = decision(GRANT, names[0])
    derived = tuple(Action("group.member.add", "privilege_change", n, "it-admins") for n in names)
    d.operation = Operation(GRANT, names[0], {"group": "it-admins"}, derived=derived)
    known = [Principal(n, True, "human") for n in names]
    d.context = Context(known[0], ADMINS, others=tuple((p, ADMINS) for p in known[1:]))
    return d


def test_attack_every_member_added_shows_cedar_the_privileged_group() -> None:
    cedar = Cedar()
    check(stage(cedar), members_added("alice", "bob", "carol"))
    seen = [(i.principal, i.context["group"], i.context["group_privileged"]) for i in cedar.inputs]
    assert seen == [("alice", "it-admins", True), ("bob", "it-admins", True), ("carol", "it-admins", True)]


def test_attack_a_forbid_on_the_group_holds_for_the_second_member_too() -> None:
    class NoPrivilegedGroupForBob(Cedar):
        def remembered(self, key: Hashable | None, build: Callable[[], PolicyInput]) -> PolicyVerdict:
            verdict = super().remembered(key, build)
            last = self.inputs[-1]
            if last.principal == "bob" and last.context["group_privileged"]:
                return PolicyVerdict(False, None, ())
            return verdict

    with pytest.raises(Denied) as info:
        check(stage(NoPrivilegedGroupForBob()), members_added("alice", "bob"))
    assert "group.member.add on bob" in info.value.message


def test_every_action_is_decided_with_the_tasks_calls_so_far() -> None:
    cedar = Cedar()
    check(stage(cedar), members_added("alice", "bob"), calls=4)
    assert [i.context["task_calls"] for i in cedar.inputs] == [4, 4]


def test_targets_the_directory_does_not_know_are_named_under_the_routes_rule_each() -> None:
    """READ compares names folded: an unknown ``BOB`` is the resource ``bob`` to Cedar, as it
    would be alone — a policy on ``bob`` is not dodged by writing him in capitals beside alice."""
    cedar = Cedar()
    d = decision(READ, "Alice")
    edit, disable = Action("user.update", "write", "Alice"), Action("user.disable", "write", "BOB")
    d.operation = Operation(READ, "Alice", {"user": "Alice"}, derived=(edit, disable))
    d.context = Context(Principal("Alice", False), None, others=((Principal("BOB", False), None),))
    check(stage(cedar), d)
    assert [i.principal for i in cedar.inputs] == [fold("Alice"), fold("BOB")] == ["alice", "bob"]


def test_the_policy_stage_is_never_asked_without_stage_7s_context() -> None:
    d = members_added("alice", "bob")
    d.context = None
    with pytest.raises(AssertionError):
        stage(Cedar()).check(d, NOW)
