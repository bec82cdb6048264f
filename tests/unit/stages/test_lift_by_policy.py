"""How many approvers a request needs is the policy's to say (stage 6 keeps the floor of one).

The deny tells the agent the number the policy asks for this exact request, and files it in the
approval queue; a deny no number of approvers could lift files nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from factories import Decider, DownDirectory, World, deciding, make_world, policies_with

from authz.directory import Directory
from authz.model import Decision
from authz.policy.engine import Policies
from authz.reasons import STAGE_OF, Reason

RESET = "POST", "/v1/users/{}/password/reset", "user.password.reset"
STRICT = """@id("three-for-a-password-reset")
@reason("approvals_insufficient")
forbid (principal, action == Action::"user.password.reset", resource) when { context.approvals < 3 };
"""


class Desk(Decider):
    def reset(self, target: str, *approvers: str, task: str | None = None) -> Decision:
        return self.change(RESET[1].format(target), RESET[2], target, *approvers, task=task)

    def change(
        self, path: str, operation: str, target: str, *approvers: str, task: str | None = None
    ) -> Decision:
        """``POST path`` under a credential_recovery task, with approvals by ``approvers``."""
        method = "POST"
        task = task or self.world.token(
            self.world.bot, intent="credential_recovery", actions=(operation,), principals=(target,)
        )
        tokens = [self.world.approval(a, task, method, path, operation, target) for a in approvers]
        headers = {"x-agent-intent": "credential_recovery"}
        if tokens:
            headers["x-approval-token"] = ",".join(tokens)
        return self.authz.check(self.world.request(method, path, task=task, headers=headers))

    def needed_in_queue(self, decision: Decision) -> int:
        filed = self.queue.get(decision.body_extra["approval"]["request_id"], now=time.time())
        assert filed is not None
        return filed.new.approvers_needed


def desk(
    tmp_path: Path,
    extra_policy: str | None = None,
    directory: Directory | None = None,
    prepare: Callable[[World], None] | None = None,
) -> Iterator[Desk]:
    world = make_world(tmp_path)
    if prepare is not None:
        prepare(world)  # edits the world's config or policies before they are loaded
    config = world.config()
    if extra_policy is not None:
        config = replace(config, policy_dir=policies_with(world, extra_policy))
    yield from deciding(world, Desk, config=config, directory=directory)


@pytest.fixture
def d(tmp_path: Path) -> Iterator[Desk]:
    yield from desk(tmp_path)


def test_a_privileged_target_without_approval_asks_for_two_as_the_policy_says(d: Desk) -> None:
    decision = d.reset("carol")  # privileged: from the directory, not from config
    assert decision.reason is Reason.APPROVAL_REQUIRED and decision.denied_at == STAGE_OF[decision.reason]
    approval = decision.body_extra["approval"]
    assert (approval["approvers_needed"], approval["approvers_required"], approval["queued"]) == (2, 2, True)
    assert d.needed_in_queue(decision) == 2


def test_an_ordinary_target_asks_for_one(d: Desk) -> None:
    approval = d.reset("alice").body_extra["approval"]
    assert (approval["approvers_needed"], approval["queued"]) == (1, True)


def test_a_policy_deny_more_approvers_would_lift_is_filed_for_them(d: Desk) -> None:
    task = d.world.token(
        d.world.bot, intent="credential_recovery", actions=("user.password.reset",), principals=("carol",)
    )
    first = d.reset("carol", task=task)
    decision = d.reset("carol", "dana", task=task)
    assert decision.reason is Reason.APPROVALS_INSUFFICIENT and decision.denied_at == 8  # by the policy
    assert decision.body_extra["policy"]["policies"] == ["privileged-targets-need-two-approvers"]
    approval = decision.body_extra["approval"]
    assert (approval["approvers_needed"], approval["approvers_required"], approval["approved_by"]) == (
        2,
        1,
        ["dana"],
    )
    assert approval["request_id"] == first.body_extra["approval"]["request_id"]  # the same request
    assert d.reset("carol", "dana", "erik", task=task).allowed


def test_a_threshold_written_in_a_policy_is_the_threshold(tmp_path: Path) -> None:
    for d in desk(tmp_path, STRICT):
        task = d.world.token(d.world.bot, intent="credential_recovery", actions=("user.password.reset",))
        asked = d.reset("alice", task=task)
        assert asked.body_extra["approval"]["approvers_needed"] == 3 and d.needed_in_queue(asked) == 3
        two = d.reset("alice", "dana", "erik", task=task)
        assert two.reason is Reason.APPROVALS_INSUFFICIENT
        assert two.body_extra["approval"]["approvers_required"] == 1
        assert d.reset("alice", "dana", "erik", "bob", task=task).allowed


def test_more_than_a_request_can_carry_is_no_number(tmp_path: Path) -> None:
    # max_tokens is 4: a policy asking for 5 cannot be met, and nothing is filed for humans.
    for d in desk(tmp_path, STRICT.replace("< 3", "< 5")):
        decision = d.reset("alice")
        assert decision.reason is Reason.APPROVAL_REQUIRED
        assert decision.body_extra["approval"]["approvers_needed"] is None
        assert d.queue.requests(now=time.time()) == []


def test_no_number_of_approvers_lifts_a_machine_identity_reset(d: Desk) -> None:
    asked = d.reset("svc-backup")
    assert asked.reason is Reason.APPROVAL_REQUIRED  # the floor still denies first
    approval = asked.body_extra["approval"]
    assert (approval["approvers_needed"], approval["approvers_required"], approval["queued"]) == (
        None,
        None,
        False,
    )
    assert d.queue.requests(now=time.time()) == []  # nothing for a human to approve in vain
    approved = d.reset("svc-backup", "dana", "erik")
    assert approved.reason is Reason.POLICY_DENIED and "approval" not in approved.body_extra


def test_without_the_directory_how_many_is_unknown_and_nothing_is_filed(tmp_path: Path) -> None:
    for d in desk(tmp_path, directory=DownDirectory()):
        decision = d.reset("alice")
        assert decision.reason is Reason.APPROVAL_REQUIRED  # stage 6 first, as ever
        assert decision.body_extra["approval"]["approvers_needed"] is None
        assert d.queue.requests(now=time.time()) == []
        assert d.reset("alice", "dana").reason is Reason.CONTEXT_UNAVAILABLE


def test_a_shadow_route_asks_for_the_floor(d: Desk) -> None:
    # user.mfa.reset is in shadow mode in the demo config: policy is not enforced, the floor is.
    w = d.world
    path = "/v1/users/carol/mfa/reset"
    task = w.token(w.bot, intent="credential_recovery", actions=("user.mfa.reset",), principals=("carol",))
    headers = {"x-agent-intent": "credential_recovery"}
    decision = d.authz.check(w.request("POST", path, task=task, headers=headers))
    assert decision.reason is Reason.APPROVAL_REQUIRED
    assert decision.body_extra["approval"]["approvers_needed"] == 1


SESSIONS_ROUTE = """
[[routes]]
method = "POST"
path = "/v1/users/{user}/sessions/revoke"
operation = "user.sessions.revoke"
class = "write"
principal = { path_param = "user" }
"""
SESSIONS_ACTION = """
action "user.sessions.revoke" in ["write"]
  appliesTo { principal: [Agent], resource: [Principal], context: RequestContext };
