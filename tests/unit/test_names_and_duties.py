"""Names compared the way the upstream compares them; separation of duties by identity.

The holes: a task naming ``CAROL`` or ``Svc-Payroll`` missed the directory, so the target
counted as an ordinary unknown account (one approver, no machine-identity forbid) while a
case-insensitive IAM acts on ``carol``; a group written ``it-ADMINS`` escaped the admin-group
policy; ``bob`` approved a task on behalf of ``bob@example.org`` and a reset of his own account
under his address.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from factories import BOT, Decider, DownDirectory, World, deciding, make_world

from authz.config import Approver
from authz.model import Decision
from authz.reasons import Reason

RESET = "POST", "/v1/users/{}/password/reset", "user.password.reset"
ACTIONS = {
    "credential_recovery": ("user.read", "user.password.reset"),
    "access_change": ("group.member.add",),
    "emergency_access": ("group.member.add",),
}


class Desk(Decider):
    def task(self, *principals: str, intent: str = "credential_recovery", **kwargs: object) -> str:
        return self.world.token(
            self.world.bot, intent=intent, actions=ACTIONS[intent], principals=principals, **kwargs
        )  # type: ignore[arg-type]

    def reset(self, target: str, task: str, *approvers: str) -> Decision:
        path = RESET[1].format(quote(target, safe="@"))
        approvals = [self.world.approval(a, task, "POST", path, RESET[2], target) for a in approvers]
        return self.send("POST", path, task, approvals, "credential_recovery")

    def grant(
        self, group: str, user: str, task: str, *approvers: str, intent: str = "access_change"
    ) -> Decision:
        path, body = f"/v1/groups/{group}/members", json.dumps({"user": user}).encode()
        approvals = [
            self.world.approval(a, task, "POST", path, "group.member.add", user, body=body) for a in approvers
        ]
        return self.send("POST", path, task, approvals, intent, body)

    def send(
        self, method: str, path: str, task: str, approvals: list[str], intent: str, body: bytes = b""
    ) -> Decision:
        headers = {"x-agent-intent": intent}
        if approvals:
            headers["x-approval-token"] = ",".join(approvals)
        return self.authz.check(self.world.request(method, path, body=body, task=task, headers=headers))


def world_with(tmp_path: Path, names: str = "exact") -> World:
    world = make_world(tmp_path)
    text = world.config_path.read_text()
    world.config_path.write_text(text.replace('names = "exact"', f'names = "{names}"'))
    return world


@pytest.fixture
def exact(tmp_path: Path) -> Iterator[Desk]:
    yield from deciding(world_with(tmp_path), Desk)


@pytest.fixture
def folding(tmp_path: Path) -> Iterator[Desk]:
    yield from deciding(world_with(tmp_path, "case-insensitive"), Desk)


# -- names an upstream folds --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["CAROL", "Carol", "carol\u200b", "\uff43arol"])
def test_attack_case_variant_of_a_privileged_user_under_exact_comparison(exact: Desk, name: str) -> None:
    task = exact.task(name)
    assert exact.reset(name, task, "dana").reason is Reason.TARGET_AMBIGUOUS


@pytest.mark.parametrize("name", ["CAROL", "Carol", "\uff43arol"])
def test_case_variant_of_a_privileged_user_under_case_insensitive_comparison(
    folding: Desk, name: str
) -> None:
    task = folding.task(name)
    assert folding.reset(name, task, "dana").reason is Reason.APPROVALS_INSUFFICIENT  # carol is privileged
    decision = folding.reset(name, task, "dana", "erik")
    assert decision.allowed and decision.target is not None and decision.target.name == "carol"
    assert folding.records()[-1]["target_attributes"]["name"] == "carol"


def test_a_task_for_carol_covers_carol_in_another_case_when_the_upstream_folds(folding: Desk) -> None:
    task = folding.task("carol")
    assert folding.reset("CAROL", task, "dana", "erik").allowed


def test_a_task_for_carol_does_not_cover_carol_in_another_case_when_the_upstream_is_exact(
    exact: Desk,
) -> None:
    task = exact.task("carol")
    assert exact.reset("CAROL", task, "dana", "erik").reason is Reason.PRINCIPAL_NOT_IN_SCOPE


@pytest.mark.parametrize(
    ("desk", "reason"), [("exact", Reason.TARGET_AMBIGUOUS), ("folding", Reason.POLICY_DENIED)]
)
def test_attack_case_variant_of_a_service_account(
    request: pytest.FixtureRequest, desk: str, reason: Reason
) -> None:
    d: Desk = request.getfixturevalue(desk)
    task = d.task("Svc-Payroll")
    decision = d.reset("Svc-Payroll", task, "dana", "erik")
    assert decision.reason is reason
    if reason is Reason.POLICY_DENIED:  # the machine-identity forbid applies to svc-payroll
        assert decision.body_extra["policy"]["reason"] == "machine_identity_recovery"


def test_attack_change_to_an_account_the_directory_does_not_know(exact: Desk) -> None:
    task = exact.task("mallory")
    decision = exact.reset("mallory", task, "dana")
    assert decision.reason is Reason.TARGET_UNKNOWN


def test_reads_of_unknown_accounts_go_on(exact: Desk) -> None:
    task = exact.world.token(exact.world.bot, principals=("mallory",))
    decision = exact.send("GET", "/v1/users/mallory", task, [], "account_support")
    assert decision.allowed and decision.target is not None and not decision.target.exists


def test_unknown_targets_may_be_allowed_by_config(tmp_path: Path) -> None:
    world = world_with(tmp_path)
    world.config_path.write_text(
        world.config_path.read_text().replace('unknown_targets = "deny"', 'unknown_targets = "allow"')
    )
    for d in deciding(world, Desk):
        task = d.task("mallory")
        assert d.reset("mallory", task, "dana").allowed


def test_an_alias_names_the_account_it_belongs_to(exact: Desk) -> None:
    task = exact.task("bob@example.org")
    decision = exact.reset("bob@example.org", task, "dana")
    assert decision.allowed and decision.target is not None and decision.target.name == "bob"


# -- groups -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("group", "desk", "reason"),
    [
        ("it-ADMINS", "exact", Reason.TARGET_AMBIGUOUS),
        ("IT-Admins", "exact", Reason.TARGET_AMBIGUOUS),
        ("it-ADMINS", "folding", Reason.POLICY_DENIED),  # admin_group_grant: it-admins is privileged
        ("payroll-admins", "exact", Reason.POLICY_DENIED),
        ("no-such-group", "exact", Reason.TARGET_UNKNOWN),
    ],
)
def test_attack_group_named_to_escape_the_admin_group_policy(
    request: pytest.FixtureRequest, group: str, desk: str, reason: Reason
) -> None:
    d: Desk = request.getfixturevalue(desk)
    task = d.task("bob", intent="access_change")
    decision = d.grant(group, "bob", task, "dana", "erik")
    assert decision.reason is reason
    if reason is Reason.POLICY_DENIED:
        assert decision.body_extra["policy"]["reason"] == "admin_group_grant"


def test_the_groups_privilege_comes_from_the_directory_not_its_name(exact: Desk) -> None:
    task = exact.task("bob", intent="access_change")
    assert exact.grant("staff", "bob", task, "dana").allowed
    assert exact.records()[-1]["group"] == {"name": "staff", "exists": True, "privileged": False}


def test_a_break_glass_grant_into_a_privileged_group_with_two_approvers(exact: Desk) -> None:
    task = exact.task("bob", intent="emergency_access")
    assert exact.grant("it-admins", "bob", task, "dana", "erik", intent="emergency_access").allowed


# -- separation of duties by identity -----------------------------------------------------------
@pytest.mark.parametrize("on_behalf_of", ["bob", "Bob", "bob@example.org", "BOB@EXAMPLE.ORG", "Bob.Builder"])
def test_attack_approver_is_the_on_behalf_of_user_under_another_name(exact: Desk, on_behalf_of: str) -> None:
    task = exact.task("alice", on_behalf_of=on_behalf_of)
    decision = exact.reset("alice", task, "bob")
    assert decision.reason is Reason.APPROVER_NOT_ALLOWED


@pytest.mark.parametrize("target", ["bob@example.org", "Bob.Builder"])
def test_attack_approver_approves_their_own_reset_under_another_name(exact: Desk, target: str) -> None:
    task = exact.task(target)
    assert exact.reset(target, task, "bob").reason is Reason.APPROVER_NOT_ALLOWED


def test_approver_bound_to_an_address_is_the_same_person(exact: Desk) -> None:
    task = exact.task("dana")  # dana's approver entry names dana@example.org
    assert exact.reset("dana", task, "dana").reason is Reason.APPROVER_NOT_ALLOWED
    assert exact.reset("dana", task, "erik").allowed


def test_attack_approver_is_the_agent(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    config = world.config()
    agent_approver = Approver(
        BOT, "the agent itself", config.approvals.approvers["dana"].key, frozenset({"credential_change"})
    )
    approvers = {**config.approvals.approvers, "dana": replace(agent_approver, id="dana", principal=BOT)}
    config = replace(config, approvals=replace(config.approvals, approvers=approvers))
    for d in deciding(world, Desk, config=config):
        task = d.task("alice")
        assert d.reset("alice", task, "dana").reason is Reason.APPROVER_NOT_ALLOWED


def test_an_approver_the_directory_does_not_know_is_refused(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    config = world.config()
    approvers = {
        **config.approvals.approvers,
        "erik": replace(config.approvals.approvers["erik"], principal="ghost"),
    }
    config = replace(config, approvals=replace(config.approvals, approvers=approvers))
    for d in deciding(world, Desk, config=config):
        task = d.task("alice")
        decision = d.reset("alice", task, "erik")
        assert decision.reason is Reason.APPROVER_NOT_ALLOWED and "not in the directory" in decision.message


def test_attack_two_approver_entries_for_one_person(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    config = world.config()
    approvers = {
        **config.approvals.approvers,
        "erik": replace(config.approvals.approvers["erik"], principal="dana"),
    }
    config = replace(config, approvals=replace(config.approvals, approvers=approvers))
    for d in deciding(world, Desk, config=config):
        task = d.task("carol")  # privileged: two approvers needed
        decision = d.reset("carol", task, "dana", "erik")
        assert decision.reason is Reason.APPROVER_NOT_ALLOWED and "one person" in decision.message


def test_a_down_directory_cannot_tell_who_approves(tmp_path: Path) -> None:
    for d in deciding(make_world(tmp_path), Desk, directory=DownDirectory()):
        task = d.task("alice")
        assert d.reset("alice", task, "dana").reason is Reason.CONTEXT_UNAVAILABLE
