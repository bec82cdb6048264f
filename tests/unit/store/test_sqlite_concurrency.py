"""SQLite state store (``authz/store/sqlite.py``): one file shared by threads and processes —
commits racing for approvals and budgets, changes seen on the next read, reads served from
memory until the change counter moves."""

from __future__ import annotations

import json
import os
import select
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from authz.store import CommitOutcome
from authz.store.sqlite import SqliteStore

from .sqlite_store import AGENT, ALLOWED, BIG

# A second agent-authz process: its own SqliteStore on the same file. Each stdin line is a
# JSON list of [method, kwargs] calls; it answers with one JSON line, the list of results.
CHILD = """
import json, sys
from pathlib import Path
from authz.store.sqlite import SqliteStore
store = SqliteStore(Path(sys.argv[1]))
print(json.dumps("ready"), flush=True)
for line in sys.stdin:
    print(json.dumps([getattr(store, m)(**kw) for m, kw in json.loads(line)]), flush=True)
store.close()
"""


class Child:
    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        self._buf = b""

    def send(self, *calls: tuple[str, dict[str, Any]]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(calls).encode() + b"\n")

    def recv(self, timeout: float = 60) -> Any:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.proc.stdout], [], [], remaining)[0]:
                raise TimeoutError("child process did not answer")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError(f"child process exited with {self.proc.wait(timeout=10)}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method: str, **kwargs: Any) -> Any:
        self.send((method, kwargs))
        return self.recv()[0]

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def children(path: Path) -> Iterator[Callable[[int], list[Child]]]:
    started: list[Child] = []

    def start(n: int) -> list[Child]:
        new = [Child(path) for _ in range(n)]
        started.extend(new)
        for child in new:
            assert child.recv() == "ready"
        return new

    yield start
    for child in started:
        child.close()
    assert all(child.proc.returncode == 0 for child in started)


def race(
    n_threads: int, work: Callable[[SqliteStore], list[CommitOutcome]], store: SqliteStore
) -> Counter[str]:
    """Run ``work`` in n threads released together; every outcome counted."""
    barrier = threading.Barrier(n_threads)
    results: list[list[CommitOutcome]] = [[] for _ in range(n_threads)]

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = work(store)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return Counter(outcome for result in results for outcome in result)


# --- concurrency ---------------------------------------------------------------------------------

ROUNDS = 40


def test_threads_racing_for_approvals_consume_each_once(store: SqliteStore) -> None:
    def work(s: SqliteStore) -> list[CommitOutcome]:
        return [s.commit_allow(task_id="t1", max_calls=BIG, approval_ids=[f"a{i}"]) for i in range(ROUNDS)]

    counts = race(8, work, store)
    assert counts == {ALLOWED: ROUNDS, CommitOutcome.APPROVAL_REPLAYED: 7 * ROUNDS}
    assert store.task_calls("t1") == ROUNDS


def test_threads_racing_for_a_budget_take_exactly_it(store: SqliteStore) -> None:
    counts = race(8, lambda s: [s.commit_allow(task_id="t1", max_calls=25) for _ in range(10)], store)
    assert counts == {ALLOWED: 25, CommitOutcome.BUDGET_EXHAUSTED: 55}
    assert store.task_calls("t1") == 25


def test_processes_racing_for_approvals_consume_each_once(
    store: SqliteStore, children: Callable[[int], list[Child]]
) -> None:
    procs = children(3)
    calls = [
        ("commit_allow", {"task_id": "t1", "max_calls": BIG, "approval_ids": [f"a{i}"]})
        for i in range(ROUNDS)
    ]
    for child in procs:
        child.send(*calls)
    mine = [store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=[f"a{i}"]) for i in range(ROUNDS)]
    theirs = [child.recv() for child in procs]
    for i in range(ROUNDS):  # every approval id allowed exactly once, in whichever process won it
        assert sorted([mine[i], *(t[i] for t in theirs)]) == [ALLOWED, *["approval_replayed"] * 3]
    assert store.task_calls("t1") == ROUNDS


