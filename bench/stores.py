"""The state store's cost: agent-authz behind Envoy with SQLite and with Redis, one and two
server processes, in the same run.

    .venv/bin/python -m bench.stores [--seconds 5] [--rounds 1] [--connections 32] [--json F]

Two workloads per configuration: the benchmark's read (a task without a budget: revocation
and suspension come from memory, nothing is written), and the same read under a task with a
budget (every request reads the task's counter and commits the charge: one SQLite
transaction, or one Redis script). For each: req/s, p50, p99 and the agent-authz processes'
CPU µs per decision. Redis is a real ``redis-server`` on a loopback port, started for the run
and stopped by its PID; the machine's cores are shared by Envoy, the servers, Redis and wrk,
so the figures compare the stores, not the product's peak.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from authz.demo.processes import StackError
from authz.devkit.redis_server import RedisServer
from authz.devkit.world import DEMO_STORE, redis_store
from bench import wrk
from bench.run import measure
from bench.targets import AGENT_AUTHZ, Target, TargetError, prepare, task_headers

WORKLOADS = {"read": {}, "budgeted read": {"max_calls": 10**9}}
CONFIGS = [("sqlite", 1), ("sqlite", 2), ("redis", 1), ("redis", 2)]


def redis_config(workdir: Path, url: str) -> str:
    """agent-authz.toml beside it, with the Redis store: the file name a Target is given."""
    text = (workdir / "agent-authz.toml").read_text()
    if DEMO_STORE not in text:
        raise TargetError("the benchmark's config has no [store] section to replace")
    (workdir / "agent-authz-redis.toml").write_text(text.replace(DEMO_STORE, f"[store]\n{redis_store(url)}"))
    return "agent-authz-redis.toml"


def run(seconds: int, rounds: int, connections: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="agent-authz-stores-") as tmp:
        workdir = Path(tmp)
        pki, threads = prepare(workdir, None)
        with RedisServer(workdir / "redis", appendonly=False) as redis:
            names = {"sqlite": "agent-authz.toml", "redis": redis_config(workdir, redis.url)}
            for store, processes in CONFIGS:
                for workload, claims in WORKLOADS.items():
                    runs = []
                    for _ in range(rounds):
                        target = Target(
                            AGENT_AUTHZ, workdir, pki, threads, processes, config_name=names[store]
                        )
                        print(f"{store}, {processes} process(es), {workload}: {seconds}s", flush=True)
                        try:
                            target.start()
                            runs.append(
                                measure(target, seconds, connections, task_headers(workdir, pki, **claims))
                            )
                        except (TargetError, StackError, wrk.WrkError, OSError) as exc:
                            raise TargetError(f"{exc}\n{target.log_tail()}") from exc
                        finally:
                            target.stop()
                    row = {"store": store, "processes": processes, "workload": workload}
                    rows.append(row | _row(runs, seconds))
    return rows


def _row(runs: list[dict[str, Any]], seconds: int) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    decided = [sum(r["decisions"].values()) for r in runs]
    cpu_us = [
        1e6 * r["cpu_cores"]["authz"] * seconds / n for r, n in zip(runs, decided, strict=True) if n
    ]
    return {
        "rps": round(median("rps")),
        "p50_ms": round(median("p50_ms"), 2),
        "p99_ms": round(median("p99_ms"), 2),
        "cpu_us_per_decision": round(statistics.median(cpu_us)) if cpu_us else None,
        "non_2xx": sum(r["non_2xx"] for r in runs),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        rows = run(args.seconds, max(1, args.rounds), args.connections)
    except TargetError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    head = f"{'store':<8}{'procs':>6}  {'workload':<15}{'req/s':>8}{'p50':>10}{'p99':>10}"
    print(f"\n{head}{'CPU µs/decision':>17}")
    for r in rows:
        print(
            f"{r['store']:<8}{r['processes']:>6}  {r['workload']:<15}{r['rps']:>8,}{r['p50_ms']:>7.2f} ms"
            f"{r['p99_ms']:>7.2f} ms{r['cpu_us_per_decision'] or 0:>17,}"
        )
        if r["non_2xx"]:
            print(f"  WARNING: {r['non_2xx']} responses were not 200")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if not any(r["non_2xx"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
