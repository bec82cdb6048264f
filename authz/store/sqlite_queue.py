"""The approval queue in the state store's SQLite file (tables created with the store's schema)."""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any

from authz.store import StoreUnavailable
from authz.store.queue import ApprovalRequest, NewRequest, QueueError, RequestStatus
from authz.store.sqlite import SqliteStore

_COLUMNS = (
    "agent, owner, task_id, on_behalf_of, intent, justification, prompt_ref, operation, op_class,"
    " principal, method, path, body, req, approvers_needed, expires"
)
_SELECT = f"SELECT request_id, {_COLUMNS}, created, status, decided_by, reason FROM approval_requests"


class SqliteQueue:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def file(self, new: NewRequest, *, now: float, per_agent: int, window: float) -> tuple[str, bool] | None:
        existing = self._open_request(new, now)
        if existing is not None and existing[1] >= new.approvers_needed:
            return existing[0], False  # the same request again: no write
        with self._transaction() as conn:
            existing = self._open_request(new, now, conn)
            if existing is not None:  # the policy now asks more approvers of it
                conn.execute(
                    "UPDATE approval_requests SET approvers_needed=max(approvers_needed, ?)"
                    " WHERE request_id=?",
                    (new.approvers_needed, existing[0]),
                )
                return existing[0], False
            sql = "SELECT count(*) FROM approval_requests WHERE agent=? AND created>?"
            (recent,) = conn.execute(sql, (new.agent, now - window)).fetchone()
            if recent >= per_agent:
                return None
            request_id = f"apr-{secrets.token_hex(8)}"
            values = (
                request_id, new.agent, new.owner, new.task_id, new.on_behalf_of, new.intent,
                new.justification, new.prompt_ref, new.operation, new.op_class, new.principal,
                new.method, new.path, new.body, new.req, new.approvers_needed, new.expires, now,
                RequestStatus.PENDING.value,
            )  # fmt: skip
            conn.execute(
                f"INSERT INTO approval_requests (request_id, {_COLUMNS}, created, status)"
                f" VALUES ({','.join('?' * len(values))})",
                values,
            )
            return request_id, True

    def _open_request(
        self, new: NewRequest, now: float, conn: sqlite3.Connection | None = None
    ) -> tuple[str, int] | None:
        """The pending request for the same agent, task and ``req``: (id, approvers needed)."""
        sql = (
            "SELECT request_id, approvers_needed FROM approval_requests"
            " WHERE agent=? AND task_id=? AND req=? AND status='pending' AND expires>=? LIMIT 1"
        )
        args = (new.agent, new.task_id, new.req, now)
        rows = conn.execute(sql, args).fetchall() if conn else self._store._rows(sql, args)
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def get(self, request_id: str, *, now: float) -> ApprovalRequest | None:
        rows = self._store._rows(f"{_SELECT} WHERE request_id=?", (request_id,))
        return self._request(rows[0], now) if rows else None

    def requests(
        self, *, now: float, status: RequestStatus | None = None, limit: int = 100
    ) -> list[ApprovalRequest]:
        rows = self._store._rows(f"{_SELECT} ORDER BY created DESC, rowid DESC", ())
        requests = [self._request(row, now) for row in rows]
        return [r for r in requests if status is None or r.status is status][:limit]

    def add_approval(self, request_id: str, approver: str, token: str, *, now: float) -> ApprovalRequest:
        with self._transaction() as conn:
            request = self._pending(conn, request_id, now)
            if approver in request.approvers:
                raise QueueError(f"{approver} has already approved {request_id}")
            conn.execute("INSERT INTO approval_tokens VALUES (?,?,?,?)", (request_id, approver, token, now))
            if len(request.approvers) + 1 >= request.new.approvers_needed:
                conn.execute(
                    "UPDATE approval_requests SET status='approved', decided_by=? WHERE request_id=?",
                    (",".join(sorted({*request.approvers, approver})), request_id),
                )
        updated = self.get(request_id, now=now)
        assert updated is not None
        return updated

    def deny(self, request_id: str, *, by: str, reason: str, now: float) -> ApprovalRequest:
        with self._transaction() as conn:
            self._pending(conn, request_id, now)
            conn.execute(
                "UPDATE approval_requests SET status='denied', decided_by=?, reason=? WHERE request_id=?",
                (by, reason, request_id),
            )
        updated = self.get(request_id, now=now)
        assert updated is not None
        return updated

    def _pending(self, conn: sqlite3.Connection, request_id: str, now: float) -> ApprovalRequest:
        row = conn.execute(f"{_SELECT} WHERE request_id=?", (request_id,)).fetchone()
        if row is None:
            raise QueueError(f"no approval request {request_id}")
        request = self._request(row, now, conn)
        if request.status is not RequestStatus.PENDING:
            raise QueueError(f"{request_id} is {request.status}, not pending")
        return request

    def _request(self, row: Any, now: float, conn: sqlite3.Connection | None = None) -> ApprovalRequest:
        request_id, *fields, created, status, decided_by, reason = row
        sql, args = (
            "SELECT approver, token FROM approval_tokens WHERE request_id=? ORDER BY at",
            (request_id,),
        )
        tokens = conn.execute(sql, args).fetchall() if conn else self._store._rows(sql, args)
        new = NewRequest(*fields)
        state = RequestStatus(status)
        if state is RequestStatus.PENDING and now > new.expires:
            state = RequestStatus.EXPIRED
        return ApprovalRequest(
            request_id, new, created, state, decided_by, reason, tuple((a, t) for a, t in tokens)
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._store)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT on this thread's connection, behind the store's write lock."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._write_lock.acquire()
        try:
            self._conn = self._store._conn()
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._store._write_lock.release()
            raise StoreUnavailable(f"state store {self._store.path}: {exc}") from None
        except BaseException:
            self._store._write_lock.release()
            raise
        return self._conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as error:
            if kind is None:
                raise StoreUnavailable(f"state store {self._store.path}: {error}") from None
        finally:
            self._store._write_lock.release()
        if isinstance(exc, sqlite3.Error):
            raise StoreUnavailable(f"state store {self._store.path}: {exc}") from None
