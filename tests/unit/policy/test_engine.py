"""Cedar policies (``authz/policy/engine.py``): loaded and validated once (errors name file and
line), decided per request, verdicts remembered per distinct input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    ("text", "line", "problem"), [(BROKEN, 5, "does not parse"), (UNKNOWN_ATTRIBUTE, 4, "schema")]
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
