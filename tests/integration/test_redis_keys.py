"""What the Redis store leaves in Redis: a task's keys in one slot (its id is their hash tag),
and every one of them expiring — the counter when its task does, a consumed approval when the
last approval does, a revocation after the longest a task can live, each plus the margin — so
nothing grows without bound."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from authz.devkit.redis_server import RedisServer
from authz.store import AuditAnchor, CommitOutcome
from authz.store.redis_store import RedisStore

MARGIN, KEEP = 600, 7200


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        c = redis.Redis(port=server.port, socket_timeout=2)
        yield c
        c.close()


def test_every_key_a_task_leaves_expires_when_it_no_longer_matters(client: redis.Redis) -> None:
    store = RedisStore(client, prefix="p", margin=MARGIN, keep_seconds=KEEP)
    try:
        now = time.time()
        outcome = store.commit_allow(
            task_id="t1", max_calls=5, approval_ids=["a1"], keep_until=now + 300, approvals_until=now + 100
        )
        assert outcome is CommitOutcome.ALLOWED
        store.revoke_task("t1", reason="r", by="ops")
        store.set_agent_suspended("spiffe://x/agent/a", True, by="ops")
        store.anchor_audit(AuditAnchor("c", 1, "h", now))
        ttl = {k.decode(): client.ttl(k) for k in client.keys("*")}
    finally:
        store.close()
    assert abs(ttl["p:task:{t1}:calls"] - (300 + MARGIN)) <= 2
    assert abs(ttl["p:task:{t1}:approval:a1"] - (100 + MARGIN)) <= 2
    assert abs(ttl["p:task:{t1}:revoked"] - KEEP) <= 2
    # the only keys without an expiry are the shared few, each bounded: a counter, the pruned
    # revocation index, the suspended agents, one anchor per audit chain
    assert {k for k, t in ttl.items() if t < 0} == {
        "{p}:version",
        "{p}:revocations",
        "{p}:suspended",
        "{p}:audit-anchors",
    }


def test_a_tasks_keys_share_its_hash_tag_and_so_one_cluster_slot(client: redis.Redis) -> None:
    store = RedisStore(client, prefix="p")
    try:
        store.commit_allow(task_id="task-42", max_calls=5, approval_ids=["a1", "a2"])
        store.revoke_task("task-42", reason="r", by="ops")
        slots = {client.execute_command("CLUSTER KEYSLOT", k) for k in client.keys("p:task:*")}
    except redis.ResponseError:  # CLUSTER commands need cluster mode: compute the tag ourselves
        slots = {k.decode().split("{", 1)[1].split("}", 1)[0] for k in client.keys("p:task:*")}
    finally:
        store.close()
    assert len(slots) == 1


def test_revocations_older_than_any_task_leave_the_index(client: redis.Redis) -> None:
    clock = [1_000_000.0]
    store = RedisStore(client, prefix="p", keep_seconds=KEEP, clock=lambda: clock[0])
    try:
        store.revoke_task("old", reason="r", by="ops")
        clock[0] += KEEP + 1
        store.revoke_task("new", reason="r", by="ops")  # the reload after it prunes the index
        assert client.zrange("{p}:revocations", 0, -1) == [b"new"]
    finally:
        store.close()
