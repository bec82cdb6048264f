"""Stage 8 in the pipeline: Cedar over the decision so far; reasons, audit, nothing spent on a deny."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from factories import Decider, deciding, make_world, policies_with

from authz.metrics import Metrics
from authz.model import Decision
from authz.pipeline import Authorizer
from authz.reasons import Reason

RESET_SVC = ("POST", "/v1/users/svc-backup/password/reset")


class Setup(Decider):
    def read(self) -> Decision:
        return self.authz.check(self.world.request(task=self.world.token(self.world.bot)))


def setup(tmp_path: Path, extra_policy: str | None = None) -> Iterator[Setup]:
    world = make_world(tmp_path)
    config = world.config()
    if extra_policy is not None:
        config = replace(config, policy_dir=policies_with(world, extra_policy))
    yield from deciding(world, Setup, config=config)


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    yield from setup(tmp_path)


def test_an_allow_records_the_deciding_policy(s: Setup) -> None:
    decision = s.read()
    assert decision.allowed and decision.policies == ("reads-within-the-task",)
    assert s.records()[0]["policies"] == ["reads-within-the-task"]


def test_a_machine_identity_reset_is_denied_even_approved_and_spends_nothing(s: Setup) -> None:
    w = s.world
    task = w.token(
        w.bot, intent="credential_recovery", actions=("user.password.reset",), principals=("svc-backup",)
    )
    approval = w.approval("dana", task, *RESET_SVC, "user.password.reset", "svc-backup")
    headers = {"x-agent-intent": "credential_recovery", "x-approval-token": approval}
    decision = s.authz.check(w.request(*RESET_SVC, task=task, headers=headers))
    assert decision.reason is Reason.POLICY_DENIED
    policy = decision.body_extra["policy"]
    assert policy == {
        "reason": "machine_identity_recovery",
        "policies": ["no-password-or-mfa-reset-for-machine-identities"],
    }
    assert not s.store.approval_consumed(jwt.decode(approval, options={"verify_signature": False})["jti"])
    assert s.records()[0]["policies"] == ["no-password-or-mfa-reset-for-machine-identities"]


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [("approvals_insufficient", Reason.APPROVALS_INSUFFICIENT), ("allowed", Reason.POLICY_DENIED),
     ("closed_for_audit", Reason.POLICY_DENIED)],
)  # fmt: skip
def test_a_forbids_reason_is_the_reason_when_it_is_a_known_code(
    tmp_path: Path, annotation: str, reason: Reason
) -> None:
    extra = f'@id("extra")\n@reason("{annotation}")\nforbid (principal, action, resource);\n'
    for s in setup(tmp_path, extra):
        decision = s.read()
        assert decision.reason is reason and decision.body_extra["policy"]["reason"] == annotation


def shadow_setup(tmp_path: Path, *, everywhere: bool) -> Iterator[Setup]:
    """The demo config, whose user.mfa.reset route is in shadow mode; or shadow mode everywhere."""
    for s in setup(tmp_path):
        if everywhere:
            config = replace(s.world.config(), policy_enforce=False)
            s.authz = Authorizer(config, s.audit, s.store, Metrics())
        yield s


def reset(s: Setup, path: str, operation: str, approvers: tuple[str, ...] = ("dana",)) -> Decision:
    w = s.world
    task = w.token(w.bot, intent="credential_recovery", actions=(operation,), principals=("svc-backup",))
    tokens = [w.approval(a, task, "POST", path, operation, "svc-backup") for a in approvers]
    headers = {"x-agent-intent": "credential_recovery"}
    if tokens:
        headers["x-approval-token"] = ",".join(tokens)
    return s.authz.check(w.request("POST", path, task=task, headers=headers))


def test_a_shadow_route_lets_a_policy_deny_through_and_audits_it(tmp_path: Path) -> None:
    for s in shadow_setup(tmp_path, everywhere=False):
        mfa = reset(s, "/v1/users/svc-backup/mfa/reset", "user.mfa.reset")
        assert mfa.allowed and mfa.shadow is not None and mfa.shadow["reason"] == "machine_identity_recovery"
        password = reset(s, "/v1/users/svc-backup/password/reset", "user.password.reset")
        assert password.reason is Reason.POLICY_DENIED  # other routes still enforce
        record = s.records()[0]
        assert record["decision"] == "allow" and record["shadow"]["decision"] == "deny"


def test_shadow_mode_never_waives_approvals_or_identity(tmp_path: Path) -> None:
    for s in shadow_setup(tmp_path, everywhere=True):
        assert reset(s, "/v1/users/svc-backup/mfa/reset", "user.mfa.reset", approvers=()).reason is (
            Reason.APPROVAL_REQUIRED
        )
        rogue = s.world.svid("spiffe://agents.example.org/agent/rogue-bot")
        assert s.authz.check(s.world.request(svid=rogue)).reason is Reason.UNKNOWN_AGENT
        everywhere = reset(s, "/v1/users/svc-backup/password/reset", "user.password.reset")
        assert everywhere.allowed and everywhere.shadow is not None


def permit_all(tmp_path: Path) -> Iterator[Setup]:
    """Only a policy that permits everything: what still denies is stages 1-6 (DESIGN §2)."""
    world = make_world(tmp_path)
    folder = tmp_path / "permit-all"
    folder.mkdir()
    shutil.copy(tmp_path / "policies" / "schema.cedarschema", folder)
    (folder / "all.cedar").write_text('@id("everything")\npermit (principal, action, resource);\n')
    yield from deciding(world, Setup, config=replace(world.config(), policy_dir=folder))


def test_no_policy_can_switch_off_stages_1_to_6(tmp_path: Path) -> None:
    for s in permit_all(tmp_path):
        w = s.world
        reset = ("POST", "/v1/users/alice/password/reset")
        task = w.token(w.bot, intent="credential_recovery", actions=("user.password.reset",))
        intent = {"x-agent-intent": "credential_recovery"}
        by_obo = w.token(
            w.bot, intent="credential_recovery", actions=("user.password.reset",), on_behalf_of="bob"
        )
        obo_approval = w.approval("bob", by_obo, *reset, "user.password.reset", "alice")
        rogue = w.svid("spiffe://agents.example.org/agent/rogue-bot")
        cases = [
            (w.request(svid=rogue, task=w.token(w.bot)), Reason.UNKNOWN_AGENT),  # 1
            (w.request("GET", "/v1/secrets", task=w.token(w.bot)), Reason.UNKNOWN_ROUTE),  # 2
            (w.request(), Reason.TASK_TOKEN_MISSING),  # 3
            (w.request("GET", "/v1/users/bob", task=w.token(w.bot)), Reason.PRINCIPAL_NOT_IN_SCOPE),  # 4
            (
                w.request(task=w.token(w.bot), headers={"x-agent-intent": "access_change"}),
                Reason.INTENT_MISMATCH,
            ),
            (w.request(*reset, task=task, headers=intent), Reason.APPROVAL_REQUIRED),  # 6
            (
                w.request(*reset, task=by_obo, headers={**intent, "x-approval-token": obo_approval}),
                Reason.APPROVER_NOT_ALLOWED,
            ),
        ]
        assert [s.authz.check(ctx).reason for ctx, _ in cases] == [reason for _, reason in cases]
        assert s.read().policies == ("everything",)  # the policy is in force
