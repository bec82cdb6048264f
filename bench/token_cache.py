"""Per-check cost as the number of distinct task tokens grows: flat, whatever the number.

    .venv/bin/python -m bench.token_cache [--tokens 100000] [--batch 10000] [--json tokens.json]

Every request-path cache is a ``BoundedCache`` (least recently used out first, O(1) at any
size). Before, past 8,192 unexpired tokens the token cache kept every entry and rebuilt itself
on each new token: per-check cost rose from 0.54 ms to 6.7 ms at 24,000 tokens, so anyone able
to get many tasks issued slowed every decision. This runs the real ``Authorizer`` (demo
config, in one process) on reads that each carry a token it has never seen — the worst case:
every check verifies a signature and inserts into the cache — and prints the µs per check of
each batch as the count of distinct tokens grows, with the cache's size. Then it repeats the
most recent tokens (cache hits) for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from authz.audit import AuditLog
from authz.cache import BoundedCache
from authz.envoy.adapter import to_request
from authz.metrics import Metrics
from authz.pipeline import Authorizer
from authz.store.sqlite import SqliteStore
from authz.tokens.keys import load_private_key
from authz.tokens.task import issue_token
from bench.stages import World, check_request, world
from bench.targets import INTENT


def tokens(w: World, n: int) -> list[str]:
    key = load_private_key(w.workdir / "keys" / "task-issuer.key")
    kid = next(iter(w.config.tasks.keys))
    now = int(time.time())
    return [
        issue_token(
            key=key,
            kid=kid,
            issuer=w.config.tasks.issuer,
            audience=w.config.tasks.audience,
            agent_id=w.spiffe_id,
            agent_cert=w.cert,
            intent=INTENT,
            principals=["alice"],
            actions=["user.read"],
            ttl=900,
            now=now,
        )  # fmt: skip
        for _ in range(n)
    ]


def run(n_tokens: int, batch: int, cache_limit: int | None = None) -> dict[str, Any]:
    with world() as w:
        made = tokens(w, n_tokens)
        store, audit = SqliteStore(w.config.store_path), AuditLog(w.config.audit.path, fsync=False)
        try:
            authorizer = Authorizer(w.config, audit, store, Metrics())
            if cache_limit is not None:  # the short pass: a small cache, so it fills and evicts
                authorizer._task._cache = BoundedCache(cache_limit)
            cache = authorizer._task._cache

            def checks(chosen: list[str]) -> float:
                requests = [
                    to_request(
                        check_request(
                            w.cert_pem,
                            w.spiffe_id,
                            "GET",
                            "/v1/users/alice",
                            {"x-agent-task-token": t, "x-agent-intent": INTENT},
                        )  # fmt: skip
                    )
                    for t in chosen
                ]
                started = time.perf_counter()
                for request in requests:
                    decision = authorizer.check(request)
                    if not decision.allowed:
                        raise SystemExit(f"a measured request was denied: {decision.reason}")
                return (time.perf_counter() - started) / len(requests) * 1e6

            rows = []
            for start in range(0, n_tokens, batch):
                us = checks(made[start : start + batch])
                seen = start + batch
                rows.append({"distinct_tokens": seen, "us_per_check": us, "cache_entries": len(cache)})
            hot = checks(made[-min(batch, cache.limit) :])
            return {"new_tokens": rows, "repeated_tokens_us": hot, "cache_limit": cache.limit,
                    "evictions": cache.evictions}  # fmt: skip
        finally:
            audit.close()
            store.close()


def print_table(result: dict[str, Any]) -> None:
    print("| distinct tokens so far | µs per check (each token new) | token cache entries |")
    print("|---:|---:|---:|")
    for row in result["new_tokens"]:
        print(f"| {row['distinct_tokens']:,} | {row['us_per_check']:.0f} | {row['cache_entries']:,} |")
    rows = result["new_tokens"]
    print(
        f"\nlast batch / first batch: {rows[-1]['us_per_check'] / rows[0]['us_per_check']:.2f}; "
        f"a repeated (cached) token: {result['repeated_tokens_us']:.0f} µs per check; "
        f"cache limit {result['cache_limit']:,}, {result['evictions']:,} evictions"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.token_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.tokens, args.batch)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
