"""Separation of duties by identity (stage 6, ``authz/duties.py``), through the pipeline.

The holes: ``bob`` approved a task on behalf of ``bob@example.org`` and a reset of his own
account under his address. ``tests/unit/test_duties.py`` asks each question directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from factories import BOT, DownDirectory, deciding, make_world

from authz.config import Approver
from authz.reasons import Reason
from unit.stages.desk import Desk, world_with


@pytest.fixture
def exact(tmp_path: Path) -> Iterator[Desk]:
    yield from deciding(world_with(tmp_path), Desk)


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
