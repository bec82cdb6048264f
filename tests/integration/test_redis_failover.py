"""A Sentinel-managed failover under load loses no consumed approval.

A real primary, its replica and a ``redis-sentinel`` (Debian packages). agent-authz's store is
configured with the sentinel and ``replicas = 1``: an allow that consumes an approval returns
only once the replica holds it (``WAIT``). Threads keep consuming fresh approvals while the
primary is killed (SIGKILL); the sentinel promotes the replica; the old primary comes back as
its replica. Every approval whose allow was returned — before the crash, or after it — is then
refused as a replay on the new primary.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
import redis
from factories import make_world

from authz.config import load_config
from authz.devkit.redis_server import RedisServer, Sentinel
from authz.devkit.world import DEMO_STORE, redis_store
from authz.store import CommitOutcome, StoreUnavailable
from authz.store.open import open_store
from authz.store.redis_store import RedisStore


def replicating(replica: RedisServer) -> bool:
    info = redis.Redis(port=replica.port, socket_timeout=1).info("replication")
    return info.get("master_link_status") == "up"


def reachable(store: object) -> bool:
    try:
        store.task_calls("t1")  # type: ignore[attr-defined]
    except StoreUnavailable:
        return False
    return True


def until(check: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_approvals_consumed_before_a_failover_cannot_be_replayed_after(tmp_path: Path) -> None:
    with (
        RedisServer(tmp_path / "primary") as primary,
        RedisServer(tmp_path / "replica", replica_of=primary.port) as replica,
    ):
        until(lambda: replicating(replica))
        with Sentinel(tmp_path / "sentinel", primary) as sentinel:
            until(lambda: sentinel.primary_port() == primary.port)
            world = make_world(tmp_path / "world")
            section = redis_store(
                f"redis://127.0.0.1:{primary.port}", replicas=1, timeout_ms=500,
                sentinels=[f"127.0.0.1:{sentinel.port}"],
            )  # fmt: skip
            world.config_path.write_text(
                world.config_path.read_text().replace(DEMO_STORE, f"[store]\n{section}")
            )
            store, _ = open_store(load_config(world.config_path))
            try:
                consumed = _consume_through_a_failover(store, primary, sentinel, replica)
                assert len(consumed) > 20  # before, during and after the failover
                replays = {
                    store.commit_allow(task_id="t1", max_calls=None, approval_ids=[a]) for a in consumed
                }
                assert replays == {CommitOutcome.APPROVAL_REPLAYED}
            finally:
                store.close()


def _consume_through_a_failover(
    store: object, primary: RedisServer, sentinel: Sentinel, replica: RedisServer
) -> list[str]:
    """Fresh approvals consumed by 2 threads without pause; the primary killed midway."""
    ids, consumed, stop, lock = itertools.count(), list[str](), threading.Event(), threading.Lock()

    def load() -> None:
        while not stop.is_set():
            approval = f"a{next(ids)}"
            try:
                outcome = store.commit_allow(task_id="t1", max_calls=None, approval_ids=[approval])  # type: ignore[attr-defined]
            except StoreUnavailable:
                continue  # denied: nothing was promised
            if outcome is CommitOutcome.ALLOWED:
                with lock:
                    consumed.append(approval)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        until(lambda: len(consumed) >= 20)
        primary.kill()
        until(lambda: sentinel.primary_port() == replica.port)  # promoted
        until(lambda: reachable(store))  # the client found the new primary through the sentinel
        primary.start()  # back, and made a replica of the new primary by the sentinel
        after = len(consumed)
        until(lambda: len(consumed) >= after + 20)  # acknowledged by the new replica again
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    return consumed


def test_without_an_acknowledging_replica_an_approval_is_never_allowed(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "alone") as alone:
        store = RedisStore(redis.Redis(port=alone.port, socket_timeout=2), replicas=1, replica_wait_ms=50)
        try:
            with pytest.raises(StoreUnavailable, match="0 of 1 replicas acknowledged"):
                store.commit_allow(task_id="t1", max_calls=None, approval_ids=["a1"])
            assert store.commit_allow(task_id="t1", max_calls=5) is CommitOutcome.ALLOWED  # nothing to lose
        finally:
            store.close()
