"""`agent-authz demo`, as `make demo` runs it, and `demo --hold` as a user would use it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MARKER, Ledger, read_record

from authz.audit import verify
from authz.demo.client import AgentClient
from authz.demo.processes import wait_until

pytestmark = pytest.mark.e2e

EXPECTED_REASONS = {
    "unknown_agent",
    "agent_suspended",
    "unknown_route",
    "approval_required",
    "malformed_request",
    "principal_not_in_scope",
    "operation_not_in_scope",
    "task_token_missing",
    "intent_mismatch",
    "task_revoked",
    "token_binding_mismatch",
    "task_token_expired",
    "budget_exhausted",
    "task_completed",
    "approval_replayed",
    "approval_not_bound",
    "approver_not_allowed",
    "approvals_insufficient",
    "approval_invalid",
    "policy_denied: machine_identity_recovery",
}


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_demo_json_reports_every_scenario_as_expected(tmp_path: Path, store: str) -> None:
    # --store redis: the same scenarios on a real redis-server shared by two agent-authz processes
    out = tmp_path / "demo.json"
    result = subprocess.run(
        [sys.executable, "-m", "authz", "demo", "--json", str(out), "--store", store],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outcomes = json.loads(out.read_text())
    for outcome in outcomes:
        assert {"scenario", "expected_status", "status", "reason", "ok"} <= set(outcome)
        assert outcome["ok"], outcome
    assert EXPECTED_REASONS <= {o["reason"] for o in outcomes}
    by_name = {o["scenario"]: o for o in outcomes}
    assert by_name["registered agent reads a user (with a task)"]["status"] == 200
    assert by_name["authorizer stopped: Envoy denies (fail closed)"]["status"] == 503
    across = "replica 2 refuses the task replica 1 revoked (within 1 s)"
    assert (across in by_name) is (store == "redis")  # two replicas only with Redis
    assert by_name["audit verify after editing one record (in a copy)"]["status"] == "broken at record 1"
    (record_check,) = [o for o in outcomes if o["scenario"].startswith("denied requests absent from the API")]
    checked = re.search(r"\((\d+) checked\)", record_check["scenario"])
    assert checked and int(checked[1]) > 0, record_check  # the demo looked at its record, for something
    assert "scenarios as expected" in result.stdout


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_hold_serves_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "authz", "demo", "--hold"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    env_file = tmp_path / "demo-env.json"
    try:
        wait_until(env_file.exists, "demo-env.json", timeout=60)
        env = json.loads(env_file.read_text())
        bot = env["agents"]["helpdesk-bot"]
        for key in ("cert", "key"):
            assert Path(bot[key]).exists()
        assert Path(env["config"]).exists() and Path(env["trust_bundle"]).exists()
        context = ssl.create_default_context(cafile=env["trust_bundle"])
        context.load_cert_chain(bot["cert"], bot["key"])
        client = AgentClient(env["ports"]["envoy"], context)  # the demo's stack: not an E2E one
        task = {"x-agent-task-token": env["task_token"], "x-agent-intent": env["task_intent"]}
        ledger = Ledger()
        sent = ledger.send(client, "helpdesk-bot", "GET", "/v1/users/alice", headers=task)
        assert sent.status == 200
        record = read_record(Path(env["upstream_record"]))
        ledger.check(record)  # it reached the demo's API once, and nothing else did
        (seen,) = [r for r in record if r["headers"][MARKER] == sent.marker]
        assert seen["headers"]["x-agent-id"] == bot["spiffe_id"]
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert b"curl" in output
        for pid in env["pids"].values():
            assert not pid_alive(pid)
        assert not env_file.exists()
        audit = Path(env["audit"])
        assert verify(audit).ok and verify(audit).records >= 1  # kept for a look after Ctrl-C
        assert f"kept in {audit.parent}".encode() in output
        cli = Path(sys.executable).with_name("agent-authz")  # the venv's, not a bare name PATH may not know
        assert f"{cli} agent suspend".encode() in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if "env" in locals():
            shutil.rmtree(Path(env["audit"]).parent, ignore_errors=True)


def test_demo_in_front_of_a_real_scim_server(tmp_path: Path) -> None:
    """`agent-authz demo --api scim`: every scenario as expected, the server's own state last."""
    out = tmp_path / "scim.json"
    result = subprocess.run(
        [sys.executable, "-m", "authz", "demo", "--api", "scim", "--json", str(out)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    outcomes = json.loads(out.read_text())
    assert outcomes and all(o["ok"] for o in outcomes)
    assert sum(o["status"] == "executed" for o in outcomes) == 4  # read, password, disable, grant
    attacks = [o for o in outcomes if o["scenario"].startswith("SCIM attack:")]
    assert len(attacks) == 5 and all(o["status"] == 403 for o in attacks)  # not "state changed"
    states = [o for o in outcomes if o["scenario"].startswith("SCIM server state:")]
    assert len(states) == 5 and all(o["status"] == "yes" for o in states)


def test_demo_refuses_hold_with_the_scim_api() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authz", "demo", "--api", "scim", "--hold"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2 and "--hold" in result.stderr
