"""SQLite state store: one file in WAL mode, shared by the threads and processes of one host.

Each thread gets its own connection (readers then never wait for a writer or for each other);
connections are in autocommit mode, so every read sees everything committed before it, in any
process. ``commit_allow`` takes the write lock up front (``BEGIN IMMEDIATE``), which makes its
check-then-write atomic across processes; within a process, writers queue on a thread lock
first (SQLite's busy handler would put a losing thread to sleep for milliseconds).

The two checks made on every request (is this task revoked, is this agent suspended) are
answered from memory, yet current. Every write of either table bumps a change counter in a
small file beside the database (``<db>-changes``, mapped into memory by every process); a
reader that sees the counter move reloads before it answers, so a revocation by any process or
by the CLI is seen by every process on its next request, with no database round trip (and no
GIL hand-off) per request. The sets are also reloaded every ``refresh_interval`` seconds
whatever the counter says: that bounds staleness if a writer dies between its commit and its
bump, and finds a broken database file.

Every ``sqlite3.Error`` after start-up is re-raised as ``StoreUnavailable``; start-up problems
are ``StoreError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import mmap
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from authz.store import AuditAnchor, CommitOutcome, Revocation, StoreOpenError, StoreUnavailable
from authz.store.sqlite_schema import SCHEMA, SCHEMA_VERSION


class ChangeCounter:
    """A 64-bit counter in a file mapped by every process: reading it costs no system call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                with _locked(fd):
                    if os.fstat(fd).st_size < 8:
                        os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def value(self) -> int:
        return int(struct.unpack_from("<Q", self._map)[0])

    def bump(self) -> None:
        with _locked(self._fd):  # serialises increments across processes: none is lost
            struct.pack_into("<Q", self._map, 0, self.value() + 1)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = 5.0,
        refresh_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()  # guards _conns and _closed
        self._write_lock = threading.Lock()  # one writer per process at a time
        self._conns: dict[threading.Thread, sqlite3.Connection] = {}
        self._closed = False
        conn = self._open(path)
        self._local.conn = conn
        self._conns[threading.current_thread()] = conn
        try:
            self._changes = ChangeCounter(Path(f"{path}-changes"))
        except OSError as exc:
            self.close()
            raise StoreOpenError(f"cannot open state store {path}: {exc}") from None
        # What every request asks, from memory (see the module docstring).
        self._reload_lock = threading.Lock()
        self._revoked: set[str] = set()
        self._revoked_rowid = 0  # revocations are only ever added: reload the new rows only
        self._suspended: frozenset[str] = frozenset()
        self._seen_change = -1
        self._next_reload = 0.0

    def _open(self, path: Path) -> sqlite3.Connection:
        """Connect and make sure of WAL mode and the schema. Processes starting together on a
        new file can find it locked in ways SQLite's busy handler does not wait for (switching
        to WAL): those attempts are retried until ``busy_timeout``."""
        deadline = time.monotonic() + self._busy_timeout
        for attempt in itertools.count(1):
            try:
                conn = self._connect(create=True)
            except sqlite3.Error as exc:
                raise StoreOpenError(f"cannot open state store {path}: {exc}") from None
            try:
                self._init_schema(conn)
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise StoreOpenError(f"cannot open state store {path}: {exc}") from None
                time.sleep(min(0.01 * attempt, 0.2))  # start-up only, never on the request path
            except sqlite3.Error as exc:
                conn.close()
                raise StoreOpenError(f"cannot open state store {path}: {exc}") from None
            except StoreOpenError:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        # Only the constructor may create the file: a thread connecting after the file was
        # deleted must fail, not start an empty store. check_same_thread=False only so that
        # close() may close every thread's connection.
        uri = f"{self.path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
        conn = sqlite3.connect(
            uri, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False, uri=True
        )
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != "wal":
            raise StoreOpenError(f"state store {self.path}: cannot use WAL mode (got {mode!r})")
        conn.execute("BEGIN IMMEDIATE")  # two processes starting together create the schema once
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreOpenError(
                    f"state store {self.path} has schema version {version}; "
                    f"this agent-authz knows up to {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            with self._lock:
                if self._closed:
                    conn.close()
                    raise StoreUnavailable(f"state store {self.path} is closed")
                for thread in [t for t in self._conns if not t.is_alive()]:
                    self._conns.pop(thread).close()  # connections of threads that have ended
                self._conns[threading.current_thread()] = conn
            self._local.conn = conn
        return conn

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"state store {self.path}: {exc}") from None

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        try:
            with self._write_lock:
                return self._conn().execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"state store {self.path}: {exc}") from None

    def _current(self) -> None:
        """Reload the revoked and suspended sets if another writer changed them, or if it is time."""
        if self._closed:
            raise StoreUnavailable(f"state store {self.path} is closed")
        if self._changes.value() == self._seen_change and time.monotonic() < self._next_reload:
            return
        with self._reload_lock:
            change, now = self._changes.value(), time.monotonic()
            if change == self._seen_change and now < self._next_reload:
                return  # another thread has just reloaded
            rows = self._rows(
                "SELECT rowid, task_id FROM revoked_tasks WHERE rowid > ? ORDER BY rowid",
                (self._revoked_rowid,),
            )
            suspended = self._rows("SELECT spiffe_id FROM suspended_agents", ())
            self._revoked.update(task_id for _, task_id in rows)
            if rows:
                self._revoked_rowid = rows[-1][0]
            self._suspended = frozenset(row[0] for row in suspended)
            self._seen_change, self._next_reload = change, now + self._refresh_interval

    def _changed(self) -> None:
        """After a committed write to revoked_tasks or suspended_agents: tell every process."""
        try:
            self._changes.bump()
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"state store {self.path}: cannot signal a change: {exc}") from None

    def task_revoked(self, task_id: str) -> bool:
        self._current()
        return task_id in self._revoked

    def revoke_task(self, task_id: str, *, reason: str, by: str) -> bool:
        sql = "INSERT INTO revoked_tasks VALUES (?,?,?,?) ON CONFLICT DO NOTHING"
        added = self._write(sql, (task_id, reason, by, self._clock())) == 1
        self._changed()
        return added

    def revocations(self, limit: int = 100) -> list[Revocation]:
        sql = "SELECT task_id, reason, by, at FROM revoked_tasks ORDER BY at DESC, rowid DESC LIMIT ?"
        return [Revocation(*row) for row in self._rows(sql, (limit,))]

    def agent_suspended(self, spiffe_id: str) -> bool:
        self._current()
        return spiffe_id in self._suspended

    def set_agent_suspended(self, spiffe_id: str, suspended: bool, *, by: str) -> None:
        if suspended:  # an agent already suspended keeps its first who/when
            sql = "INSERT INTO suspended_agents VALUES (?,?,?) ON CONFLICT DO NOTHING"
            self._write(sql, (spiffe_id, by, self._clock()))
        else:
            self._write("DELETE FROM suspended_agents WHERE spiffe_id=?", (spiffe_id,))
        self._changed()

    def suspended_agents(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT spiffe_id FROM suspended_agents ORDER BY 1", ())]

    def task_calls(self, task_id: str) -> int:
        rows = self._rows("SELECT calls FROM task_usage WHERE task_id=?", (task_id,))
        return int(rows[0][0]) if rows else 0

    def approval_consumed(self, approval_id: str, task_id: str | None = None) -> bool:
        sql = "SELECT 1 FROM consumed_approvals WHERE approval_id=?"
        return bool(self._rows(sql, (approval_id,)))

    def staleness(self) -> float | None:
        return None  # a local file: always current, or an error

    def commit_allow(
        self,
        *,
        task_id: str | None,
        max_calls: int | None,
        approval_ids: Sequence[str] = (),
        keep_until: float | None = None,  # kept for ever: ids are unique, the file is local
        approvals_until: float | None = None,
    ) -> CommitOutcome:
        if max_calls is None and not approval_ids:  # nothing to spend: no write transaction
            revoked = task_id is not None and self.task_revoked(task_id)
            return CommitOutcome.TASK_REVOKED if revoked else CommitOutcome.ALLOWED
        try:
            conn = self._conn()
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    outcome = self._check_and_spend(conn, task_id, max_calls, approval_ids)
                    conn.execute("COMMIT" if outcome is CommitOutcome.ALLOWED else "ROLLBACK")
                except BaseException:
                    _rollback(conn)  # never leave this thread's connection inside a transaction
                    raise
            return outcome
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"state store {self.path}: {exc}") from None

    def _check_and_spend(
        self,
        conn: sqlite3.Connection,
        task_id: str | None,
        max_calls: int | None,
        approval_ids: Sequence[str],
    ) -> CommitOutcome:
        if task_id is not None:
            if conn.execute("SELECT 1 FROM revoked_tasks WHERE task_id=?", (task_id,)).fetchone():
                return CommitOutcome.TASK_REVOKED
        if max_calls is not None:
            row = conn.execute("SELECT calls FROM task_usage WHERE task_id=?", (task_id,)).fetchone()
            if (0 if row is None else row[0]) >= max_calls:
                return CommitOutcome.BUDGET_EXHAUSTED
        if len(set(approval_ids)) != len(approval_ids):
            return CommitOutcome.APPROVAL_REPLAYED  # one approval presented twice in one request
        for approval_id in approval_ids:
            sql = "SELECT 1 FROM consumed_approvals WHERE approval_id=?"
            if conn.execute(sql, (approval_id,)).fetchone():
                return CommitOutcome.APPROVAL_REPLAYED
        if task_id is not None and max_calls is not None:
            conn.execute(
                "INSERT INTO task_usage VALUES (?,1) ON CONFLICT DO UPDATE SET calls=calls+1", (task_id,)
            )
        now = self._clock()
        conn.executemany(
            "INSERT INTO consumed_approvals VALUES (?,?,?)", [(a, task_id, now) for a in approval_ids]
        )
        return CommitOutcome.ALLOWED

    def anchor_audit(self, anchor: AuditAnchor) -> None:
        self._write(
            "INSERT INTO audit_anchors VALUES (?,?,?,?) ON CONFLICT (chain) DO UPDATE SET"
            " seq=excluded.seq, hash=excluded.hash, at=excluded.at WHERE excluded.seq > audit_anchors.seq",
            (anchor.chain, anchor.seq, anchor.hash, anchor.at),
        )

    def audit_anchors(self) -> list[AuditAnchor]:
        rows = self._rows("SELECT chain, seq, hash, at FROM audit_anchors ORDER BY chain", ())
        return [AuditAnchor(*row) for row in rows]

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every thread's connection; later calls raise StoreUnavailable."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns, self._conns = self._conns, {}
        for conn in conns.values():
            conn.close()
        changes = getattr(self, "_changes", None)
        if changes is not None:
            changes.close()


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends some on error by itself)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
