"""`agent-authz approvals …`: an approver lists, reads, approves or denies what agents asked for."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import Decider, deciding, make_world

from authz.model import Decision
from authz.tokens.keys import write_key_pair

RESET = ("POST", "/v1/users/alice/password/reset")
BODY = b'{"user": "alice", "reason": "locked out"}'


class Desk(Decider):
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable,
            "-m",
            "authz",
            "approvals",
            *args[:1],
            "--config",
            str(self.world.config_path),
        ]
        return subprocess.run(
            [*argv, *args[1:]], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )

    def key(self, approver: str) -> str:
        return str(self.world.root / "keys" / f"approver-{approver}.key")

    def task(self, **kwargs: object) -> str:
        return self.world.token(
            self.world.bot, intent="credential_recovery", actions=("user.password.reset",), **kwargs
        )  # type: ignore[arg-type]

    def send(self, task: str, approvals: str = "") -> Decision:
        headers = {"x-agent-intent": "credential_recovery", "x-agent-justification": "ticket T-42"}
        if approvals:
            headers["x-approval-token"] = approvals
        return self.authz.check(self.world.request(*RESET, body=BODY, task=task, headers=headers))


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from deciding(make_world(tmp_path), Desk)


def test_list_show_approve_then_the_agent_gets_through(desk: Desk) -> None:
    task = desk.task()
    request_id = desk.send(task).body_extra["approval"]["request_id"]
    listed = desk.cli("list")
    assert listed.returncode == 0 and request_id in listed.stdout and "0/1" in listed.stdout
    header, row = listed.stdout.splitlines()
    assert header.split("\t") == ["REQUEST", "STATUS", "APPROVALS", "OPERATION PRINCIPAL", "AGENT"]
    assert len(row.split("\t")) == 5 and row.startswith(request_id)
    shown = desk.cli("show", request_id)
    assert shown.returncode == 0
    expected = [
        "helpdesk-bot",
        "it-helpdesk@example.org",
        "ticket T-42",
        "user.password.reset",
        "POST /v1/users/alice/password/reset",
        '"reason": "locked out"',
        "alice (human, not privileged, staff)",
    ]
    assert all(text in shown.stdout for text in expected), shown.stdout
    approved = desk.cli("approve", "--key", desk.key("dana"), request_id)
    assert approved.returncode == 0 and "now approved" in approved.stdout, approved.stderr
    request = desk.queue.get(request_id, now=time.time())
    assert request is not None
    [(approver, token)] = request.approvals
    assert approver == "dana"
    assert desk.send(task, token).allowed
    assert desk.cli("approve", "--key", desk.key("erik"), request_id).returncode == 1  # no longer pending


def test_a_key_of_no_configured_approver_cannot_approve(desk: Desk, tmp_path: Path) -> None:
    request_id = desk.send(desk.task()).body_extra["approval"]["request_id"]
    stranger, _ = write_key_pair(tmp_path / "stranger", "mallory")
    result = desk.cli("approve", "--key", str(stranger), request_id)
    assert result.returncode == 2 and "no configured approver" in result.stderr
    assert desk.queue.get(request_id, now=time.time()).approvals == ()  # type: ignore[union-attr]


def test_the_on_behalf_of_user_cannot_approve(desk: Desk) -> None:
    request_id = desk.send(desk.task(on_behalf_of="bob")).body_extra["approval"]["request_id"]
    result = desk.cli("approve", "--key", desk.key("bob"), request_id)
    assert result.returncode == 1 and "someone else must approve" in result.stderr


def test_denied_requests_stay_denied(desk: Desk) -> None:
    request_id = desk.send(desk.task()).body_extra["approval"]["request_id"]
    assert desk.cli("deny", "--reason", "not on the ticket", request_id).returncode == 0
    shown = desk.cli("show", request_id).stdout
    assert "denied" in shown and "not on the ticket" in shown
    assert desk.cli("approve", "--key", desk.key("dana"), request_id).returncode == 1
    assert desk.cli("show", "apr-unknown").returncode == 1