"""


def add_sessions_route(world: World, *, declare: bool = True) -> None:
    """An irreversible ``write`` route (not an approval-gated class) that dana may approve."""
    text = world.config_path.read_text()
    text = text.replace(
        'operations = ["user.read", "user.password.reset", "user.mfa.reset"]',
        'operations = ["user.read", "user.password.reset", "user.mfa.reset", "user.sessions.revoke"]',
    ).replace('classes = ["credential_change", "privilege_change", "key_export"]', 'classes = ["write"]')
    world.config_path.write_text(text + SESSIONS_ROUTE)
    if declare:
        schema = world.root / "policies" / "schema.cedarschema"
        schema.write_text(schema.read_text() + SESSIONS_ACTION)


def test_a_route_whose_operation_the_schema_does_not_declare_joins_its_class(tmp_path: Path) -> None:
    """Route packs bring operations the schema does not list: each is declared in its class's
    action group, so class-wide policies (approvals for irreversible writes) cover it."""
    world = make_world(tmp_path)
    add_sessions_route(world, declare=False)
    config = world.config()
    assert not Policies.load(config.policy_dir).declares("user.sessions.revoke")
    assert Policies.load(config.policy_dir, config.actions).declares("user.sessions.revoke")
    for d in desk(tmp_path / "desk", prepare=lambda w: add_sessions_route(w, declare=False)):
        op, path = "user.sessions.revoke", "/v1/users/alice/sessions/revoke"
        task = d.world.token(d.world.bot, intent="credential_recovery", actions=(op,))
        asked = d.change(path, op, "alice", task=task)
        assert asked.body_extra["policy"]["policies"] == ["irreversible-operations-need-approval"]


def test_an_irreversible_write_needs_approval_though_its_class_does_not(tmp_path: Path) -> None:
    for d in desk(tmp_path, prepare=add_sessions_route):
        op, path = "user.sessions.revoke", "/v1/users/alice/sessions/revoke"
        task = d.world.token(d.world.bot, intent="credential_recovery", actions=(op,))
        asked = d.change(path, op, "alice", task=task)
        assert asked.reason is Reason.APPROVAL_REQUIRED and asked.denied_at == 8  # the policy's forbid
        assert asked.body_extra["policy"]["policies"] == ["irreversible-operations-need-approval"]
        assert asked.body_extra["approval"]["approvers_needed"] == 1 and d.needed_in_queue(asked) == 1
        assert d.change(path, op, "alice", "erik", task=task).reason is Reason.APPROVER_NOT_ALLOWED
        approved = d.change(path, op, "alice", "dana", task=task)
        assert approved.allowed and approved.upstream_headers["x-approved-by"] == "dana"
        (spent,) = approved.approvals
        assert d.store.approval_consumed(spent.approval_id)  # consumed like any approval
