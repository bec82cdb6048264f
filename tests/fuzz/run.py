"""Fuzz the real ``Authorizer`` and judge every allow with the independent oracle.

    PYTHONPATH=tests:. .venv/bin/python -m fuzz.run -n 1000000 --seed 7 [--jobs 2] [--mode fast]

(``make fuzz N=… SEED=…``.) Ends with exactly one line,
``N checks, W wrongful allows, E internal errors, A allows, R checks/s``, and exits non-zero
if W or E is not 0; each wrongful allow or internal error is printed as it is found.

How hypothesis drives it, and why. A hypothesis example costs about 420 µs of engine
bookkeeping before the test body runs, and each ``data.draw`` about 55 µs more (measured with
hypothesis 6.170 on this 2-core machine, ``phases=[Phase.generate]``, no database); a request
takes some 20–40 choices. One example per request, each choice a draw, would spend 1.5–2.5 ms
per check in hypothesis alone: a million checks in about 20 hours of CPU. So:

- each hypothesis example is a *batch* of requests (a sequence: tasks made early in it are
  reused, allowed requests replayed), which amortises the per-example cost;
- ``--mode draws`` makes every choice of the grammar a hypothesis draw (``st.data()``; batches
  of 8, each starting with empty pools, as hypothesis requires that an example's draws follow
  from its earlier draws alone) — what the test suite runs first;
- ``--mode fast`` (the default) has hypothesis draw one integer per batch of 50 and seeds a
  ``random.Random`` with it for that batch's choices: the same grammar (``Choices``), tens of
  µs of choosing per request instead of 1–2 ms;
- the run is cut into chunks of 10,000 checks, each a separate ``@given`` run with its own
  ``@seed`` derived from SEED and the chunk number (hypothesis keeps a tree of every choice
  sequence it has tried, which grows with the examples of one run), spread over ``--jobs``
  processes, each with its own world. A chunk starts with fresh pools and a fresh oracle
  state, and ids carry the chunk number, so what a chunk generates depends only on SEED and
  its number: the same N and SEED give the same requests whatever the number of jobs
  (tokens carry the run's time and certificates are new keys, so bytes differ; choices do not).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from authz.pipeline import Authorizer
from fuzz.choices import Choices, DrawChoices, RandomChoices
from fuzz.grammar import Case, Generator
from fuzz.oracle import Facts, Oracle, TokenFacts
from fuzz.world import FuzzWorld, build_world

CHUNK = 10_000
BATCH = {"fast": 50, "draws": 8}
MAX_REPORTS = 25  # printed per process; the rest are counted
SECRET_HEADERS = ("x-agent-task-token", "x-approval-token")


@dataclass
class Tally:
    checks: int = 0
    wrongful: int = 0
    internal: int = 0
    allows: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    allowed_by: Counter[str] = field(default_factory=Counter)  # mutation → allows
    reports: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.checks += other.checks
        self.wrongful += other.wrongful
        self.internal += other.internal
        self.allows += other.allows
        self.reasons.update(other.reasons)
        self.allowed_by.update(other.allowed_by)
        self.reports += other.reports

    def line(self, seconds: float) -> str:
        rate = self.checks / seconds if seconds > 0 else 0.0
        return (
            f"{self.checks} checks, {self.wrongful} wrongful allows, {self.internal} internal errors, "
            f"{self.allows} allows, {rate:.0f} checks/s"
        )


def chunk_seed(run_seed: int, index: int, attempt: int = 0) -> int:
    digest = hashlib.sha256(f"agent-authz-fuzz:{run_seed}:{index}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Runner:
    """One process: a world, and chunks decided in it."""

    def __init__(self, root: Path, echo: Callable[[str], None] | None = print) -> None:
        self.world: FuzzWorld = build_world(root)
        self.facts = Facts.load(self.world.config_path)
        self.echo = echo
        self.tally = Tally()

    def close(self) -> None:
        self.world.close()

    def run_chunk(self, run_seed: int, index: int, checks: int, mode: str = "fast") -> Tally:
        tally = Tally()
        started = time.perf_counter()
        audit_path = self.world.root / f"audit-{index}.jsonl"
        authz, audit = self.world.authorizer(audit_path)
        generator, oracle = Generator(self.world, str(index)), Oracle(self.facts, self.world.now)
        with audit_path.open("rb") as reader:
            state = _Chunk(self, authz, reader, generator, oracle, tally, checks)
            attempt = 0
            while state.remaining > 0:  # hypothesis may stop short of max_examples
                _hypothesis_run(state, mode, chunk_seed(run_seed, index, attempt))
                attempt += 1
        audit.close()
        audit_path.unlink()
        tally.seconds = time.perf_counter() - started
        self.tally.add(tally)
        return tally


def _hypothesis_run(state: _Chunk, mode: str, chunk: int) -> None:
    size = min(BATCH[mode], state.remaining)  # every example runs exactly ``size`` requests
    examples = state.remaining // size
    common = settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        print_blob=False,
    )
    if mode == "fast":

        @seed(chunk)
        @common
        @given(st.integers(0, 2**64 - 1))
        def fast(n: int) -> None:
            if state.remaining > 0:  # hypothesis may run an example more than asked for
                state.batch(RandomChoices(random.Random(f"{chunk}:{n}")), min(size, state.remaining))

        fast()
    else:

        @seed(chunk)
        @common
        @given(st.data())
        def draws(data: st.DataObject) -> None:
            state.generator.forget()  # what an example generates must follow from its draws alone
            state.batch(DrawChoices(data), size)

        draws()


@dataclass
class _Chunk:
    runner: Runner
    authz: Authorizer
    reader: BinaryIO
    generator: Generator
    oracle: Oracle
    tally: Tally
    remaining: int

    def batch(self, choices: Choices, size: int) -> None:
        for _ in range(size):
            self.remaining -= 1
            self.check(self.generator.next_case(choices))

    def check(self, case: Case) -> None:
        t = self.tally
        t.checks += 1
        try:
            decision = self.authz.check(case.ctx)
        except Exception as exc:  # an exception escaping Authorizer.check
            t.internal += 1
            self.report("INTERNAL ERROR (exception escaped Authorizer.check)", case, [repr(exc)])
            self.reader.read()
            return
        allowed, reason = decision.allowed, str(decision.reason)
        record = self.record(decision.decision_id)
        t.reasons[reason] += 1
        if reason == "internal_error":
            t.internal += 1
            self.report("INTERNAL ERROR", case, [decision.message])
        if allowed:
            t.allows += 1
            t.allowed_by[case.mutation] += 1
            found = self.oracle.judge(case.ctx, case.task, case.approvals, record)
            if found:
                t.wrongful += 1
                self.report("WRONGFUL ALLOW", case, found, record)
        self.oracle.observe(case.ctx, case.task, case.approvals, allowed, reason)
        self.generator.observe(case, allowed, reason)

    def record(self, decision_id: str) -> dict[str, Any] | None:
        """This decision's audit record (the log is read as it is written)."""
        while line := self.reader.readline():
            record: dict[str, Any] = json.loads(line)
            if record.get("decision_id") == decision_id:
                return record
        return None

    def report(
        self, title: str, case: Case, found: list[str], record: Mapping[str, Any] | None = None
    ) -> None:
        text = describe(title, case, found, record)
        if len(self.tally.reports) < MAX_REPORTS:
            self.tally.reports.append(text)
            if self.runner.echo:
                self.runner.echo(text)


