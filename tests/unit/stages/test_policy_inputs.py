"""Stage 8 on its own: what it hands Cedar, and how it reads the verdict (a stand-in for Cedar).

The pipeline tests (``test_policy.py``, ``test_lift_by_policy.py``) run the real
policies; here the verdict is chosen, so every branch of ``PolicyStage`` is reached directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any, cast

import pytest

from authz.config import Agent, AgentStatus, Intent, Route
from authz.directory import Group, Principal
from authz.model import Action, Caller, Context, Decision, Operation, RequestContext
from authz.names import NameRule
from authz.policy.engine import Policies, PolicyInput, PolicyVerdict
from authz.reasons import Denied, Reason
from authz.stages.policy import POLICY_STAGE, PolicyStage
from authz.tokens.approval import Approval
from authz.tokens.task import Task

AGENT = Agent("spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", AgentStatus.ACTIVE)
GRANT = Route(
    "POST", "/v1/groups/{group}/members", "group.member.add", "privilege_change", None, "user", True,
    group_param="group",
)  # fmt: skip
READ = Route(
    "GET", "/v1/users/{user}", "user.read", "read", "user", None, True, names=NameRule.CASE_INSENSITIVE
)
NOW = dt.datetime(2026, 1, 5, 14, 30, tzinfo=dt.UTC)


class Cedar:
    """Stands in for ``Policies``: allows with at least ``needs`` approvers (None: never)."""

    def __init__(
        self, needs: int | None = 0, errors: tuple[str, ...] = (), reason: str | None = None
    ) -> None:
        self.needs, self.errors, self.reason = needs, errors, reason
        self.inputs: list[PolicyInput] = []

    def remembered(self, key: Hashable | None, build: Callable[[], PolicyInput]) -> PolicyVerdict:
        request = build()
        self.inputs.append(request)
        approvals = request.context["approvals"]
        if not self.errors and self.needs is not None and approvals >= self.needs:
            return PolicyVerdict(True, None, ("permit",))
        return PolicyVerdict(False, self.reason, ("forbid",) if self.reason else (), self.errors)


def task(**overrides: Any) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-1", issuer="task-issuer", subject=AGENT.spiffe_id, actors=(), thumbprint="x",
        intent="access_change", actions=frozenset({"group.member.add", "user.read"}),
        principals=frozenset({"alice"}), max_calls=None, issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    fields.update(overrides)
    return Task(**fields)


def decision(
    route: Route = GRANT,
    name: str = "alice",
    target: Principal | None = None,
    group: Group | None = None,
    **fields: Any,
) -> Decision:
    """A decision about ``name`` through ``route``, as stages 1-7 leave it (``fields`` changed)."""
    d = Decision("d-1", RequestContext("POST", "/", {}, b"", AGENT.spiffe_id, ""))
    d.caller, d.task = Caller(AGENT, "x"), task()
    d.operation = Operation(route, name, {"group": "admins"} if route is GRANT else {"user": name})
    d.context = Context(target or Principal(name, exists=False), group)
    for field_name, value in fields.items():
        setattr(d, field_name, value)
    return d


def check(policy: PolicyStage, d: Decision, calls: int = 0, now: dt.datetime = NOW) -> Any:
    assert d.context is not None
    d.context = replace(d.context, task_calls=calls)
    return policy.check(d, now)


def needed(policy: PolicyStage, d: Decision, calls: int, most: int) -> int | None:
    assert d.context is not None
    return policy.approvals_needed(d, replace(d.context, task_calls=calls), NOW, most)


def with_context(d: Decision, **changes: Any) -> None:
    assert d.context is not None
    d.context = replace(d.context, **changes)


def stage(cedar: Cedar, enforce: bool = True) -> PolicyStage:
    intents = {"access_change": Intent("access_change", "", frozenset(), frozenset(), break_glass=True)}
    return PolicyStage(cast(Policies, cedar), intents, enforce)


def test_a_policy_that_cannot_be_evaluated_denies_with_policy_denied_at_stage_8() -> None:
    with pytest.raises(Denied) as info:
        check(stage(Cedar(errors=("type error",))), decision())
    denied = info.value
    assert (denied.reason, denied.stage) == (Reason.POLICY_DENIED, POLICY_STAGE)
    assert denied.extra == {"policy": {"reason": None, "policies": []}}


def test_a_forbid_without_a_known_reason_is_policy_denied_with_its_detail() -> None:
    with pytest.raises(Denied) as info:
        check(stage(Cedar(needs=None, reason="closed")), decision())
    assert (info.value.reason, info.value.stage) == (Reason.POLICY_DENIED, POLICY_STAGE)
    assert info.value.extra == {"policy": {"reason": "closed", "policies": ["forbid"]}}


@pytest.mark.parametrize("missing", ["caller", "operation", "task"])
def test_the_policy_is_asked_only_about_a_decision_with_agent_operation_and_task(missing: str) -> None:
    d = decision()
    setattr(d, missing, None)
    with pytest.raises(AssertionError):
        check(stage(Cedar()), d)
    with pytest.raises(AssertionError):
        needed(stage(Cedar()), d, 0, 3)


@pytest.mark.parametrize(
    ("needs", "have", "most", "expected"),
    [
        (0, [], 3, 1),  # the policy alone would allow: the floor of one is still more than none
        (0, ["dana"], 3, 2),  # always more than the request has
        (2, [], 3, 2),
        (3, ["dana"], 3, 3),
        (4, [], 3, None),  # more than any request can carry
        (None, [], 3, None),
    ],
)
def test_approvals_needed_is_the_fewest_more_than_the_request_has(
    needs: int | None, have: list[str], most: int, expected: int | None
) -> None:
    d = decision()
    d.approvals = tuple(_approval(a) for a in have)
    assert needed(stage(Cedar(needs)), d, 0, most) == expected


def test_approvals_needed_asks_about_the_same_target_and_group() -> None:
    cedar = Cedar(needs=2)
    d = decision(target=Principal("alice", exists=True, kind="human"), group=Group("it-admins", True, True))
    needed(stage(cedar), d, 3, 3)
    asked = cedar.inputs[-1]
    assert (asked.principal, asked.context["group"], asked.context["group_privileged"]) == (
        "alice",
        "it-admins",
        True,
    )
    assert (asked.context["approvers"][:1], asked.context["task_calls"]) == (["(approver 1)"], 3)


def test_shadow_mode_asks_for_the_floor_only() -> None:
    assert needed(stage(Cedar(needs=None), enforce=False), decision(), 0, 3) == 1


def test_a_target_stage_7_did_not_look_up_is_an_unknown_one_under_the_routes_name_rule() -> None:
    cedar = Cedar()
    check(stage(cedar), decision(READ, "CAROL"))
    asked = cedar.inputs[-1]
    assert (asked.principal, asked.principal_attrs["exists"], asked.principal_attrs["kind"]) == (
        "carol",
        False,
        "unknown",
    )


def _caller(*agent: Any) -> Caller:
    return Caller(Agent(*agent), "x")


def _approval(approver: str) -> Approval:
    return Approval(
        f"a-{approver}", approver, AGENT.spiffe_id, "t-1", "group.member.add", "alice", "r", 0, 60
    )


def test_what_cedar_sees_of_a_membership_change() -> None:
    cedar = Cedar()
    d = decision(target=Principal("alice", True, "human", False, frozenset({"staff", "all"})))
    with_context(d, group=Group("it-admins", exists=True, privileged=True))
    d.approvals = (_approval("dana"),)
    check(stage(cedar), d, 2)
    assert cedar.inputs == [
        PolicyInput(
            agent=AGENT.spiffe_id,
            agent_attrs={"owner": "it-helpdesk@example.org", "status": "active"},
            action="group.member.add",
            principal="alice",
            principal_attrs={
                "exists": True,
                "kind": "human",
                "privileged": False,
                "groups": ["all", "staff"],
                "active": True,
                "roles": [],
            },
            context={
                "intent": "access_change",
                "break_glass": True,
                "on_behalf_of": "",
                "delegation_depth": 0,
                "approvals": 1,
                "approvers": ["dana"],
                "task_calls": 2,
                "reversible": True,
                "hour": 14,
                "group": "it-admins",
                "group_exists": True,
                "group_privileged": True,
            },
        )  # fmt: skip
    ]


def test_a_change_touching_no_group_shows_cedar_an_empty_unknown_one() -> None:
    cedar = Cedar()
    check(stage(cedar), decision(READ))
    context = cedar.inputs[-1].context
    assert (context["group"], context["group_exists"], context["group_privileged"]) == ("", False, False)


def test_on_behalf_of_and_delegation_reach_cedar() -> None:
    cedar = Cedar()
    d = decision()
    d.task = task(subject="bob", actors=(AGENT.spiffe_id, "spiffe://agents.example.org/agent/planner"))
    check(stage(cedar), d)
    context = cedar.inputs[-1].context
    assert (context["on_behalf_of"], context["delegation_depth"]) == ("bob", 2)


@pytest.mark.parametrize(
    ("route", "name", "target", "resource"),
    [
        (GRANT, "alice@example.org", Principal("alice", True, "human"), "alice"),  # the canonical name
        (READ, "CAROL", Principal("CAROL", exists=False), "carol"),  # unknown: as the upstream compares
        (GRANT, "CAROL", Principal("CAROL", exists=False), "CAROL"),  # exact names stay as written
    ],
)
def test_the_resource_is_the_directorys_name_else_the_name_under_the_routes_rule(
    route: Route, name: str, target: Principal, resource: str
) -> None:
    cedar = Cedar()
    check(stage(cedar), decision(route, name, target=target))
    assert cedar.inputs[-1].principal == resource


class Memo(Cedar):
    """Remembers verdicts by key like ``Policies``, and checks that a key identifies its input."""

    def __init__(self) -> None:
        super().__init__()
        self.by_key: dict[Hashable, PolicyInput] = {}

    def remembered(self, key: Hashable | None, build: Callable[[], PolicyInput]) -> PolicyVerdict:
        assert key is not None, "every verdict of the request path is remembered"
        request = build()
        assert self.by_key.setdefault(key, request) == request, "one key, two inputs"
        return super().remembered(key, lambda: request)


def variants() -> list[tuple[Decision, int, dt.datetime]]:
    """One decision, and each thing Cedar sees changed once."""
    base = lambda: decision(target=Principal("alice", True, "human"))  # noqa: E731
    out = [(base(), 0, NOW)]
    for change in (
        lambda d: setattr(d, "caller", _caller(AGENT.spiffe_id, "other-owner", AgentStatus.ACTIVE)),
        lambda d: setattr(d, "caller", _caller(AGENT.spiffe_id, AGENT.owner, AgentStatus.SUSPENDED)),
        lambda d: setattr(
            d, "caller", _caller("spiffe://agents.example.org/agent/x", AGENT.owner, AGENT.status)
        ),
        lambda d: with_context(d, target=Principal("bob", True, "human")),
        lambda d: setattr(
            d, "operation", Operation(replace(GRANT, operation="group.member.remove"), "alice")
        ),
        lambda d: setattr(d, "operation", Operation(replace(GRANT, reversible=False), "alice")),
        lambda d: with_context(d, target=Principal("alice", True, "service_account")),
        lambda d: with_context(d, target=Principal("alice", True, "human", privileged=True)),
        lambda d: with_context(d, target=Principal("alice", True, "human", groups=frozenset({"g"}))),
        lambda d: with_context(d, target=Principal("alice", False)),
        lambda d: setattr(d, "task", task(intent="other")),
        lambda d: setattr(d, "task", task(subject="bob", actors=(AGENT.spiffe_id,))),
        lambda d: setattr(d, "task", task(subject="bob", actors=(AGENT.spiffe_id, "spiffe://a/b"))),
        lambda d: setattr(d, "approvals", (_approval("dana"),)),
        lambda d: with_context(d, group=Group("admins", False)),
        lambda d: with_context(d, group=Group("admins", True)),
        lambda d: with_context(d, group=Group("admins", True, privileged=True)),
    ):
        d = base()
        change(d)
        out.append((d, 0, NOW))
    out.append((base(), 1, NOW))
    out.append((base(), 0, NOW.replace(hour=3)))
    return out


def test_the_verdict_memo_key_holds_everything_cedar_sees() -> None:
    memo = Memo()
    for d, calls, now in variants():
        check(stage(memo), d, calls, now)
    assert len(memo.by_key) == len(variants())


def test_policies_are_enforced_unless_configured_otherwise() -> None:
    with pytest.raises(Denied):
        check(PolicyStage(cast(Policies, Cedar(needs=None)), {}), decision())


# -- a request of several actions: Cedar decides each, with its own target ------------------------------
class PerTarget(Cedar):
    """Allows an action on ``target`` with at least ``needs[target]`` approvers."""

    def __init__(self, needs: dict[str, int]) -> None:
        super().__init__()
        self.per_target = needs

    def remembered(self, key: Hashable | None, build: Callable[[], PolicyInput]) -> PolicyVerdict:
        request = build()
        self.inputs.append(request)
        allowed = request.context["approvals"] >= self.per_target[request.principal]
        return PolicyVerdict(allowed, None, ("permit",) if allowed else ())


def several() -> Decision:
    d = decision(READ)
    edit, disable = Action("user.update", "write", "alice"), Action("user.disable", "write", "bob")
    d.operation = Operation(READ, "alice", {"user": "alice"}, derived=(edit, disable))
    bob = Principal("bob", True, "human", True, frozenset({"it-admins"}))
    d.context = Context(Principal("alice", True, "human"), None, others=((bob, None),))
    return d


def test_attack_every_action_is_decided_with_its_own_target() -> None:
    cedar = PerTarget({"alice": 0, "bob": 1})
    with pytest.raises(Denied) as info:
        check(stage(cedar), several())
    assert "user.disable on bob" in info.value.message
    assert [(i.action, i.principal, i.principal_attrs["privileged"]) for i in cedar.inputs] == [
        ("user.update", "alice", False),
        ("user.disable", "bob", True),
    ]


def test_the_approvers_a_request_of_several_actions_needs_are_its_most_demanding_actions() -> None:
    assert needed(stage(PerTarget({"alice": 1, "bob": 3})), several(), 0, 4) == 3
    policies, shadow = check(stage(PerTarget({"alice": 0, "bob": 0})), several())
    assert (policies, shadow) == (("permit",), None)
