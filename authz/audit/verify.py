"""``verify``: walk a log's chain and name the first record edited, deleted, reordered, inserted
or truncated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authz.audit.chain import GENESIS, seal


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


def record_at(path: Path, seq: int) -> dict[str, Any] | None:
    """The record on line ``seq`` (as JSON), or None if the log is shorter or it is not JSON."""
    for number, raw in _lines(path):
        if number == seq:
            try:
                found = json.loads(raw)
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        yield from enumerate(f, start=1)
