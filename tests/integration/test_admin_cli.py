"""Operator commands: issuer keys, task issuing under the catalogue's rules, revocation, kill switch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from factories import BOT, KID, World, make_world
from tokens import split

from authz.audit import AuditLog
from authz.config import load_config
from authz.store.sqlite import SqliteStore

CLI = [sys.executable, "-m", "authz"]
SUSPENDED = "spiffe://agents.example.org/agent/suspended-bot"  # status = "suspended" in the config


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("admin"))
    w.pki.agent_cert("helpdesk-bot").write_bytes(w.bot.cert_pem)
    return w


def issue(world: World, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "task",
        "issue",
        "--config",
        str(world.config_path),
        "--key",
        str(world.root / "keys/task-issuer.key"),
        "--kid",
        KID,
        "--agent-cert",
        str(world.pki.agent_cert("helpdesk-bot")),
        *extra,
    )


def test_keys_init_prints_the_config_entry(tmp_path: Path) -> None:
    result = run("keys", "init", "--dir", str(tmp_path), "--kid", "issuer-2026-11")
    assert result.returncode == 0, result.stderr
    assert '[[tasks.keys]]\nkid = "issuer-2026-11"' in result.stdout
    assert (tmp_path / "issuer-2026-11.key").stat().st_mode & 0o077 == 0
    assert (
        run("keys", "init", "--dir", str(tmp_path), "--kid", "issuer-2026-11").returncode != 0
    )  # no overwrite


def test_task_issue(world: World) -> None:
    result = issue(
        world,
        "--intent",
        "credential_recovery",
        "--principal",
        "alice",
        "--action",
        "user.read",
        "--action",
        "user.password.reset",
        "--ttl",
        "120",
        "--budget",
        "3",
        "--on-behalf-of",
        "alice",
    )
    assert result.returncode == 0, result.stderr
    header, claims, _ = split(result.stdout.strip())
    assert header == {"alg": "EdDSA", "kid": KID, "typ": "task+jwt"}
    assert claims["act"] == {"sub": BOT} and claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 120 and claims["budget"] == {"max_calls": 3}
    assert claims["authorization_details"][0]["actions"] == ["user.read", "user.password.reset"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--intent", "sightseeing", "--principal", "a", "--action", "user.read"], "not in the catalogue"),
        (
            ["--intent", "account_support", "--principal", "a", "--action", "user.password.reset"],
            "does not permit",
        ),
        (["--intent", "account_support", "--principal", "a", "--action", "user.read", "--ttl", "901"], "ttl"),
        (
            [
                "--intent",
                "account_support",
                "--principal",
                "a",
                "--action",
                "user.read",
                "--on-behalf-of",
                "u",
                "--delegated-by",
                "spiffe://x/a",
                "--delegated-by",
                "spiffe://x/b",
            ],
            "deeper",
        ),
    ],
    ids=["unknown-intent", "action-not-permitted", "ttl-over-cap", "chain-too-deep"],
)
def test_task_issue_refuses(world: World, args: list[str], message: str) -> None:
    result = issue(world, *args)
    assert result.returncode == 1 and message in result.stderr and not result.stdout


def test_task_issue_refuses_an_intent_the_agent_may_not_declare(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    text = w.config_path.read_text()
    w.config_path.write_text(
        text.replace(
            'agents = ["spiffe://agents.example.org/agent/helpdesk-bot"]\n\n[[intents]]\nid = "key_rotation"',
            'agents = ["spiffe://agents.example.org/agent/audit-bot"]\n\n[[intents]]\nid = "key_rotation"',
            1,
        )
    )
    w.pki.agent_cert("helpdesk-bot").write_bytes(w.bot.cert_pem)
    result = issue(w, "--intent", "credential_recovery", "--principal", "a", "--action", "user.read")
    assert result.returncode == 1 and "may not declare" in result.stderr


def test_task_revoke(world: World) -> None:
    result = run("task", "revoke", "--config", str(world.config_path), "task-123", "--reason", "incident 7")
    assert result.returncode == 1 and "no decision in" in result.stderr and "--force" in result.stderr
    forced = run(
        "task", "revoke", "--config", str(world.config_path), "task-123", "--reason", "incident 7", "--force"
    )
    assert forced.returncode == 0 and forced.stdout == "task task-123 revoked\n"
    again = run("task", "revoke", "--config", str(world.config_path), "task-123")  # known now: revoked
    assert again.returncode == 0 and again.stdout == "task task-123 was already revoked\n"
    listed = run("task", "revoked", "--config", str(world.config_path))
    assert "task-123\tincident 7" in listed.stdout
    store = SqliteStore(world.config().store_path)
    assert store.task_revoked("task-123")
    store.close()


def test_a_task_this_host_decided_on_is_revoked_without_force(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    config = w.config()
    log = AuditLog(config.audit.path)
    log.append({"decision_id": "d1", "task": "task-seen", "decision": "allow"}, durable=False)
    log.close()
    result = run("task", "revoke", "--config", str(w.config_path), "task-seen")
    assert result.returncode == 0 and result.stdout == "task task-seen revoked\n"
    assert (
        run("task", "revoke", "--config", str(w.config_path), "task-see").returncode == 1
    )  # a prefix is not it


def test_task_issue_json_says_what_to_revoke(world: World) -> None:
    result = issue(
        world, "--intent", "account_support", "--principal", "alice", "--action", "user.read", "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    _, claims, _ = split(out["token"])
    assert (out["task_id"], out["expires"], out["agent"]) == (claims["jti"], claims["exp"], BOT)
    assert out["scope"] == {"intent": "account_support", "principals": ["alice"], "actions": ["user.read"],
                            "max_calls": None}  # fmt: skip
    assert f"agent-authz task revoke --config {world.config_path} {claims['jti']}" in result.stderr


def test_agent_suspend_and_resume(world: World) -> None:
    config = str(world.config_path)
    suspended = run("agent", "suspend", "--config", config, BOT)
    assert suspended.returncode == 0 and suspended.stdout.startswith(f"{BOT}: suspended (")
    assert f"{BOT}\tsuspended (kill switch)" in run("agent", "list", "--config", config).stdout
    store = SqliteStore(world.config().store_path)
    assert store.agent_suspended(BOT)
    assert (
        run("agent", "suspend", "--config", config, BOT).stdout
        == f"{BOT}: already suspended; nothing changed\n"
    )
    resumed = run("agent", "resume", "--config", config, BOT)
    assert resumed.returncode == 0 and resumed.stdout.startswith(f"{BOT}: resumed (")
    assert not store.agent_suspended(BOT)
    store.close()


def test_an_agent_suspended_in_the_config_is_not_resumed_by_the_kill_switch(world: World) -> None:
    result = run("agent", "resume", "--config", str(world.config_path), SUSPENDED)
    assert result.returncode == 1 and "suspended in the config" in result.stderr and not result.stdout


def test_agent_suspend_unknown_agent(world: World) -> None:
    result = run(
        "agent", "suspend", "--config", str(world.config_path), "spiffe://agents.example.org/agent/nobody"
    )
    assert result.returncode == 1 and "not a registered agent" in result.stderr


def test_approver_init_prints_an_entry_the_config_accepts(world: World, tmp_path: Path) -> None:
    result = run(
        "approver",
        "init",
        "--id",
        "frank",
        "--name",
        "Frank (SRE)",
        "--dir",
        str(tmp_path),
        "--class",
        "key_export",
    )
    assert result.returncode == 0, result.stderr
    entry = result.stdout[result.stdout.index("[[approvals.approvers]]") :]
    assert (tmp_path / "approver-frank.key").stat().st_mode & 0o077 == 0
    config = tmp_path / "with-frank.toml"
    text = world.config_path.read_text()
    for relative in ('"keys/', '"pki/', '"directory.json', '"policies"'):
        text = text.replace(relative, f'"{world.root}/{relative[1:]}')
    config.write_text(text + "\n" + entry)
    approvers = load_config(config).approvals.approvers
    assert approvers["frank"].classes == {"key_export"} and approvers["frank"].name == "Frank (SRE)"
    again = run("approver", "init", "--id", "frank", "--dir", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr  # never overwrites a key


@pytest.mark.parametrize("approver_id", ["../escape", "a b", ""])
def test_approver_init_refuses_odd_ids(tmp_path: Path, approver_id: str) -> None:
    assert run("approver", "init", "--id", approver_id, "--dir", str(tmp_path)).returncode == 2
    assert list(tmp_path.iterdir()) == []
