"""A Redis client from ``[store]``: URL, password, TLS, Sentinel, timeouts and bounded retries.

The official ``redis`` client, with a blocking connection pool of ``pool_size`` connections per
process (a burst waits ``timeout_ms`` for a free connection instead of opening more), every
command and connect bounded by ``timeout_ms``, and a failed command retried ``retries`` times at
once (no back-off: the request path never sleeps). With ``sentinels``, the primary is found by
asking them, and found again after a failover.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from authz.config.model import StoreConfig

RETRY_ON = [redis.ConnectionError, redis.TimeoutError]


def connect(cfg: StoreConfig) -> redis.Redis:
    assert cfg.url is not None
    timeout = cfg.timeout_ms / 1000
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), cfg.retries),
        "retry_on_error": RETRY_ON,
        "password": cfg.password,
        "health_check_interval": 30,
    }
    if cfg.url.startswith("rediss://"):
        options |= {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
        if cfg.ca_file is not None:
            options["ssl_ca_certs"] = str(cfg.ca_file)
    if cfg.sentinels:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(cfg.sentinels), sentinel_kwargs={"socket_timeout": timeout}, **options
        )
        master = sentinel.master_for(cfg.sentinel_service, max_connections=cfg.pool_size)  # type: ignore[no-untyped-call]
        return master  # type: ignore[no-any-return]
    pool = redis.BlockingConnectionPool.from_url(
        cfg.url, max_connections=cfg.pool_size, timeout=timeout, **options
    )
    return redis.Redis(connection_pool=pool)
