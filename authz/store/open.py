"""Open the state store and approval queue that ``[store]`` names (``kind = "sqlite" | "redis"``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from authz.config.model import Config
from authz.store import StateStore, StoreOpenError
from authz.store.queue import ApprovalQueue

KEEP_MARGIN = 3600  # seconds revocations are kept past the longest a task can live


def open_store(config: Config) -> tuple[StateStore, ApprovalQueue]:
    """The state store and its approval queue; the caller closes the store."""
    cfg = config.store
    if cfg.kind == "sqlite":
        from authz.store.sqlite import SqliteStore
        from authz.store.sqlite_queue import SqliteQueue

        sqlite = SqliteStore(config.store_path)
        return sqlite, SqliteQueue(sqlite)
    if cfg.kind == "redis":
        import redis

        from authz.store.redis_client import connect
        from authz.store.redis_queue import RedisQueue
        from authz.store.redis_store import RedisStore

        try:
            client = connect(cfg)
        except (redis.RedisError, OSError, ValueError) as exc:
            raise StoreOpenError(f"cannot connect to Redis at {cfg.url}: {exc}") from None
        store = RedisStore(
            client,
            prefix=cfg.key_prefix,
            keep_seconds=config.tasks.max_ttl + config.tasks.leeway + KEEP_MARGIN,
            reads_when_unavailable=cfg.reads_when_unavailable,
            max_staleness=cfg.max_staleness,
            replicas=cfg.replicas,
            replica_wait_ms=max(1, cfg.timeout_ms * 4 // 5),  # WAIT answers before the socket times out
            margin=config.tasks.leeway + KEEP_MARGIN,  # tokens are accepted `leeway` past their exp
        )
        return store, RedisQueue(store)
    raise StoreOpenError(f"unknown store kind {cfg.kind!r}")


@contextlib.contextmanager
def opened(config: Config) -> Iterator[tuple[StateStore, ApprovalQueue]]:
    """``open_store`` for a command: closed on the way out."""
    store, queue = open_store(config)
    try:
        yield store, queue
    finally:
        store.close()
