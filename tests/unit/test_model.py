"""The plain data the pipeline works on (``authz/model.py``): notes capped, the group a change
touches, and a decision's allow, deny and refusal — the headers and the record they leave."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from authz.config import Agent, AgentStatus, Route
from authz.directory import Group, Principal
from authz.effects import Revoke
from authz.model import Action, Caller, Context, Decision, Operation, RequestContext
from authz.reasons import Denied, Reason
from authz.tokens.approval import Approval
from authz.tokens.task import Task

AGENT = Agent("spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", AgentStatus.ACTIVE)
READ = Route("GET", "/v1/users/{user}", "user.read", "read", "user", None, True)
GRANT = Route(
    "POST", "/v1/groups/{group}/members", "group.member.add", "privilege_change", None, "user", True,
    group_param="group",
)  # fmt: skip


def request(**headers: str) -> RequestContext:
    return RequestContext("GET", "/v1/users/alice", headers, b"", AGENT.spiffe_id, "")


def task(on_behalf_of: str | None = None) -> Task:
    fields: dict[str, Any] = dict(
        task_id="t-1", issuer="i", subject=on_behalf_of or AGENT.spiffe_id,
        actors=(AGENT.spiffe_id,) if on_behalf_of else (), thumbprint="x", intent="account_support",
        actions=frozenset({"user.read"}), principals=frozenset({"alice"}), max_calls=None,
        issued_at=0, not_before=0, expires=600,
    )  # fmt: skip
    return Task(**fields)


def approval(approval_id: str, approver: str) -> Approval:
    return Approval(approval_id, approver, AGENT.spiffe_id, "t-1", "user.read", "alice", "r", 0, 60)


def decided(route: Route = READ) -> Decision:
    d = Decision("d-1", request())
    d.caller, d.operation = Caller(AGENT, "x"), Operation(route, "alice")
    return d


@pytest.mark.parametrize(
    ("name", "value", "noted"),
    [
        ("x-agent-intent", "a" * 200, "a" * 128),
        ("x-agent-justification", "j" * 1024, "j" * 1024),
        ("x-agent-justification", "j" * 1025, "j" * 1024),
        ("x-agent-prompt-ref", "p" * 300, "p" * 256),
    ],
)
def test_a_note_header_is_capped(name: str, value: str, noted: str) -> None:
    assert request(**{name: value}).note(name) == noted


def test_a_note_not_sent_is_none() -> None:
    assert request().note("x-agent-justification") is None


def test_the_group_a_change_touches_is_its_routes_group_parameter() -> None:
    grant = Operation(GRANT, "bob", {"group": "it-admins"})
    assert (grant.name, grant.op_class, grant.group) == ("group.member.add", "privilege_change", "it-admins")
    assert Operation(READ, "alice", {"user": "alice"}).group is None


def test_an_undecided_decision_is_an_internal_error_deny() -> None:
    d = Decision("d-1", request())
    assert (d.reason, d.status, d.allowed, d.state_changing) == (Reason.INTERNAL_ERROR, 503, False, False)
    assert (d.agent, d.target, d.group, d.context_degraded) == (None, None, None, False)


@pytest.mark.parametrize(
    ("the_task", "approvers", "extra"),
    [
        (None, (), {}),
        (task(), (), {"x-agent-task": "t-1"}),
        (task("bob"), (), {"x-agent-task": "t-1", "x-on-behalf-of": "bob"}),
        (task(), ("erik", "dana", "erik"), {"x-agent-task": "t-1", "x-approved-by": "dana,erik"}),
    ],
    ids=["agent-only", "task", "on-behalf-of", "approved"],
)
def test_an_allow_names_the_agent_and_what_it_acts_under(
    the_task: Task | None, approvers: tuple[str, ...], extra: dict[str, str]
) -> None:
    d = decided()
    d.task, d.approvals = the_task, tuple(approval(f"a-{i}", a) for i, a in enumerate(approvers))
    d.allow()
    assert (d.allowed, d.status, d.message) == (True, 200, "allowed")
    assert d.upstream_headers == {
        "x-authz-decision-id": "d-1",
        "x-agent-id": AGENT.spiffe_id,
        "x-agent-owner": "it-helpdesk@example.org",
        **extra,
    }


@pytest.mark.parametrize("missing", ["caller", "operation"])
def test_only_an_identified_agent_and_a_resolved_operation_can_be_allowed(missing: str) -> None:
    d = decided()
    setattr(d, missing, None)
    with pytest.raises(AssertionError):
        d.allow()


def test_a_deny_takes_back_every_upstream_header() -> None:
    d = decided()
    d.allow()
    d.deny(Reason.BUDGET_EXHAUSTED, "used up")
    assert (d.reason, d.message, d.upstream_headers, d.status) == (
        Reason.BUDGET_EXHAUSTED,
        "used up",
        {},
        403,
    )


def test_a_refusal_keeps_its_body_fields_stage_policies_and_revocation() -> None:
    d = decided()
    revoke = Revoke("t-1", reason="intent_mismatch", by=AGENT.spiffe_id)
    policy = {"policy": {"reason": "closed", "policies": ["p1", "p2"]}}
    d.refuse(Denied(Reason.APPROVALS_INSUFFICIENT, "two", policy, 8, revoke=revoke))
    assert (d.reason, d.message, d.body_extra, d.denied_at) == (
        Reason.APPROVALS_INSUFFICIENT,
        "two",
        policy,
        8,
    )
    assert (d.policies, d.effects.revoke) == (("p1", "p2"), revoke)


def test_a_refusal_without_a_policy_or_revocation_leaves_them_alone() -> None:
    d = decided()
    d.refuse(Denied(Reason.UNKNOWN_ROUTE, "no route"))
    assert (d.policies, d.effects.revoke, d.body_extra, d.denied_at) == ((), None, {}, 2)


def test_approvers_are_named_once_each_in_order() -> None:
    d = decided()
    d.approvals = (approval("a-1", "erik"), approval("a-2", "dana"), approval("a-3", "erik"))
    assert d.approvers == ["dana", "erik"]


def test_what_stage_7_found_is_the_decisions_target_and_group() -> None:
    d = decided(GRANT)
    target, group = Principal("bob", True, "human"), Group("it-admins", True, True)
    d.context = Context(target, group, degraded=True)
    assert (d.agent, d.target, d.group, d.context_degraded, d.state_changing) == (
        AGENT,
        target,
        group,
        True,
        True,
    )


TOUCH = Route("POST", "/v1/users/{user}/touch", "user.touch", "write", "user", None, True)


@pytest.mark.parametrize(
    ("route", "gated", "state_changing", "takes_approvals"),
    [
        (READ, False, False, False),
        (GRANT, True, True, True),
        (TOUCH, False, True, True),  # a write: approvals count, though none is required
        (replace(READ, approval=True), True, False, True),  # a read the route gates
    ],
    ids=["read", "privilege-change", "write", "gated-read"],
)
def test_what_a_request_of_one_action_says_about_itself(
    route: Route, gated: bool, state_changing: bool, takes_approvals: bool
) -> None:
    operation = Operation(route, "alice", {"group": "staff"})
    assert (operation.gated, operation.state_changing, operation.takes_approvals) == (
        gated,
        state_changing,
        takes_approvals,
    )


def test_a_request_of_several_actions_is_as_demanding_as_its_most_demanding() -> None:
    edit = Action("user.update", "write", "alice")
    reset = Action("user.password.set", "credential_change", "bob", reversible=False)
    operation = Operation(TOUCH, "bob", derived=(reset, edit))
    assert operation.actions == (reset, edit)
    assert (operation.name, operation.target, operation.op_class) == (
        "user.password.set",
        "bob",
        "credential_change",
    )
    assert operation.gated and operation.state_changing and not operation.reversible
    assert operation.targets == ("bob", "alice")
    assert Operation(TOUCH, "alice", derived=(edit,)).gated is False


def test_the_failing_stage_is_the_denying_stages_or_the_reasons() -> None:
    def fresh() -> Decision:
        return Decision("d-1", RequestContext("GET", "/v1/users/alice", {}, b"", "", ""))

    allowed = fresh()
    allowed.reason = Reason.ALLOWED
    assert allowed.failing_stage is None
    by_reason, by_stage, answered = fresh(), fresh(), fresh()
    by_reason.deny(Reason.APPROVAL_REQUIRED, "x")  # no stage said: the reason's own
    by_stage.refuse(Denied(Reason.APPROVAL_REQUIRED, "y", stage=8))  # a policy asking approvers
    answered.deny(Reason.READY, "not a refusal: no stage owns it")
    assert (by_reason.failing_stage, by_stage.failing_stage, answered.failing_stage) == (6, 8, 10)
