"""Policies (stage 8): Cedar over the live attributes of the target — a service account's
reset refused even approved, two approvers for a privileged user, a shadow-mode route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from authz.audit import is_decision
from authz.demo.scenarios.harness import MFA_SVC, RESET_CAROL, RESET_SVC, Demo, Outcome


def policies(d: Demo) -> Iterator[Outcome]:
    """Stage 8: Cedar policies over the live attributes of the target."""
    machine = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("svc-backup",)
    )
    approved = d.approve("dana", machine, RESET_SVC)
    resp = d.change(machine, RESET_SVC, [approved])
    yield Outcome(
        "password reset of a service account, even approved",
        403,
        resp.status,
        "policy_denied: machine_identity_recovery",
        f"{resp.reason}: {resp.json().get('policy', {}).get('reason')}" if resp.reason else "",
    )
    privileged = d.token(
        intent="credential_recovery", actions=("user.password.reset",), principals=("carol",)
    )
    resp = d.change(privileged, RESET_CAROL, [])
    needed = resp.json().get("approval", {}).get("approvers_needed") if resp.reason else None
    yield Outcome(
        "privileged user's reset, no approval: policy asks for two",
        403,
        resp.status,
        "approval_required: 2 approvers",
        f"{resp.reason}: {needed} approvers",
    )
    one = [d.approve("dana", privileged, RESET_CAROL)]
    yield d.expect(
        "privileged user's reset with one approval", 403, "approvals_insufficient",
        d.change(privileged, RESET_CAROL, one),
    )  # fmt: skip
    two = [d.approve(a, privileged, RESET_CAROL) for a in ("dana", "erik")]
    yield d.expect(
        "privileged user's reset with two approvals", 200, "", d.change(privileged, RESET_CAROL, two)
    )
    shadowed = d.token(intent="credential_recovery", actions=("user.mfa.reset",), principals=("svc-backup",))
    resp = d.change(shadowed, MFA_SVC, [d.approve("dana", shadowed, MFA_SVC)])
    records = [json.loads(line) for path in d.stack.audit_paths for line in path.read_text().splitlines()]
    decided = (r for r in reversed(records) if r.get("path") == MFA_SVC.path and is_decision(r))
    audited: dict[str, Any] = next(decided, {})  # the decision, not its outcome record
    shadow = audited.get("shadow") or {}
    yield Outcome(
        "shadow-mode route: a would-be deny passes; the audit has it",
        200,
        resp.status,
        "audited: deny machine_identity_recovery",
        f"audited: {shadow.get('decision')} {shadow.get('reason')}" if shadow else "not audited",
    )
