"""The Redis store when Redis goes away, through the real pipeline: a real ``redis-server``
killed (SIGKILL, as a crash) and started again on the same port and data.

- changes are denied ``store_unavailable`` while it is away, whatever the degraded rule;
- reads follow ``store.reads_when_unavailable``: "deny" (the default) refuses them; "allow"
  serves them from the last known revocation state for at most ``max_staleness`` seconds, each
  such allow audited with how stale its state was;
- when Redis is back, service resumes without a restart, and an approval consumed before the
  crash is still spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from factories import Decider, deciding, make_world

from authz.devkit.redis_server import RedisServer
from authz.devkit.world import DEMO_STORE, redis_store
from authz.model import Decision
from authz.reasons import Reason

RESET = "/v1/users/alice/password/reset"
MAX_STALENESS = 5  # seconds: room for a slow machine between "stale" and the read after it


class Desk(Decider):
    def read(self, task: str) -> Decision:
        return self.authz.check(self.world.request(task=task))

    def reset_task(self) -> str:
        return self.world.token(
            self.world.bot, intent="credential_recovery", actions=("user.password.reset",)
        )

    def reset(self, task: str, approvals: list[str]) -> Decision:
        headers = {"x-agent-intent": "credential_recovery", "x-approval-token": ",".join(approvals)}
        return self.authz.check(self.world.request("POST", RESET, task=task, headers=headers))

    def approvals(self, task: str) -> list[str]:
        return [
            self.world.approval(a, task, "POST", RESET, "user.password.reset", "alice")
            for a in ("dana", "erik")
        ]


def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def desk(tmp_path: Path, server: RedisServer, rule: str) -> Iterator[Desk]:
    world = make_world(tmp_path / "world")
    store = redis_store(server.url, reads_when_unavailable=rule, max_staleness=MAX_STALENESS)
    world.config_path.write_text(world.config_path.read_text().replace(DEMO_STORE, f"[store]\n{store}"))
    yield from deciding(world, Desk)


@pytest.fixture
def strict(tmp_path: Path, redis_server: RedisServer) -> Iterator[Desk]:
    yield from desk(tmp_path, redis_server, "deny")


@pytest.fixture
def lenient(tmp_path: Path, redis_server: RedisServer) -> Iterator[Desk]:
    yield from desk(tmp_path, redis_server, "allow")


def test_deny_rule_refuses_everything_while_redis_is_away_and_resumes_after(
    strict: Desk, redis_server: RedisServer
) -> None:
    read_task, reset_task = strict.world.token(strict.world.bot), strict.reset_task()
    approvals = strict.approvals(reset_task)
    assert strict.read(read_task).allowed
    assert strict.reset(reset_task, approvals).allowed  # consumes both approvals
    redis_server.kill()
    until(lambda: strict.read(read_task).reason is Reason.STORE_UNAVAILABLE)
    assert strict.reset(strict.reset_task(), strict.approvals(reset_task)).reason is Reason.STORE_UNAVAILABLE
    redis_server.start()
    until(lambda: strict.read(read_task).allowed)  # no restart of agent-authz
    assert strict.reset(reset_task, approvals).reason is Reason.APPROVAL_REPLAYED  # survived the crash


def test_allow_rule_serves_reads_from_known_state_for_max_staleness_only(
    lenient: Desk, redis_server: RedisServer
) -> None:
    read_task, revoked_task, reset_task = (lenient.world.token(lenient.world.bot) for _ in range(3))
    assert lenient.read(read_task).allowed
    lenient.store.revoke_task(lenient.authz.check(lenient.world.request(task=revoked_task)).task.task_id,  # type: ignore[union-attr]
                              reason="test", by="ops")  # fmt: skip
    reset = lenient.reset_task()
    redis_server.kill()
    until(lambda: lenient.store.staleness() is not None)
    read = lenient.read(read_task)
    assert read.allowed and read.store_staleness is not None and 1 < read.store_staleness <= MAX_STALENESS
    assert lenient.read(revoked_task).reason is Reason.TASK_REVOKED  # the last known state holds
    assert lenient.reset(reset, lenient.approvals(reset)).reason is Reason.STORE_UNAVAILABLE
    until(lambda: lenient.read(read_task).reason is Reason.STORE_UNAVAILABLE)  # past max_staleness
    assert lenient.store.staleness() > MAX_STALENESS  # type: ignore[operator]
    redis_server.start()
    until(lambda: lenient.read(read_task).allowed)
    assert lenient.store.staleness() is None
    stale = [r for r in lenient.records() if r["store_staleness"] is not None]
    assert stale and all(r["decision"] == "allow" and r["class"] == "read" for r in stale)
    assert all(0 < r["store_staleness"] <= MAX_STALENESS for r in stale)
