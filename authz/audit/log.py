"""The audit log: append-only JSON Lines, each record hash-chained to the last (``chain.py``).

Records are written with one ``write`` each; ``durable=True`` also waits for ``fsync`` — with
group commit: one ``fsync`` covers every record written before it. A restart continues the
chain; a log that ends in a partial record is refused at open.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from authz.audit.chain import GENESIS, seal
from authz.errors import AuditError


class AuditOpenError(AuditError):
    """The audit log cannot be opened or continued (start-up problem)."""


class AuditUnavailable(AuditError):
    """A record could not be written; the log stays unavailable until restart."""


class AuditLog:
    def __init__(
        self, path: Path, *, fsync: bool = True, on_failure: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self._fsync = fsync
        self._on_failure = on_failure
        self._seq, self._prev = _chain_head(path)
        self._chain = _chain_id(path) if self._seq else None  # the first record's hash
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditOpenError(f"cannot open audit log {path}: {exc.strerror}") from None
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._synced_seq = self._seq
        self._failed = False

    @property
    def healthy(self) -> bool:
        return not self._failed

    def append(self, record: dict[str, Any], *, durable: bool) -> None:
        with self._lock:
            if self._failed:
                raise AuditUnavailable("audit log failed earlier")
            seq = self._seq + 1
            line, digest = seal(record, seq, self._prev)
            try:
                if os.write(self._fd, line + b"\n") != len(line) + 1:
                    raise OSError("short write")
            except OSError as exc:
                self._fail()
                raise AuditUnavailable(str(exc)) from None
            self._seq, self._prev = seq, digest
            if seq == 1:
                self._chain = digest
        if durable and self._fsync:
            self._sync_through(seq)

    def head(self) -> tuple[str, int, str] | None:
        """(chain id, seq, hash) of the last record written; None before the first."""
        with self._lock:
            return None if self._chain is None else (self._chain, self._seq, self._prev)

    def _sync_through(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced_seq >= seq:
                return  # another caller's fsync already covered this record
            written = self._seq
            try:
                os.fsync(self._fd)
            except OSError as exc:
                with self._lock:
                    self._fail()
                raise AuditUnavailable(str(exc)) from None
            self._synced_seq = written

    def _fail(self) -> None:
        self._failed = True
        if self._on_failure is not None:
            self._on_failure()

    def close(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = -1
            self._failed = True  # nothing more may be appended


def _chain_head(path: Path) -> tuple[int, str]:
    """seq and hash of the last record of an existing log, so a restart continues its chain."""
    if not path.is_file() or path.stat().st_size == 0:
        return 0, GENESIS
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 65536))
        tail = f.read()
    if not tail.endswith(b"\n"):
        raise AuditOpenError(f"audit log {path} ends in a partial record; run 'agent-authz audit verify'")
    try:
        last = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])
        return int(last["seq"]), str(last["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditOpenError(
            f"audit log {path} ends in a broken record; run 'agent-authz audit verify'"
        ) from None


def _chain_id(path: Path) -> str:
    """The hash of a log's first record: the chain's name in the store's anchors."""
    with path.open("rb") as f:
        first = f.readline()
    try:
        return str(json.loads(first)["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditOpenError(
            f"audit log {path} starts with a broken record; run 'agent-authz audit verify'"
        ) from None
