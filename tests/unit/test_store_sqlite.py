"""SQLite state store: every method, atomic commit_allow, one file shared by threads and processes."""

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

from authz.store import CommitOutcome, Revocation, StoreError, StoreUnavailable
from authz.store.sqlite import SCHEMA_VERSION, SqliteStore

ALLOWED = CommitOutcome.ALLOWED
BIG = 1_000_000  # a budget never reached: the call is counted
AGENT = "spiffe://agents.example.org/agent/helpdesk-bot"
OTHER = "spiffe://agents.example.org/agent/other-bot"


class Clock:
    """Each reading one second after the last."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(path, clock=Clock())
    yield s
    s.close()


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


# --- revocation and suspension -------------------------------------------------------------------


def test_revoke_task_is_idempotent_and_keeps_the_first(store: SqliteStore) -> None:
    assert not store.task_revoked("t1")
    assert store.revoke_task("t1", reason="intent changed", by="pipeline") is True
    assert store.revoke_task("t1", reason="again", by="alice") is False
    assert store.task_revoked("t1") and not store.task_revoked("t2")
    assert store.revocations() == [Revocation("t1", "intent changed", "pipeline", 1_700_000_001.0)]


def test_revocations_newest_first_and_limited(store: SqliteStore) -> None:
    for task in ["a", "b", "c", "d"]:
        store.revoke_task(task, reason=f"r-{task}", by="alice")
    assert [r.task_id for r in store.revocations()] == ["d", "c", "b", "a"]
    assert [r.task_id for r in store.revocations(limit=2)] == ["d", "c"]
    assert store.revocations(limit=0) == []


def test_revocations_at_the_same_second_newest_first(path: Path) -> None:
    s = SqliteStore(path, clock=lambda: 5.0)
    try:
        for task in ["a", "b", "c"]:
            s.revoke_task(task, reason="r", by="b")
        assert [r.task_id for r in s.revocations()] == ["c", "b", "a"]
    finally:
        s.close()


def test_suspend_and_resume_agents(store: SqliteStore) -> None:
    assert not store.agent_suspended(AGENT) and store.suspended_agents() == []
    store.set_agent_suspended(OTHER, True, by="alice")
    store.set_agent_suspended(AGENT, True, by="alice")
    store.set_agent_suspended(AGENT, True, by="bob")  # already suspended: no error, no duplicate
    assert store.agent_suspended(AGENT) and store.agent_suspended(OTHER)
    assert store.suspended_agents() == [AGENT, OTHER]
    store.set_agent_suspended(AGENT, False, by="alice")
    store.set_agent_suspended(AGENT, False, by="alice")  # resuming a running agent is a no-op
    assert not store.agent_suspended(AGENT)
    assert store.suspended_agents() == [OTHER]


def test_state_survives_reopening(path: Path, store: SqliteStore) -> None:
    store.revoke_task("t1", reason="r", by="b")
    store.set_agent_suspended(AGENT, True, by="b")
    assert store.commit_allow(task_id="t1x", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    store.close()
    again = SqliteStore(path)
    try:
        assert again.task_revoked("t1") and again.agent_suspended(AGENT)
        assert again.task_calls("t1x") == 1 and again.approval_consumed("a1")
    finally:
        again.close()


# --- commit_allow --------------------------------------------------------------------------------


def test_commit_allow_charges_the_task_and_consumes_approvals(store: SqliteStore) -> None:
    assert store.task_calls("t1") == 0 and not store.approval_consumed("a1")
    assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1", "a2"]) is ALLOWED
    assert store.task_calls("t1") == 1
    assert store.approval_consumed("a1") and store.approval_consumed("a2")
    assert store.commit_allow(task_id="t1", max_calls=BIG) is ALLOWED
    assert store.task_calls("t1") == 2 and store.task_calls("t2") == 0


def test_commit_allow_without_a_task_consumes_approvals_only(store: SqliteStore) -> None:
    assert store.commit_allow(task_id=None, max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    assert store.approval_consumed("a1")
    assert (
        store.commit_allow(task_id=None, max_calls=BIG, approval_ids=["a1"])
        is CommitOutcome.APPROVAL_REPLAYED
    )


def test_nothing_to_spend_writes_nothing(path: Path, store: SqliteStore) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # even with the write lock held elsewhere
        assert store.commit_allow(task_id="t1", max_calls=None) is ALLOWED
        assert store.commit_allow(task_id=None, max_calls=None) is ALLOWED
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert store.task_calls("t1") == 0  # tasks without a budget are not counted
    store.revoke_task("t1", reason="r", by="b")
    assert store.commit_allow(task_id="t1", max_calls=None) is CommitOutcome.TASK_REVOKED


def test_budget_boundary(store: SqliteStore) -> None:
    outcomes = [store.commit_allow(task_id="t1", max_calls=2) for _ in range(3)]
    assert outcomes == [ALLOWED, ALLOWED, CommitOutcome.BUDGET_EXHAUSTED]
    assert store.task_calls("t1") == 2
    assert store.commit_allow(task_id="t1", max_calls=3) is ALLOWED  # the budget is the token's
    assert store.commit_allow(task_id="t2", max_calls=0) is CommitOutcome.BUDGET_EXHAUSTED


def test_approval_replay_is_blocked(store: SqliteStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    assert (
        store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"])
        is CommitOutcome.APPROVAL_REPLAYED
    )
    assert (
        store.commit_allow(task_id="t2", max_calls=BIG, approval_ids=["a1"])
        is CommitOutcome.APPROVAL_REPLAYED
    )


def test_one_approval_presented_twice_in_one_request_is_a_replay(store: SqliteStore) -> None:
    outcome = store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1", "a1"])
    assert outcome is CommitOutcome.APPROVAL_REPLAYED
    assert not store.approval_consumed("a1") and store.task_calls("t1") == 0


@pytest.mark.parametrize(
    ("revoked", "calls", "max_calls", "used", "expected"),
    [
        (True, 0, None, [], CommitOutcome.TASK_REVOKED),
        (True, 5, 5, ["old"], CommitOutcome.TASK_REVOKED),  # revocation wins over everything
        (False, 2, 2, [], CommitOutcome.BUDGET_EXHAUSTED),
        (False, 2, 2, ["old"], CommitOutcome.BUDGET_EXHAUSTED),  # budget is checked before approvals
        (False, 1, 2, ["old"], CommitOutcome.APPROVAL_REPLAYED),
    ],
)
def test_refused_commit_writes_nothing(
    store: SqliteStore,
    revoked: bool,
    calls: int,
    max_calls: int | None,
    used: list[str],
    expected: CommitOutcome,
) -> None:
    for i in range(calls):
        assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=[f"setup-{i}"]) is ALLOWED
    for approval in used:
        assert store.commit_allow(task_id="other", max_calls=BIG, approval_ids=[approval]) is ALLOWED
    if revoked:
        store.revoke_task("t1", reason="r", by="b")
    outcome = store.commit_allow(task_id="t1", max_calls=max_calls, approval_ids=["fresh", *used])
    assert outcome is expected
    assert store.task_calls("t1") == calls
    assert not store.approval_consumed("fresh")


def test_replay_across_two_stores_on_one_file(path: Path, store: SqliteStore) -> None:
    second = SqliteStore(path)
    try:
        assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
        assert second.approval_consumed("a1")
        assert (
            second.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"])
            is CommitOutcome.APPROVAL_REPLAYED
        )
        assert second.commit_allow(task_id="t1", max_calls=2) is ALLOWED
        assert store.commit_allow(task_id="t1", max_calls=2) is CommitOutcome.BUDGET_EXHAUSTED
    finally:
        second.close()


def test_a_failure_inside_commit_leaves_no_transaction_open(store: SqliteStore) -> None:
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate cannot be stored; the caller denies
        store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["\ud800"])
    assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    assert store.task_calls("t1") == 1


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


def test_a_change_counter_that_cannot_be_opened_is_refused_at_open(path: Path) -> None:
    Path(f"{path}-changes").mkdir()  # e.g. a stray directory where the counter file belongs
    with pytest.raises(StoreError, match="-changes"):
        SqliteStore(path)


def test_connections_of_ended_threads_are_closed(store: SqliteStore) -> None:
    for _ in range(10):
        t = threading.Thread(target=store.task_revoked, args=("t1",))
        t.start()
        t.join(timeout=30)
    store.task_calls("t1")
    assert len(store._conns) <= 2  # this thread's and at most the last ended one's


# --- start-up errors and failures at request time ------------------------------------------------


def test_not_a_database_is_refused_at_open(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(StoreError, match="not a database"):
        SqliteStore(path)


def test_newer_schema_is_refused_at_open(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SqliteStore(path)


def test_missing_directory_is_refused_at_open(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unable to open"):
        SqliteStore(tmp_path / "missing" / "state.db")


def test_schema_version_is_recorded(path: Path, store: SqliteStore) -> None:
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        raw.close()


def test_files_overwritten_with_garbage_make_the_store_unavailable(path: Path) -> None:
    store = SqliteStore(path, refresh_interval=0)  # a broken file is found at the next reload
    store.revoke_task("t1", reason="r", by="b")
    assert store.task_revoked("t1")
    for name in [path, Path(f"{path}-wal"), Path(f"{path}-shm")]:
        name.write_bytes(b"\xa5" * name.stat().st_size)  # in place: the open connection sees it
    with pytest.raises(StoreUnavailable, match="not a database"):
        store.task_revoked("t1")
    with pytest.raises(StoreUnavailable, match="not a database"):
        store.commit_allow(task_id="t1", max_calls=BIG)
    store.close()


def test_a_held_write_lock_makes_commit_unavailable_but_not_reads(path: Path) -> None:
    s = SqliteStore(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process stuck inside a write
        assert not s.task_revoked("t1")  # WAL: readers never wait for a writer
        with pytest.raises(StoreUnavailable, match="database is locked"):
            s.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"])
        other.execute("ROLLBACK")
        assert (
            s.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
        )  # no stuck transaction
    finally:
        other.close()
        s.close()


def test_new_thread_after_the_file_was_deleted_is_unavailable(path: Path, store: SqliteStore) -> None:
    for name in [path, Path(f"{path}-wal"), Path(f"{path}-shm")]:
        name.unlink()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            store.task_revoked("t1")
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=read)
    t.start()
    t.join(timeout=30)
    assert len(errors) == 1 and isinstance(errors[0], StoreUnavailable)
    assert "unable to open" in str(errors[0])
    assert not path.exists()  # no empty store created behind the operator's back


def test_closed_store_is_unavailable(path: Path) -> None:
    s = SqliteStore(path)
    s.close()
    with pytest.raises(StoreUnavailable):
        s.task_revoked("t1")
    with pytest.raises(StoreUnavailable):
        s.commit_allow(task_id="t1", max_calls=BIG)


def test_a_version_1_store_gains_the_approval_queue(path: Path) -> None:
    SqliteStore(path).close()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("DROP TABLE approval_requests")
    raw.execute("DROP TABLE approval_tokens")
    raw.execute("PRAGMA user_version=1")
    raw.execute("INSERT INTO revoked_tasks VALUES ('t1', 'r', 'b', 0)")
    raw.close()
    store = SqliteStore(path)
    try:
        assert store.task_revoked("t1")  # nothing lost
        assert store._rows("SELECT count(*) FROM approval_requests", ()) == [(0,)]
        assert store._rows("PRAGMA user_version", ()) == [(SCHEMA_VERSION,)]
    finally:
        store.close()
