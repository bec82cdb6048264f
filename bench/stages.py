"""Per-stage cost of a decision: how many µs each pipeline stage takes per request.

    .venv/bin/python -m bench.stages [--requests 20000] [--rounds 5] [--json stages.json]

In one process, with no Envoy and no gRPC: the real ``Authorizer`` (demo config, Cedar
policies, file directory, SQLite store and audit log in a temporary folder) decides requests
as Envoy describes them, and every stage's entry point is wrapped in a timer whose own cost is
measured and subtracted. Two workloads:

- **read** — the benchmark's request (``GET /v1/users/alice`` with a task token): the same
  certificate, token and verdict every time, so the caches and the verdict memo are warm;
- **approved change** — ``POST /v1/users/alice/password/reset`` with a fresh approval token
  each time (signed beforehand): an Ed25519 verification, a consumed approval and an audit
  ``fsync`` per request.

Each figure is the median over the rounds of (time in the stage / requests). Stage 8 is also
measured with the verdict memo off, to show what one Cedar evaluation costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from envoy.service.auth.v3 import external_auth_pb2 as pb

import authz.pipeline
from authz.audit import AuditLog
from authz.config import Config, load_config
from authz.devkit.world import sign_demo_approval, sign_demo_task
from authz.envoy.adapter import ResponseEncoder, to_request
from authz.metrics import Metrics
from authz.pipeline import Authorizer
from authz.store.sqlite import SqliteStore
from bench.targets import AGENT, INTENT, prepare

#: (label, attribute of the Authorizer, method) — each stage's entry point.
STAGES = (
    ("1 identity", "_identity", "verify"),
    ("2 operation", "_operation", "resolve"),
    ("3 task", "_task", "verify"),
    ("5 intent", "_intent", "check"),
    ("6 approval", "_approval", "verify"),
    ("7 context", "_context", "gather"),
    ("8 policy", "_policy", "check"),
    ("10 record", "_record", "record"),
)
BINDING = "4 binding"  # functions the pipeline module calls by name
BUDGET = "9 budget"
ADAPTER_IN, PIPELINE, ADAPTER_OUT = "Envoy request → RequestContext", "Authorizer.check", "response bytes"
GLUE = "pipeline (between stages)"
RESET = ("POST", "/v1/users/alice/password/reset", "user.password.reset")


@dataclass
class Timers:
    ns: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock, totals = time.perf_counter_ns, self.ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] += clock() - started

        return timed


def timer_cost(n: int = 200_000) -> float:
    """ns one wrapped call adds (the wrapper around a no-op, minus the bare call)."""
    noop: Callable[[], None] = lambda: None  # noqa: E731
    wrapped = Timers().wrap("calibration", noop)
    started = time.perf_counter_ns()
    for _ in range(n):
        wrapped()
    with_timer = time.perf_counter_ns() - started
    started = time.perf_counter_ns()
    for _ in range(n):
        noop()
    return max(0.0, (with_timer - (time.perf_counter_ns() - started)) / n)


def check_request(
    cert_pem: bytes, spiffe_id: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> pb.CheckRequest:
    """A CheckRequest as Envoy sends it for this agent and request."""
    req = pb.CheckRequest()
    req.attributes.source.principal = spiffe_id
    req.attributes.source.certificate = quote(cert_pem.decode(), safe="")
    http = req.attributes.request.http
    http.method, http.path, http.id = method, path, "bench"
    http.headers.update(headers)
    http.raw_body = body
    return req


@dataclass
class World:
    workdir: Path
    config: Config
    cert_pem: bytes
    spiffe_id: str

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def task(self, **claims: Any) -> str:
        return sign_demo_task(self.workdir, self.config, self.cert, ttl=900, **claims)


@contextmanager
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory(prefix="agent-authz-stages-") as tmp:
        workdir = Path(tmp)
        pki, _ = prepare(workdir)
        config = load_config(workdir / "agent-authz.toml")
        cert_pem = pki.agent_cert(AGENT).read_bytes()
        yield World(workdir, config, cert_pem, pki.spiffe_id(AGENT))


def reads(w: World, n: int) -> list[pb.CheckRequest]:
    token = w.task(intent=INTENT, principals=["alice"])
    headers = {"x-agent-task-token": token, "x-agent-intent": INTENT}
    one = check_request(w.cert_pem, w.spiffe_id, "GET", "/v1/users/alice", headers)
    return [one] * n


def approved_changes(w: World, n: int) -> list[pb.CheckRequest]:
    method, path, operation = RESET
    token = w.task(intent="credential_recovery", principals=["alice"], actions=[operation])
    requests = []
    for _ in range(n):
        approval = sign_demo_approval(
            w.workdir, w.config, "dana", token, method, path, b"",
            agent_id=w.spiffe_id, operation=operation, principal="alice",
        )  # fmt: skip
        headers = {"x-agent-task-token": token, "x-agent-intent": "credential_recovery"}
        headers["x-approval-token"] = approval
        requests.append(check_request(w.cert_pem, w.spiffe_id, method, path, headers))
    return requests


def measure(w: World, requests: list[pb.CheckRequest], memo: bool = True) -> dict[str, float]:
    """µs per request in each stage, and for the whole decision, over ``requests``."""
    store, audit = SqliteStore(w.config.store_path), AuditLog(w.config.audit.path, fsync=w.config.audit.fsync)
    try:
        authorizer = Authorizer(w.config, audit, store, Metrics())
        if not memo:  # every verdict evaluated by Cedar
            policies = authorizer._policy._policies
            policies.remembered = lambda key, build: policies._evaluate(build())  # type: ignore[method-assign]
        timers, encoder = Timers(), ResponseEncoder()
        for label, attr, method in STAGES:
            stage = getattr(authorizer, attr)
            setattr(stage, method, timers.wrap(label, getattr(stage, method)))
        names = vars(authz.pipeline)  # the pipeline calls these by their module-level names
        binding, budget = names["check_binding"], names["check_budget"]
        names["check_binding"] = timers.wrap(BINDING, binding)
        names["check_budget"] = timers.wrap(BUDGET, budget)
        adapt, check, encode = (
            timers.wrap(ADAPTER_IN, to_request),
            timers.wrap(PIPELINE, authorizer.check),
            timers.wrap(ADAPTER_OUT, encoder.encode),
        )
        try:
            for request in requests:
                decision = check(adapt(request))
                encode(decision)
                if not decision.allowed:
                    raise SystemExit(f"a measured request was denied: {decision.reason} {decision.message}")
        finally:
            names["check_binding"], names["check_budget"] = binding, budget
    finally:
        audit.close()
        store.close()
    cost = timer_cost()
    nested = {label for label, _, _ in STAGES} | {BINDING, BUDGET}  # inside Authorizer.check
    per_request: dict[str, float] = {}
    for label, total in timers.ns.items():
        overhead = cost * len(requests) * (1 + (len(nested) if label == PIPELINE else 0))
        per_request[label] = max(0.0, (total - overhead) / len(requests) / 1000)
    return per_request


def run(requests: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {}
    with world() as w:
        workloads: list[tuple[str, Callable[[World, int], list[pb.CheckRequest]], bool, int]] = [
            ("read", reads, True, requests),
            ("read, verdict memo off", reads, False, requests // 4),
            ("approved change", approved_changes, True, max(1, requests // 20)),
        ]
        for name, make, memo, n in workloads:
            batch = make(w, n)
            measure(w, batch[: max(1, n // 10)], memo)  # warm-up: caches, imports, files
            for _ in range(rounds):
                batch = make(w, n) if make is approved_changes else batch  # approvals are single-use
                for label, us in measure(w, batch, memo).items():
                    results.setdefault(name, defaultdict(list))[label].append(us)
    return {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}


def print_table(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    stages = [label for label, _, _ in STAGES]
    order = [ADAPTER_IN, *stages[:3], BINDING, *stages[3:-1], BUDGET, stages[-1], PIPELINE, ADAPTER_OUT]
    inner = [*stages, BINDING, BUDGET]
    for r in results.values():  # what Authorizer.check spends outside the stages
        r[GLUE] = max(0.0, r.get(PIPELINE, 0.0) - sum(r.get(label, 0.0) for label in inner))
    print("| stage | " + " | ".join(f"{n} (µs)" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for label in [*order[:-2], GLUE, *order[-2:]]:
        cells = [f"{results[n].get(label, 0.0):.1f}" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="reads per round (changes: 1/20)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results = run(args.requests, args.rounds)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
