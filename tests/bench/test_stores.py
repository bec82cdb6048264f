"""The stores benchmark (``bench/stores.py``): the Redis variant of the benchmark's config."""

from __future__ import annotations

from pathlib import Path

from authz.config import load_config
from bench import stores
from bench.targets import prepare


def test_the_redis_config_differs_from_the_benchmarks_only_by_its_store(tmp_path: Path) -> None:
    prepare(tmp_path, None)
    name = stores.redis_config(tmp_path, "redis://127.0.0.1:6390/0")
    plain, redis = load_config(tmp_path / "agent-authz.toml"), load_config(tmp_path / name)
    assert (plain.store.kind, redis.store.kind, redis.store.url) == ("sqlite", "redis", "redis://127.0.0.1:6390/0")
    assert (plain.routes, plain.intents, plain.tasks) == (redis.routes, redis.intents, redis.tasks)


def test_every_configuration_is_measured_under_both_workloads() -> None:
    assert stores.CONFIGS == [("sqlite", 1), ("sqlite", 2), ("redis", 1), ("redis", 2)]
    assert stores.WORKLOADS["budgeted read"] == {"max_calls": 10**9} and stores.WORKLOADS["read"] == {}
