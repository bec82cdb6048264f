"""Stopping: an agent suspended mid-task with the kill switch, a task completed by its agent,
and the authorizer itself stopped (Envoy fails closed)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

from authz.demo.scenarios.harness import AUDITOR, BOT, Demo, Outcome
from authz.demo.stack import Stack
from authz.wellknown import COMPLETE_TASK_PATH


def kill_switch_and_completion(d: Demo) -> Iterator[Outcome]:
    auditor_task = d.token(AUDITOR)
    yield d.expect(
        "audit-bot reads with its task",
        200,
        "",
        d.call(AUDITOR, "GET", "/v1/users/alice", token=auditor_task),
    )
    _agent_switch(d.stack, "suspend", AUDITOR)
    yield d.expect(
        "agent suspended mid-task (agent-authz agent suspend)",
        403,
        "agent_suspended",
        d.call(AUDITOR, "GET", "/v1/users/alice", token=auditor_task),
    )
    _agent_switch(d.stack, "resume", AUDITOR)
    task = d.token()
    yield d.expect(
        "agent completes its task",
        200,
        "task_completed",
        d.call(BOT, "POST", COMPLETE_TASK_PATH, token=task, intent=None),
    )
    yield d.expect("its next call", 403, "task_revoked", d.call(BOT, "GET", "/v1/users/alice", token=task))


def _agent_switch(stack: Stack, action: str, agent: str) -> None:
    """The kill switch as an operator uses it: the CLI, another process sharing the store."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "authz",
            "agent",
            action,
            "--config",
            str(stack.config_path),
            stack.pki.spiffe_id(agent),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def authorizer_stopped(d: Demo) -> Iterator[Outcome]:
    """Fail closed: with agent-authz gone, Envoy answers 503 itself and nothing passes."""
    d.stack.stop_authz()
    resp = d.call(BOT, "GET", "/v1/users/alice", token=d.token())
    yield d.expect("authorizer stopped: Envoy denies (fail closed)", 503, "", resp)
