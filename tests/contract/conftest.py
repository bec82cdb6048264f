"""The contract suite: every test here runs against both state stores — the SQLite file and a
real ``redis-server`` (one per test session, on a free loopback port, stopped by its PID; each
test gets keys of its own) — through the same ``StateStore`` and ``ApprovalQueue`` interfaces.

``stores()`` opens another store on the same state: as a second agent-authz process would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from authz.devkit.redis_server import RedisServer
from authz.store import StateStore
from authz.store.queue import ApprovalQueue
from authz.store.redis_queue import RedisQueue
from authz.store.redis_store import RedisStore
from authz.store.sqlite import SqliteStore
from authz.store.sqlite_queue import SqliteQueue

KINDS = ("sqlite", "redis")
_prefixes = itertools.count()


class Clock:
    """Each reading one second after the last."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


OpenStore = Callable[[], StateStore]


@pytest.fixture(params=KINDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores on one shared state (a file, or a key prefix in Redis); all closed after."""
    opened: list[StateStore] = []
    clock = Clock()
    if request.param == "sqlite":

        def new() -> StateStore:
            opened.append(SqliteStore(tmp_path / "state.db", clock=clock))
            return opened[-1]
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"t{next(_prefixes)}"

        def new() -> StateStore:
            client = redis.Redis.from_url(server.url, socket_timeout=2)
            opened.append(RedisStore(client, prefix=prefix, clock=clock))
            return opened[-1]

    yield new
    for store in opened:
        store.close()


@pytest.fixture
def store(stores: OpenStore) -> StateStore:
    return stores()


@pytest.fixture
def queue(store: StateStore) -> ApprovalQueue:
    if isinstance(store, SqliteStore):
        return SqliteQueue(store)
    assert isinstance(store, RedisStore)
    return RedisQueue(store)