def _token_summary(facts: TokenFacts | None, value: str) -> str:
    if facts is None or value.strip() != facts.token:
        return f"<{len(value)} chars, not a token the generator made>"
    c = facts.claims
    if "req" in c:
        return (
            f"<approval {facts.made_as}: iss {c.get('iss')} sub {c.get('sub')} task {c.get('task')} "
            f"op {c.get('op')} principal {c.get('principal')!r} iat {c.get('iat')} exp {c.get('exp')}>"
        )
    details = (c.get("authorization_details") or [{}])[0]
    details = details if isinstance(details, dict) else {}
    return (
        f"<task token {facts.made_as}: jti {c.get('jti')} sub {c.get('sub')} act {c.get('act')} "
        f"intent {c.get('intent')} principals {details.get('principals')} actions {details.get('actions')} "
        f"budget {c.get('budget')} iat {c.get('iat')} exp {c.get('exp')}>"
    )


def describe(title: str, case: Case, found: list[str], record: Mapping[str, Any] | None = None) -> str:
    r = case.ctx
    lines = [
        f"{title}: {case.kind} request {r.request_id}, mutation {case.mutation}, certificate {case.cert}",
        f"  {r.method} {r.path}",
        f"  source.principal: {r.principal}",
    ]
    for name, value in r.headers.items():
        if name == "x-agent-task-token":
            value = _token_summary(case.task, value)
        elif name == "x-approval-token":
            value = ", ".join(_token_summary(case.approvals.get(v.strip()), v) for v in value.split(","))
        lines.append(f"  {name}: {value}")
    lines.append(f"  body: {r.body!r}")
    if record is not None:
        lines.append(f"  audit: operation {record.get('operation')} target {record.get('target')!r}")
    lines += [f"  oracle: {f}" for f in found]
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------------


def _chunks(checks: int) -> list[tuple[int, int]]:
    return [(i, min(CHUNK, checks - i * CHUNK)) for i in range(-(-checks // CHUNK))]


def _worker(job: int, jobs: int, run_seed: int, checks: int, mode: str) -> Tally:
    with tempfile.TemporaryDirectory(prefix=f"authz-fuzz-{job}-") as folder:
        runner = Runner(Path(folder), echo=lambda text: print(text, flush=True))
        try:
            for index, size in _chunks(checks)[job::jobs]:
                t = runner.run_chunk(run_seed, index, size, mode)
                print(f"[job {job}] chunk {index}: {t.line(t.seconds)}", file=sys.stderr, flush=True)
        finally:
            runner.close()
        return runner.tally


def fuzz(checks: int, run_seed: int, jobs: int, mode: str) -> tuple[Tally, float]:
    started = time.perf_counter()
    total = Tally()
    if jobs == 1:
        total.add(_worker(0, 1, run_seed, checks, mode))
    else:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for tally in pool.starmap(_worker, [(j, jobs, run_seed, checks, mode) for j in range(jobs)]):
                total.add(tally)
    return total, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--checks", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--mode", choices=sorted(BATCH), default="fast")
    args = parser.parse_args(argv)
    print(f"fuzz: {args.checks} checks, seed {args.seed}, {args.jobs} job(s), mode {args.mode}", flush=True)
    total, seconds = fuzz(args.checks, args.seed, max(1, args.jobs), args.mode)
    print("decisions: " + ", ".join(f"{reason} {n}" for reason, n in total.reasons.most_common()))
    print(f"wall time: {seconds:.1f} s")
    print(total.line(seconds), flush=True)
    return 1 if total.wrongful or total.internal else 0


if __name__ == "__main__":
    sys.exit(main())
