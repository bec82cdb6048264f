"""Table-driven policy tests: ``agent-authz policy test DIR`` (JSON files of cases).

A case names an action, the target's attributes, the context it differs in from the defaults,
the expected decision and, for a deny, the expected reason; ``policy`` names the policy that
must determine it. Every policy must determine at least one passing case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authz.errors import PolicyError
from authz.policy.engine import SAMPLE_CONTEXT, SAMPLE_PRINCIPAL, Policies, PolicyInput

DEFAULT_CONTEXT: dict[str, Any] = dict(SAMPLE_CONTEXT)
AGENT = "spiffe://agents.example.org/agent/helpdesk-bot"


class CaseError(PolicyError, ValueError):
    """A test file that is not a list of well-formed cases."""


@dataclass(frozen=True)
class Outcome:
    file: Path
    name: str
    ok: bool
    detail: str
    policy: str | None


def _input(case: dict[str, Any]) -> PolicyInput:
    resource = {**SAMPLE_PRINCIPAL, **case.get("resource", {})}
    name = resource.pop("name", "alice")
    return PolicyInput(
        agent=AGENT,
        agent_attrs={"owner": "it-helpdesk@example.org", "status": "active", **case.get("agent", {})},
        action=case["action"],
        principal=name,
        principal_attrs=resource,
        context={**DEFAULT_CONTEXT, **case.get("context", {})},
    )


def run_case(policies: Policies, file: Path, case: dict[str, Any]) -> Outcome:
    name = str(case.get("name", "(unnamed)"))
    try:
        verdict = policies.decide(_input(case))
        expect, reason, policy = case["expect"], case.get("reason"), case.get("policy")
    except (KeyError, TypeError) as exc:
        return Outcome(file, name, False, f"malformed case: {exc}", None)
    got = "allow" if verdict.allowed else "deny"
    problems = []
    if got != expect:
        problems.append(f"expected {expect}, got {got}")
    if reason is not None and verdict.reason != reason:
        problems.append(f"expected reason {reason}, got {verdict.reason}")
    if policy is not None and policy not in verdict.policies:
        problems.append(
            f"expected {policy} to decide, got {', '.join(verdict.policies) or 'none (default deny)'}"
        )
    if verdict.errors:
        problems.append(f"evaluation errors: {'; '.join(verdict.errors)}")
    return Outcome(file, name, not problems, "; ".join(problems), policy)


def run_directory(policies: Policies, directory: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    files = sorted(directory.glob("*.json"))
    if not files:
        raise CaseError(f"{directory} holds no *.json test file")
    for file in files:
        try:
            cases = json.loads(file.read_text(encoding="utf-8"))["cases"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CaseError(f'{file}: expected {{"cases": [...]}} ({exc})') from None
        outcomes += [run_case(policies, file, case) for case in cases]
    return outcomes


def uncovered(policies: Policies, outcomes: list[Outcome]) -> list[str]:
    """Policies no passing case names as deciding."""
    covered = {o.policy for o in outcomes if o.ok}
    return [pid for pid in policies.ids if pid not in covered]
