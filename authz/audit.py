"""Tamper-evident audit log: append-only JSON Lines, each record hash-chained to the last.

Every record carries ``seq`` (1, 2, …), ``prev`` (the previous record's ``hash``) and ``hash``
(SHA-256 of the record's canonical JSON without ``hash``, appended as the last key). Editing,
deleting, reordering or truncating records breaks the chain, and ``verify`` names the first
broken record. Canonical JSON: sorted keys, no spaces, UTF-8. Records are written with one
``write`` each; ``durable=True`` also waits for ``fsync`` — with group commit:
one ``fsync`` covers every record written before it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from authz.errors import AuditError

GENESIS = "0" * 64


class AuditOpenError(AuditError):
    """The audit log cannot be opened or continued (start-up problem)."""


class AuditUnavailable(AuditError):
    """A record could not be written; the log stays unavailable until restart."""


def canonical(record: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8 (orjson: one record is serialised per request)."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate: still one answer per record, so verify agrees
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(record: dict[str, Any], seq: int, prev: str) -> tuple[bytes, str]:
    """The record's line (without newline) with seq, prev and, last, its own hash; and that hash.

    The hash covers the canonical JSON of everything else, so the line is serialised once.
    """
    body = {**record, "seq": seq, "prev": prev}
    body.pop("hash", None)
    unsealed = canonical(body)
    digest = hashlib.sha256(unsealed).hexdigest()
    return unsealed[:-1] + b',"hash":"' + digest.encode() + b'"}', digest


class AuditLog:
    def __init__(
        self, path: Path, *, fsync: bool = True, on_failure: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self._fsync = fsync
        self._on_failure = on_failure
        self._seq, self._prev = _chain_head(path)
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
        if durable and self._fsync:
            self._sync_through(seq)

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


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head: str
    problem: str = ""
    line: int = 0


def verify(path: Path) -> VerifyResult:
    """Walk the chain; stop at the first record that is broken, missing or out of place."""
    prev, count = GENESIS, 0
    for number, raw in _lines(path):
        problem = _check_record(raw, count + 1, prev)
        if isinstance(problem, str):
            return VerifyResult(False, count, prev, f"record {number}: {problem}", number)
        prev, count = problem[0], count + 1
    return VerifyResult(True, count, prev)


def _check_record(raw: bytes, expected_seq: int, prev: str) -> str | tuple[str]:
    """The record's hash (as a 1-tuple) if it is sound here, else what is wrong with it."""
    if not raw.endswith(b"\n"):
        return "truncated (no end of line)"
    try:
        record = json.loads(raw)
        seq, claimed_prev, claimed_hash = record["seq"], record["prev"], record["hash"]
    except (ValueError, KeyError, TypeError):
        return "not a complete audit record (truncated or edited)"
    if seal(record, seq, claimed_prev) != (raw.rstrip(b"\n"), claimed_hash):
        return "contents do not match its hash (edited)"
    if seq != expected_seq:
        what = "missing record(s) before it (deleted)" if seq > expected_seq else "out of order"
        return f"has seq {seq}, expected {expected_seq}: {what}"
    if claimed_prev != prev:
        return "does not chain to the record before it (edited, deleted or reordered)"
    return (str(claimed_hash),)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        yield from enumerate(f, start=1)
