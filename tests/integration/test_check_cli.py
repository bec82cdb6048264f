"""`agent-authz check`: a described request decided offline, stage by stage, changing nothing."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from factories import World, make_world

from authz.config import load_config
from authz.devkit.redis_server import RedisServer
from authz.devkit.world import DEMO_STORE, redis_store
from authz.reasons import STAGE_OF, Reason
from authz.store.open import open_store
from authz.store.sqlite import SqliteStore


def check(
    world: World, tmp_path: Path, extra: list[str] | None = None, **spec: object
) -> subprocess.CompletedProcess[str]:
    cert = tmp_path / "agent.crt"
    cert.write_bytes(world.bot.cert_pem)
    request = tmp_path / "request.json"
    given = {"agent_certificate": "agent.crt", **spec}  # a value of None: the key is left out
    request.write_text(json.dumps({k: v for k, v in given.items() if v is not None}))
    argv = [
        sys.executable,
        "-m",
        "authz",
        "check",
        "--config",
        str(world.config_path),
        "--request",
        str(request),
        *(extra or []),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_every_deny_reason_belongs_to_a_stage() -> None:
    assert set(Reason) - set(STAGE_OF) == {Reason.ALLOWED, Reason.TASK_COMPLETED, Reason.READY}


def test_an_allowed_read(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")
    token = world.token(world.bot)
    headers = {"x-agent-task-token": token, "x-agent-intent": "account_support"}
    result = check(world, tmp_path, method="GET", path="/v1/users/alice", headers=headers)
    assert result.returncode == 0, result.stderr
    assert "stage  1 identity   pass" in result.stdout and "decision: 200 allowed" in result.stdout
    assert "stage  6 approval   not needed" in result.stdout


def test_a_denied_reset_names_its_stage_and_changes_nothing(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")
    token = world.token(world.bot, intent="credential_recovery", actions=("user.password.reset",))
    headers = {"x-agent-task-token": token, "x-agent-intent": "credential_recovery"}
    result = check(world, tmp_path, method="POST", path="/v1/users/alice/password/reset", headers=headers,
                   body={"user": "alice"})  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()[1:]  # after the line that says what is live
    assert all("pass" in line for line in lines[:5])
    assert "stage  6 approval   DENY  approval_required" in lines[5]
    assert "not reached" in lines[6] and '"approvers_required": 1' in result.stdout


def test_a_policy_deny_for_more_approvers_is_the_policy_stages(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")
    path = "/v1/users/carol/password/reset"
    token = world.token(
        world.bot, intent="credential_recovery", actions=("user.password.reset",), principals=("carol",)
    )
    approval = world.approval("dana", token, "POST", path, "user.password.reset", "carol")
    headers = {
        "x-agent-task-token": token,
        "x-agent-intent": "credential_recovery",
        "x-approval-token": approval,
    }
    result = check(world, tmp_path, method="POST", path=path, headers=headers)
    lines = result.stdout.splitlines()[1:]  # after the line that says what is live
    assert result.returncode == 1 and all("pass" in line for line in lines[:7]), result.stdout
    assert "stage  8 policy     DENY  approvals_insufficient" in lines[7]
    assert '"approvers_needed": 2' in result.stdout


def test_a_changed_intent_revokes_nothing_for_real(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")
    token = world.token(world.bot)
    store = SqliteStore(world.config().store_path)  # the real store exists, as on a running host
    try:
        headers = {"x-agent-task-token": token, "x-agent-intent": "credential_recovery"}
        result = check(world, tmp_path, method="GET", path="/v1/users/alice", headers=headers)
        assert "stage  5 intent     DENY  intent_mismatch" in result.stdout
        assert "the task is revoked" not in result.stdout  # it is not: this is a check
        task_id = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["jti"]
        assert f"the server would revoke task {task_id} (this check revoked nothing)" in result.stdout
        assert store.revocations() == []
    finally:
        store.close()


def test_an_unusable_request_file(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")
    result = check(world, tmp_path, method="GET")  # no path
    assert result.returncode == 2 and "cannot check" in result.stderr


@pytest.mark.parametrize(
    ("certificate", "problem"),
    [
        (None, "'agent_certificate' is required: the path of the agent's certificate (PEM)"),
        ("-----BEGIN CERTIFICATE-----\nMIIB…secret-ish…\n-----END CERTIFICATE-----",
         "'agent_certificate' is the path of a PEM file, not the certificate itself"),
    ],
    ids=["missing", "inlined"],
)  # fmt: skip
def test_a_missing_or_inlined_certificate_is_named_not_echoed(
    tmp_path: Path, certificate: str | None, problem: str
) -> None:
    world = make_world(tmp_path / "world")
    result = check(world, tmp_path, method="GET", path="/v1/users/alice", agent_certificate=certificate)
    assert result.returncode == 2 and problem in result.stderr
    assert "KeyError" not in result.stderr and "MIIB" not in result.stderr


def test_the_first_line_says_what_is_live_and_a_directory_file_replaces_the_service(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")  # its directory: a file beside the config
    headers = {"x-agent-task-token": world.token(world.bot), "x-agent-intent": "account_support"}
    read = {"method": "GET", "path": "/v1/users/alice", "headers": headers}
    first = check(world, tmp_path, **read).stdout.splitlines()[0]
    assert first.startswith("deciding offline on a copy of the SQLite state, the directory file ")
    service = 'kind = "http"\nurl = "http://127.0.0.1:9/{name}"'  # nothing listens on port 9
    world.config_path.write_text(
        world.config_path.read_text().replace('kind = "file"\npath = "directory.json"', service)
    )
    live = check(world, tmp_path, **read)
    assert "the live http directory at http://127.0.0.1:9/{name}" in live.stdout.splitlines()[0]
    assert live.returncode == 1  # nothing listens there: the read cannot be checked against it
    from_file = check(world, tmp_path, **read, extra=["--directory", str(world.root / "directory.json")])
    assert from_file.returncode == 0, from_file.stdout
    assert f"the directory file {world.root / 'directory.json'}" in from_file.stdout.splitlines()[0]


def test_with_a_redis_store_the_live_state_is_read_and_nothing_written(tmp_path: Path) -> None:
    world = make_world(tmp_path / "world")
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        text = world.config_path.read_text().replace(DEMO_STORE, f"[store]\n{redis_store(server.url)}")
        world.config_path.write_text(text)
        token = world.token(world.bot, max_calls=1)
        headers = {"x-agent-task-token": token, "x-agent-intent": "account_support"}
        read = {"method": "GET", "path": "/v1/users/alice"}
        for _ in range(2):  # a budget of one call, checked twice: nothing is charged
            assert check(world, tmp_path, **read, headers=headers).returncode == 0
        changed = {**headers, "x-agent-intent": "credential_recovery"}
        assert check(world, tmp_path, method="GET", path="/v1/users/alice", headers=changed).returncode == 1
        store, _ = open_store(load_config(world.config_path))
        try:
            assert store.revocations() == []  # the intent change revoked nothing for real
            task_id = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["jti"]
            assert store.task_calls(task_id) == 0
            store.revoke_task(task_id, reason="test", by="ops")
        finally:
            store.close()
        revoked = check(world, tmp_path, method="GET", path="/v1/users/alice", headers=headers)
        assert revoked.returncode == 1 and "task_revoked" in revoked.stdout  # read from Redis
