"""Names compared the way the upstream compares them (stage 7, ``authz/stages/context.py``).

The holes: a task naming ``CAROL`` or ``Svc-Payroll`` missed the directory, so the target
counted as an ordinary unknown account (one approver, no machine-identity forbid) while a
case-insensitive IAM acts on ``carol``; a group written ``it-ADMINS`` escaped the admin-group
policy. Separation of duties by identity: ``test_approval_duties.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import deciding

from authz.reasons import Reason
from unit.stages.desk import Desk, world_with


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
