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
    assert (plain.store.kind, redis.store.kind, redis.store.url) == (
        "sqlite",
        "redis",
        "redis://127.0.0.1:6390/0",
    )
    assert (plain.routes, plain.intents, plain.tasks) == (redis.routes, redis.intents, redis.tasks)


def test_a_row_is_the_median_of_its_rounds_and_cpu_per_decision_is_the_servers_own() -> None:
    def run(rps: float, cores: float, decided: int, non_2xx: int = 0) -> dict[str, object]:
        return {"rps": rps, "p50_ms": rps / 1000, "p99_ms": rps / 100, "non_2xx": non_2xx,
                "decisions": {"allow": decided, "deny": 0}, "cpu_cores": {"authz": cores}}  # fmt: skip

    row = stores._row([run(4000, 0.8, 40_000), run(5000, 1.0, 25_000, non_2xx=2), run(4500, 0.9, 45_000)], 10)
    assert (row["rps"], row["p50_ms"], row["p99_ms"], row["non_2xx"]) == (4500, 4.5, 45.0, 2)
    assert row["cpu_us_per_decision"] == 200  # medians of 0.8*10/40k, 1.0*10/25k, 0.9*10/45k s
    assert stores._row([run(1, 0.5, 0)], 10)["cpu_us_per_decision"] is None  # nothing decided
