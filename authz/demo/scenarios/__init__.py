"""The demo's scripted scenarios: what an agent tries through Envoy, and what must happen.

``SCRIPT`` runs the groups in order, one module each by theme; ``harness`` holds what they
share (``Demo``, ``Outcome``, the gated ``Change`` requests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from authz.demo.scenarios.approvals import approvals
from authz.demo.scenarios.harness import Demo, Outcome
from authz.demo.scenarios.identity import identity_and_routes
from authz.demo.scenarios.one_reading import one_reading
from authz.demo.scenarios.policies import policies
from authz.demo.scenarios.records import audit_checks, denied_never_reached_upstream
from authz.demo.scenarios.replicas import revoked_through_one_replica
from authz.demo.scenarios.stopping import authorizer_stopped, kill_switch_and_completion
from authz.demo.scenarios.tasks import task_tokens
from authz.demo.stack import Stack

__all__ = ["SCRIPT", "Demo", "Outcome", "run_all", "write_json"]

SCRIPT: tuple[Callable[[Demo], Iterator[Outcome]], ...] = (
    identity_and_routes,
    task_tokens,
    approvals,
    one_reading,
    policies,
    kill_switch_and_completion,
    revoked_through_one_replica,  # with two agent-authz processes only (--store redis)
    authorizer_stopped,
    audit_checks,
    denied_never_reached_upstream,
)


def run_all(stack: Stack, progress: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    demo, outcomes = Demo(stack), []
    for part in SCRIPT:
        for outcome in part(demo):
            outcomes.append(outcome)
            progress(outcome)
    return outcomes


def write_json(path: Path, outcomes: list[Outcome]) -> None:
    path.write_text(json.dumps([o.as_dict() for o in outcomes], indent=2) + "\n")
