"""Cedar policies (``authz/policy/engine.py``): loaded and validated once (errors name file and
line), decided per request, verdicts remembered per distinct input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_world

from authz.config import load_config
from authz.config.packs import PACKS
from authz.errors import PolicyError
from authz.policy.engine import SAMPLE_PRINCIPAL, Policies, PolicyInput
from authz.policy.testing import DEFAULT_CONTEXT

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(POLICIES / "schema.cedarschema", tmp_path)
    shutil.copy(POLICIES / "default.cedar", tmp_path / "a-default.cedar")
    return tmp_path


BROKEN = """// second file
@id("fine")
permit (principal, action in Action::"read", resource);

@id("broken")
forbid (principal, action, resource) when { resource.kind == };
"""
UNKNOWN_ATTRIBUTE = """@id("fine")
permit (principal, action in Action::"read", resource);

@id("typo")
forbid (principal, action, resource)
when { resource.privilegd };
"""


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (BROKEN, 5, "policy `broken` does not parse"),  # the policy's line: Cedar says no more
        (UNKNOWN_ATTRIBUTE, 6, "for policy `typo`, attribute `privilegd`"),  # the line naming it
    ],
)
def test_errors_name_the_file_and_line(folder: Path, text: str, line: int, problem: str) -> None:
    (folder / "b-extra.cedar").write_text(text)
    with pytest.raises(PolicyError) as info:
        Policies.load(folder)
    assert info.value.file == folder / "b-extra.cedar" and info.value.line == line
    assert problem in info.value.problem
    result = subprocess.run(
        [sys.executable, "-m", "authz", "policy", "validate", "--dir", str(folder)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and f"b-extra.cedar:{line}" in result.stderr


def test_a_missing_schema_or_no_policies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="schema.cedarschema"):
        Policies.load(tmp_path)
    shutil.copy(POLICIES / "schema.cedarschema", tmp_path)
    with pytest.raises(PolicyError, match="no \\*.cedar"):
        Policies.load(tmp_path)


def request(action: str = "user.password.reset", **context: object) -> PolicyInput:
    return PolicyInput(
        agent="spiffe://agents.example.org/agent/helpdesk-bot",
        agent_attrs={"owner": "it", "status": "active"},
        action=action,
        principal="svc-backup",
        principal_attrs={**SAMPLE_PRINCIPAL, "kind": "service_account"},
        context={**DEFAULT_CONTEXT, **context},
    )


def test_reasons_are_mapped_across_files_by_position(folder: Path) -> None:
    (folder / "b-extra.cedar").write_text(
        '@id("late-forbid")\n@reason("closed_for_maintenance")\nforbid (principal, action, resource)\n'
        "when { context.hour == 3 };\n"
    )
    policies = Policies.load(folder)
    assert policies.ids[-1] == "late-forbid"
    verdict = policies.decide(request("user.api_key.rotate", approvals=1, reversible=False, hour=3))
    assert (verdict.allowed, verdict.reason, verdict.policies) == (
        False,
        "closed_for_maintenance",
        ("late-forbid",),
    )
    machine = policies.decide(request(approvals=2, reversible=False))
    assert machine.reason == "machine_identity_recovery"


def test_an_evaluation_error_denies(folder: Path) -> None:
    policies = Policies.load(folder)
    broken = request(approvals="two")  # a context that does not fit the schema
    verdict = policies.decide(broken)
    assert not verdict.allowed and verdict.errors


def test_an_unknown_action_is_denied(folder: Path) -> None:
    verdict = Policies.load(folder).decide(request("user.delete", approvals=5))
    assert not verdict.allowed


def test_verdicts_are_remembered_per_distinct_input(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policies = Policies.load(folder)
    evaluations: list[PolicyInput] = []
    real = policies._evaluate

    def counting(request: PolicyInput) -> object:
        evaluations.append(request)
        return real(request)

    monkeypatch.setattr(policies, "_evaluate", counting)
    first = policies.decide(request(approvals=1, reversible=False))
    assert policies.decide(request(approvals=1, reversible=False)) == first and len(evaluations) == 1
    policies.decide(request(approvals=2, reversible=False))  # another input: evaluated


def test_a_schema_that_puts_an_operation_in_another_class_is_refused(folder: Path) -> None:
    """Class-wide policies judge an operation by its action group: the schema's must be the
    route table's class, or a credential change could be judged as a write."""
    schema = folder / "schema.cedarschema"
    schema.write_text(
        schema.read_text()
        + 'action "user.touch" in ["write"] appliesTo { principal: [Agent], resource: [Principal], '
        "context: RequestContext };\n"
    )
    Policies.load(folder, {"user.touch": "write"})
    with pytest.raises(PolicyError, match="declares user.touch outside the action group credential_change"):
        Policies.load(folder, {"user.touch": "credential_change"})
    with pytest.raises(PolicyError, match="declares user.password.reset outside the action group write"):
        Policies.load(folder, {"user.password.reset": "write"})


def pack_operations(tmp_path: Path) -> dict[str, str]:
    """Every operation of every shipped route pack, with its class, as a config reads them."""
    path = make_world(tmp_path / "world").config_path
    packs = "".join(f'\n[[packs]]\nname = "{n}"\nprefix = "/{n}"\n' for n in PACKS)
    path.write_text(path.read_text() + packs)
    config = load_config(path)
    ops = {r.operation for r in config.routes if r.pack}
    ops |= {rule.operation for r in config.routes if r.pack and r.derive for rule in r.derive.rules}
    return {op: config.actions[op] for op in ops}


def test_no_packs_sign_in_credential_of_a_service_account_is_changed(folder: Path, tmp_path: Path) -> None:
    """The machine-identity forbid covers every API: each pack operation that changes or hands out
    what a user account signs in with (every credential change or key export on a user but an
    API key's rotation) is in the schema's sign_in_credential group."""
    operations = pack_operations(tmp_path)
    policies = Policies.load(folder, operations)
    sign_in = sorted(
        op for op, op_class in operations.items()
        if op.startswith("user.") and op_class in ("credential_change", "key_export")
    )  # fmt: skip
    assert len(sign_in) > 40  # every pack's, not an empty list
    allowed = [op for op in sign_in if policies.decide(request(op, approvals=2, reversible=False)).allowed]
    assert allowed == []
    reasons = {policies.decide(request(op, approvals=2, reversible=False)).reason for op in sign_in}
    assert reasons == {"machine_identity_recovery"}
    human = {**SAMPLE_PRINCIPAL, "kind": "human"}
    person = [op for op in sign_in if policies.decide(
        PolicyInput(**{**request(op, approvals=2, reversible=False).__dict__, "principal_attrs": human})
    ).allowed]  # fmt: skip
    assert person == sign_in  # the forbid is about machines: a person's is allowed with approvals
    rotate = policies.decide(request("user.api_key.rotate", approvals=1, reversible=False))
    assert rotate.allowed
