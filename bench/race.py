"""Races on the shared state store: one approval raced by several processes, round after round,
and one budget raced by several processes. Each process opens its own store on the same state,
as agent-authz replicas on several hosts do.

    .venv/bin/python -m bench.race [--store redis|sqlite] [--rounds 10000] [--processes 2]
                                   [--budget 100] [--json race.json]

Every round, the processes wait at a barrier, then each commits an allow that consumes the
round's approval (``commit_allow`` with one approval id, stage 10's transaction). Exactly one
may win. Then they race ``--budget`` × processes commits for a task with a budget of
``--budget`` calls: exactly that many may be allowed. With ``--store redis`` a real
``redis-server`` is started on a free loopback port (stopped by its PID at the end).
Prints the counts; exits 1 if any round had other than one allow, or the budget was exceeded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from authz.store import CommitOutcome, StateStore


def open_store(kind: str, where: str) -> StateStore:
    if kind == "redis":
        import redis

        from authz.store.redis_store import RedisStore

        return RedisStore(redis.Redis.from_url(where, socket_timeout=5), prefix="race")
    from authz.store.sqlite import SqliteStore

    return SqliteStore(Path(where))


def racer(kind: str, where: str, rounds: int, budget: int, barrier: Barrier, out: Any) -> None:
    store = open_store(kind, where)
    try:
        wins = []
        for n in range(rounds):
            barrier.wait(timeout=60)
            outcome = store.commit_allow(task_id="race-task", max_calls=None, approval_ids=[f"approval-{n}"])
            wins.append(outcome is CommitOutcome.ALLOWED)
        barrier.wait(timeout=60)
        spent = [store.commit_allow(task_id="budget-task", max_calls=budget) for _ in range(budget)]
        out.put((wins, sum(o is CommitOutcome.ALLOWED for o in spent)))
    finally:
        store.close()


def race(kind: str, where: str, rounds: int, processes: int, budget: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=racer, args=(kind, where, rounds, budget, barrier, out)) for _ in range(processes)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    elapsed = time.monotonic() - started
    allows_per_round = Counter(sum(r[0][n] for r in results) for n in range(rounds))
    budget_allows = sum(r[1] for r in results)
    return {
        "store": kind, "processes": processes, "rounds": rounds,
        "rounds_with_one_allow": allows_per_round.get(1, 0),
        "rounds_with_other_than_one_allow": rounds - allows_per_round.get(1, 0),
        "allows_per_round": dict(sorted(allows_per_round.items())),
        "budget": budget, "budget_attempts": budget * processes, "budget_allows": budget_allows,
        "seconds": round(elapsed, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("redis", "sqlite"), default="redis")
    parser.add_argument("--rounds", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agent-authz-race-") as tmp:
        if args.store == "redis":
            from authz.devkit.redis_server import RedisServer

            with RedisServer(Path(tmp) / "redis", appendonly=False) as server:
                result = race("redis", server.url, args.rounds, args.processes, args.budget)
        else:
            result = race("sqlite", str(Path(tmp) / "state.db"), args.rounds, args.processes, args.budget)
    print(
        f"{result['rounds']} rounds of one approval raced by {result['processes']} processes on "
        f"{result['store']}: {result['rounds_with_other_than_one_allow']} rounds with other than one "
        f"allow (allows per round: {result['allows_per_round']}); a budget of {result['budget']} raced "
        f"{result['budget_attempts']} times: {result['budget_allows']} allows ({result['seconds']} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["rounds_with_other_than_one_allow"] == 0 and result["budget_allows"] == result["budget"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
