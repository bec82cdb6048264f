"""The state store's commit and its edges: what is charged, what is kept, how far lists go.

Beside ``test_sqlite.py`` (failures) and ``test_sqlite_concurrency.py`` (threads, processes);
these pin the exact effects of ``commit_allow`` and the small parts it relies on.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import authz.store.sqlite as sqlite_module
from authz.store import CommitOutcome, StoreError
from authz.store.sqlite import ChangeCounter, SqliteStore, _rollback

ALLOWED = CommitOutcome.ALLOWED


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db", clock=lambda: 1_700_000_000.0)
    yield s
    s.close()


def usage_rows(store: SqliteStore) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute("SELECT task_id, calls FROM task_usage ORDER BY 1").fetchall()
    finally:
        conn.close()


def test_approvals_without_a_budget_charge_no_calls(store: SqliteStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=None, approval_ids=["a1"]) is ALLOWED
    assert store.approval_consumed("a1") and store.task_calls("t1") == 0
    assert usage_rows(store) == []


def test_a_budget_without_a_task_charges_nothing(store: SqliteStore) -> None:
    assert store.commit_allow(task_id=None, max_calls=5, approval_ids=["a1"]) is ALLOWED
    assert usage_rows(store) == []


def test_consumed_approvals_record_their_task_and_time(store: SqliteStore) -> None:
    assert store.commit_allow(task_id="t1", max_calls=3, approval_ids=["a1", "a2"]) is ALLOWED
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute("SELECT approval_id, task_id, at FROM consumed_approvals ORDER BY 1").fetchall()
    finally:
        conn.close()
    assert rows == [("a1", "t1", 1_700_000_000.0), ("a2", "t1", 1_700_000_000.0)]
    assert usage_rows(store) == [("t1", 1)]


@pytest.mark.parametrize("max_calls", [None, 5])
def test_a_revoked_task_spends_nothing(store: SqliteStore, max_calls: int | None) -> None:
    store.revoke_task("t1", reason="r", by="b")
    outcome = store.commit_allow(task_id="t1", max_calls=max_calls, approval_ids=["a1"])
    assert outcome is CommitOutcome.TASK_REVOKED
    assert not store.approval_consumed("a1") and usage_rows(store) == []


def test_revocations_lists_a_hundred_by_default(store: SqliteStore) -> None:
    for n in range(101):
        store.revoke_task(f"t{n:03}", reason="r", by="b")
    listed = store.revocations()
    assert len(listed) == 100 and listed[0].task_id == "t100" and listed[-1].task_id == "t001"


def test_the_change_counter_counts_one_per_bump_across_openings(tmp_path: Path) -> None:
    first, second = ChangeCounter(tmp_path / "c"), ChangeCounter(tmp_path / "c")
    try:
        assert (first.value(), second.value()) == (0, 0)
        first.bump()
        second.bump()
        assert (first.value(), second.value()) == (2, 2)
    finally:
        first.close()
        second.close()


class FailingRollback:
    """A connection left in a transaction whose ROLLBACK fails (SQLite ended it already)."""

    in_transaction = True

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str) -> None:
        self.statements.append(sql)
        raise sqlite3.OperationalError("cannot rollback - no transaction is active")


class Idle:
    in_transaction = False

    def execute(self, sql: str) -> None:
        raise AssertionError("nothing to roll back")


def test_a_rollback_that_fails_is_not_raised_again() -> None:
    conn = FailingRollback()
    _rollback(conn)  # type: ignore[arg-type]
    assert conn.statements == ["ROLLBACK"]


def test_no_rollback_outside_a_transaction() -> None:
    _rollback(Idle())  # type: ignore[arg-type]


# --- what the request path reads from memory, and when it reloads ------------------------------------


def insert_behind_the_counters_back(path: Path, task_id: str) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("INSERT INTO revoked_tasks VALUES (?, 'r', 'sqlite3 shell', 0)", (task_id,))
    finally:
        raw.close()


def test_revocations_after_the_first_reload_are_loaded_too(store: SqliteStore) -> None:
    store.revoke_task("t1", reason="r", by="b")
    assert store.task_revoked("t1")  # a reload that loaded rows: later reloads start after them
    store.revoke_task("t2", reason="r", by="b")
    assert store.task_revoked("t2") and store.task_revoked("t1")


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_a_signal_the_sets_are_reloaded_once_a_second_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Monotonic()
    monkeypatch.setattr(sqlite_module.time, "monotonic", clock)
    store = SqliteStore(tmp_path / "state.db")
    try:
        assert not store.task_revoked("t1")  # loaded at 1000.0: next reload due at 1001.0
        insert_behind_the_counters_back(store.path, "t1")
        clock.now = 1000.999
        assert not store.task_revoked("t1")
        clock.now = 1001.0
        assert store.task_revoked("t1")
    finally:
        store.close()


# --- connections, the change counter, closing ---------------------------------------------------------


def test_each_thread_keeps_its_connection_and_the_opening_thread_its_first(store: SqliteStore) -> None:
    first = store._conns[threading.current_thread()]
    assert store._conn() is first and store._conn() is first
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(store._conn() is store._conn() is not first))
    thread.start()
    thread.join()
    assert seen == [True] and len(store._conns) == 2


def test_connections_of_ended_threads_are_closed_when_a_new_thread_connects(store: SqliteStore) -> None:
    ended: list[sqlite3.Connection] = []
    first = threading.Thread(target=lambda: ended.append(store._conn()))
    first.start()
    first.join()  # its thread has ended; its connection is still held
    assert len(store._conns) == 2
    second = threading.Thread(target=store._conn)
    second.start()
    second.join()
    assert len(store._conns) == 2 and first not in store._conns  # replaced, not accumulated
    with pytest.raises(sqlite3.ProgrammingError):
        ended[0].execute("SELECT 1")  # closed


def test_the_change_counter_file_is_private_to_its_owner(store: SqliteStore) -> None:
    assert store._changes.path == Path(f"{store.path}-changes")
    assert stat.S_IMODE(os.stat(store._changes.path).st_mode) == 0o600


def test_closing_the_store_closes_its_change_counter(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "state.db")
    counter = s._changes
    s.close()
    assert counter._map.closed


def test_a_change_counter_file_that_cannot_be_mapped_is_refused_at_open(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "state.db-changes")  # opens, but cannot be sized or mapped
    with pytest.raises(StoreError, match="cannot open state store"):
        SqliteStore(tmp_path / "state.db")


# --- opening a new file while other processes do (SQLite's busy handler does not wait then) -------


class FlakySchema:
    """Fails the first ``times`` schema set-ups with ``error``, then sets up the schema."""

    def __init__(self, error: str, times: int) -> None:
        self.error, self.times, self.calls = error, times, 0
        self.real = SqliteStore._init_schema

    def __call__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise sqlite3.OperationalError(self.error)
        self.real(store, conn)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    naps: list[float] = []
    monkeypatch.setattr(sqlite_module.time, "sleep", naps.append)
    return naps


@pytest.mark.parametrize("error", ["database is locked", "database table is busy"])
def test_a_locked_or_busy_new_file_is_tried_again_with_growing_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slept: list[float], error: str
) -> None:
    flaky = FlakySchema(error, times=22)
    monkeypatch.setattr(SqliteStore, "_init_schema", lambda store, conn: flaky(store, conn))
    SqliteStore(tmp_path / "state.db").close()
    assert slept == pytest.approx([0.01 * n for n in range(1, 21)] + [0.2, 0.2])  # at most 0.2 s a pause


def test_other_errors_at_open_are_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    flaky = FlakySchema("disk I/O error", times=1)
    monkeypatch.setattr(SqliteStore, "_init_schema", lambda store, conn: flaky(store, conn))
    with pytest.raises(StoreError, match="disk I/O error"):
        SqliteStore(tmp_path / "state.db")
    assert slept == []


def test_a_file_locked_past_the_busy_timeout_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    clock = Monotonic()
    monkeypatch.setattr(sqlite_module.time, "monotonic", clock)
    flaky = FlakySchema("database is locked", times=10**6)
    monkeypatch.setattr(SqliteStore, "_init_schema", lambda store, conn: flaky(store, conn))
    monkeypatch.setattr(
        sqlite_module.time, "sleep", lambda s: (slept.append(s), setattr(clock, "now", clock.now + 1))
    )
    with pytest.raises(StoreError, match="locked"):
        SqliteStore(tmp_path / "state.db")  # the default busy timeout: 5 seconds
    assert len(slept) == 6  # failed at 1000 … 1005 and tried again; at 1006, past 1000 + 5, refused


def test_connections_wait_for_a_lock_as_long_as_the_busy_timeout(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "state.db", busy_timeout=0.25)
    try:
        waits: list[int] = []
        thread = threading.Thread(
            target=lambda: waits.append(s._conn().execute("PRAGMA busy_timeout").fetchone()[0])
        )
        thread.start()
        thread.join()
        assert waits == [250] and s._conn().execute("PRAGMA busy_timeout").fetchone()[0] == 250
    finally:
        s.close()