def test_processes_racing_for_a_budget_take_exactly_it(
    store: SqliteStore, children: Callable[[int], list[Child]]
) -> None:
    procs = children(3)
    for child in procs:
        child.send(*[("commit_allow", {"task_id": "t1", "max_calls": 30})] * 20)
    outcomes = [store.commit_allow(task_id="t1", max_calls=30) for _ in range(20)]
    for child in procs:
        outcomes += child.recv()
    assert Counter(outcomes) == {ALLOWED: 30, CommitOutcome.BUDGET_EXHAUSTED: 50}
    assert store.task_calls("t1") == 30


def test_processes_opening_a_new_file_together(path: Path, children: Callable[[int], list[Child]]) -> None:
    procs = children(8)  # each creates the schema if missing: none may fail
    assert [child.call("commit_allow", task_id="t1", max_calls=BIG) for child in procs] == [ALLOWED] * 8
    assert procs[0].call("task_calls", task_id="t1") == 8


def test_another_process_sees_revocation_and_suspension_on_its_next_read(
    store: SqliteStore, children: Callable[[int], list[Child]]
) -> None:
    (child,) = children(1)
    assert child.call("task_revoked", task_id="t1") is False  # its connection is open and has read
    assert child.call("agent_suspended", spiffe_id=AGENT) is False
    store.revoke_task("t1", reason="intent changed", by="pipeline")
    store.set_agent_suspended(AGENT, True, by="alice")
    assert child.call("task_revoked", task_id="t1") is True
    assert child.call("agent_suspended", spiffe_id=AGENT) is True
    assert child.call("commit_allow", task_id="t1", max_calls=BIG) == "task_revoked"
    store.set_agent_suspended(AGENT, False, by="alice")
    assert child.call("agent_suspended", spiffe_id=AGENT) is False
    child.call("revoke_task", task_id="t2", reason="by the CLI", by="bob")  # and the other way round
    assert store.task_revoked("t2")


def _insert_behind_the_counters_back(path: Path, task_id: str) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("INSERT INTO revoked_tasks VALUES (?, 'r', 'sqlite3 shell', 0)", (task_id,))
    finally:
        raw.close()


def test_reads_come_from_memory_until_the_change_counter_moves(path: Path) -> None:
    store, writer = SqliteStore(path, refresh_interval=3600), SqliteStore(path)
    try:
        assert not store.task_revoked("t1")
        _insert_behind_the_counters_back(path, "t1")
        assert not store.task_revoked("t1")  # served from memory: no query per request
        writer.set_agent_suspended(AGENT, True, by="alice")  # any signalled write reloads
        assert store.task_revoked("t1") and store.agent_suspended(AGENT)
        assert Path(f"{path}-changes").stat().st_size == 8
    finally:
        store.close()
        writer.close()


def test_the_refresh_interval_bounds_staleness_without_a_signal(path: Path) -> None:
    store = SqliteStore(path, refresh_interval=0)
    try:
        assert not store.task_revoked("t1")
        _insert_behind_the_counters_back(path, "t1")
        assert store.task_revoked("t1")
    finally:
        store.close()


def test_a_revocation_in_this_process_is_seen_by_its_other_threads(store: SqliteStore) -> None:
    assert not store.task_revoked("t1")
    seen: list[bool] = []
    t = threading.Thread(target=lambda: (store.revoke_task("t1", reason="r", by="b"), seen.append(True)))
    t.start()
    t.join(timeout=30)
    assert seen and store.task_revoked("t1")


def test_connections_of_ended_threads_are_closed(store: SqliteStore) -> None:
    for _ in range(10):
        t = threading.Thread(target=store.task_revoked, args=("t1",))
        t.start()
        t.join(timeout=30)
    store.task_calls("t1")
    assert len(store._conns) <= 2  # this thread's and at most the last ended one's
