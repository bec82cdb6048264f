"""SQLite state store (``authz/store/sqlite.py``): what only SQLite does (what every store does:
``tests/contract/``), the atomic commit_allow, and
start-up errors and failures at request time (threads and processes sharing the file:
``test_sqlite_concurrency.py``; the commit's exact effects: ``test_sqlite_commit.py``)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from authz.store import CommitOutcome, Revocation, StoreError, StoreUnavailable
from authz.store.sqlite import SCHEMA_VERSION, SqliteStore

from .sqlite_store import AGENT, ALLOWED, BIG

OTHER = "spiffe://agents.example.org/agent/other-bot"


# --- revocation and suspension -------------------------------------------------------------------


def test_revoke_task_is_idempotent_and_keeps_the_first(store: SqliteStore) -> None:
    assert not store.task_revoked("t1")
    assert store.revoke_task("t1", reason="intent changed", by="pipeline") is True
    assert store.revoke_task("t1", reason="again", by="alice") is False
    assert store.task_revoked("t1") and not store.task_revoked("t2")
    assert store.revocations() == [Revocation("t1", "intent changed", "pipeline", 1_700_000_001.0)]


def test_revocations_at_the_same_second_newest_first(path: Path) -> None:
    s = SqliteStore(path, clock=lambda: 5.0)
    try:
        for task in ["a", "b", "c"]:
            s.revoke_task(task, reason="r", by="b")
        assert [r.task_id for r in s.revocations()] == ["c", "b", "a"]
    finally:
        s.close()


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


def test_a_failure_inside_commit_leaves_no_transaction_open(store: SqliteStore) -> None:
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate cannot be stored; the caller denies
        store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["\ud800"])
    assert store.commit_allow(task_id="t1", max_calls=BIG, approval_ids=["a1"]) is ALLOWED
    assert store.task_calls("t1") == 1


def test_a_change_counter_that_cannot_be_opened_is_refused_at_open(path: Path) -> None:
    Path(f"{path}-changes").mkdir()  # e.g. a stray directory where the counter file belongs
    with pytest.raises(StoreError, match="-changes"):
        SqliteStore(path)


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
