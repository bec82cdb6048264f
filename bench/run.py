"""Benchmark: Envoy + agent-authz against Envoy + a no-op ext_authz server (the floor).

    python -m bench.run [--seconds 10] [--connections 32] [--rounds 1] [--processes N]
                        [--store sqlite|redis] [--json FILE]

Both targets run in turn on 127.0.0.1 with the same dev PKI and the same rendered Envoy config;
wrk drives GET /v1/users/alice with a task token and intent header on every request (a read
the task allows, so every stage through the budget runs). Exit 0 with a
table of req/s, p50 and p99; exit 1 if a target cannot start or does not answer 200.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

from authz.demo.processes import StackError
from authz.devkit.redis_server import RedisServer
from bench import probes, wrk
from bench.report import LABELS, Rounds, environment, print_report
from bench.targets import (
    AGENT_AUTHZ,
    TARGETS,
    Target,
    TargetError,
    cpu_sets,
    get,
    prepare,
    task_headers,
)

PATH = "/v1/users/alice"
WARMUP_SECONDS = 2
WRK_THREADS = 2


def measure(
    target: Target, seconds: int, connections: int, sent: dict[str, str] | None = None
) -> dict[str, Any]:
    sent = sent or task_headers(target.workdir, target.pki)
    status, headers, body = get(target.ports["front"], PATH, sent)
    if status != 200:
        reason = headers.get("x-authz-reason", "-")
        raise TargetError(f"{target.name}: GET {PATH} answered {status} (reason {reason}): {body[:200]}")
    url = target.front_url + PATH
    wrk.run(url, seconds=WARMUP_SECONDS, connections=connections, threads=WRK_THREADS, headers=sent)
    pids = {name: proc.pid for name, proc in target.procs.items()}
    cpu_before = {name: probes.process_cpu(pid) for name, pid in pids.items()}
    wrk_before, system_before, decided_before = probes.children_cpu(), probes.system_cpu(), _decisions(target)
    started = time.monotonic()
    result = wrk.run(url, seconds=seconds, connections=connections, threads=WRK_THREADS, headers=sent)
    wall = time.monotonic() - started
    target.check_alive()
    cpu: dict[str, float] = {}
    for name, pid in pids.items():  # every server process counts as "authz"
        key = "authz" if name.startswith("authz") else name
        cpu[key] = cpu.get(key, 0.0) + (probes.process_cpu(pid) - cpu_before[name]) / wall
    cpu["wrk"] = (probes.children_cpu() - wrk_before) / wall
    cpu["other"] = max(0.0, (probes.system_cpu() - system_before) / wall - sum(cpu.values()))
    out: dict[str, Any] = {**vars(result), "cpu_cores": {k: round(v, 2) for k, v in cpu.items()}}
    if decided_before is not None:
        after = _decisions(target) or {}
        out["decisions"] = {k: after.get(k, 0) - v for k, v in decided_before.items()}
    return out


def _decisions(target: Target) -> dict[str, int] | None:
    if target.name != AGENT_AUTHZ:
        return None
    totals = {"allow": 0, "deny": 0}
    for i in range(target.processes):
        for decision, count in probes.decisions(target.ports[f"metrics{i}"]).items():
            totals[decision] += count
    return totals


def run_rounds(
    seconds: int,
    connections: int,
    rounds: int,
    workers: int | None,
    processes: int,
    pin: bool,
    store: str = "sqlite",
) -> tuple[Rounds, int]:
    """Each round starts, measures and stops each target in turn (alternating, on a shared machine).

    Returns the figures of every round and the servers' worker-thread count.
    """
    results: Rounds = {name: [] for name in TARGETS}
    with tempfile.TemporaryDirectory(prefix="agent-authz-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        pki, threads = prepare(workdir, workers)
        config_name = "agent-authz.toml"
        if store == "redis":  # a real redis-server for the run, stopped by its PID at the end
            from bench.stores import redis_config

            redis = stack.enter_context(RedisServer(workdir / "redis", appendonly=False))
            config_name = redis_config(workdir, redis.url)
        print(
            f"both targets run {processes} ext_authz server process(es) of {threads} gRPC worker threads;"
            f" agent-authz's state store: {store}",
            flush=True,
        )
        for number in range(1, rounds + 1):
            for name in TARGETS:
                target = Target(name, workdir, pki, threads, processes, pin, config_name=config_name)
                step = f"round {number}/{rounds}, " if rounds > 1 else ""
                print(
                    f"{LABELS[name]}: {step}starting; {WARMUP_SECONDS}s warm-up, {seconds}s measured",
                    flush=True,
                )
                try:
                    target.start()
                    results[name].append(measure(target, seconds, connections))
                except (TargetError, StackError, wrk.WrkError, OSError) as exc:
                    raise TargetError(f"{exc}\n{target.log_tail()}") from exc
                finally:
                    target.stop()
    return results, threads


def _terminate(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt  # so the finally blocks stop every child process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per target (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternate the targets N times; medians (default 5)"
    )
    parser.add_argument(
        "--workers", type=int, help="override server.workers of the demo config (both servers)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="ext_authz server processes per target (default 1)"
    )
    parser.add_argument(
        "--store", choices=("sqlite", "redis"), default="sqlite",
        help="agent-authz's state store (redis: a real redis-server for the run)",
    )  # fmt: skip
    parser.add_argument(
        "--no-pin", action="store_true", help="let the OS place Envoy and the servers on any CPU"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    env = environment()
    pinning = (
        f"Envoy on CPU {sorted(cpu_sets()['envoy'])}, the ext_authz server on {sorted(cpu_sets()['authz'])}"
        if not args.no_pin and cpu_sets()
        else "no CPU pinning"
    )
    print(
        f"{env['cpus']} CPUs, Envoy {env['envoy']} with --concurrency 1 (one worker), {pinning}, "
        f"wrk -t{WRK_THREADS} -c{args.connections}, "
        f"{WARMUP_SECONDS}s warm-up + {args.seconds}s per target, GET {PATH}"
    )
    try:
        rounds, threads = run_rounds(
            args.seconds,
            args.connections,
            max(1, args.rounds),
            args.workers,
            max(1, args.processes),
            not args.no_pin,
            args.store,
        )
    except TargetError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every process was stopped", file=sys.stderr)
        return 130
    summary, ratio = print_report(rounds)
    if args.json:
        settings = {
            "seconds": args.seconds,
            "warmup_seconds": WARMUP_SECONDS,
            "connections": args.connections,
            "wrk_threads": WRK_THREADS,
            "envoy_concurrency": 1,
            "authz_workers": threads,
            "authz_processes": max(1, args.processes),
            "store": args.store,
            "cpu_sets": {k: sorted(v) for k, v in cpu_sets().items()} if not args.no_pin else None,
            "rounds": len(rounds[AGENT_AUTHZ]),
            "path": PATH,
        }
        targets = {name: {**summary[name], "rounds": runs} for name, runs in rounds.items()}
        doc = {"settings": settings, "environment": env, "targets": targets, "ratio_rps": round(ratio, 3)}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
