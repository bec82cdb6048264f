"""Summarise the measured rounds and print the table."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from importlib.metadata import version
from typing import Any

from authz.demo.processes import envoy_binary
from bench.targets import AGENT_AUTHZ, FLOOR

GOAL = 0.70
LABELS = {FLOOR: "floor (no-op authz)", AGENT_AUTHZ: "agent-authz"}
Rounds = dict[str, list[dict[str, Any]]]


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-figure medians over the rounds of one target (the round itself when there is one)."""
    summary: dict[str, Any] = {
        key: statistics.median(r[key] for r in rounds) for key in ("rps", "p50_ms", "p99_ms")
    }
    for key in ("requests", "non_2xx", "socket_errors"):
        summary[key] = sum(r[key] for r in rounds)
    summary["cpu_cores"] = {
        k: statistics.median(r["cpu_cores"][k] for r in rounds) for k in rounds[0]["cpu_cores"]
    }
    if "decisions" in rounds[0]:
        summary["decisions"] = {k: sum(r["decisions"][k] for r in rounds) for k in rounds[0]["decisions"]}
    return summary


def print_report(rounds: Rounds) -> tuple[dict[str, Any], float]:
    summary = {name: summarize(runs) for name, runs in rounds.items()}
    count = len(rounds[FLOOR])
    if count > 1:
        for i, (floor, authz) in enumerate(zip(rounds[FLOOR], rounds[AGENT_AUTHZ], strict=True), 1):
            share = authz["rps"] / floor["rps"]
            print(
                f"round {i}: floor {floor['rps']:,.0f} req/s, agent-authz {authz['rps']:,.0f} ({share:.0%})"
            )
    what = f", medians of {count} rounds" if count > 1 else ""
    print(f"\n{'target':<22}{'req/s':>10}{'p50':>11}{'p99':>11}   CPU (cores) during the run{what}")
    for name, r in summary.items():
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_cores"].items())
        print(f"{LABELS[name]:<22}{r['rps']:>10,.0f}{r['p50_ms']:>8.2f} ms{r['p99_ms']:>8.2f} ms   {cpu}")
        if r["cpu_cores"]["other"] > 0.15:
            print(f"  WARNING: other processes used {r['cpu_cores']['other']:.2f} cores: figures are noisy")
        if r["non_2xx"] or r["socket_errors"]:
            print(f"  WARNING: {r['non_2xx']} non-2xx responses, {r['socket_errors']} socket errors")
    d, sent = summary[AGENT_AUTHZ]["decisions"], summary[AGENT_AUTHZ]["requests"]
    print(
        f"agent-authz decided {d['allow']:,} allow / {d['deny']:,} deny while wrk counted {sent:,} responses"
    )
    ratio = summary[AGENT_AUTHZ]["rps"] / summary[FLOOR]["rps"]
    verdict = "" if ratio >= GOAL else " — BELOW TARGET"
    print(f"agent-authz reaches {ratio:.0%} of the floor's req/s (target ≥ {GOAL:.0%}){verdict}")
    return summary, ratio


def environment() -> dict[str, Any]:
    def out(argv: list[str]) -> str:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout

    return {
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "grpcio": version("grpcio"),
        "envoy": out([envoy_binary(), "--version"]).strip().rpartition(" ")[2].split("/")[1],
        "wrk": out(["wrk", "-v"]).split()[1],
    }
