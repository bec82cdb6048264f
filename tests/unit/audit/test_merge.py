"""``audit merge`` (``authz/audit/merge.py``): several processes' logs as one stream, by time."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz.audit import AuditLog
from authz.audit.merge import merged

from .logs import lines


def log_at(path: Path, times: list[str]) -> None:
    log = AuditLog(path)
    for t in times:
        log.append({"time": t, "decision_id": f"{path.stem}-{t}"}, durable=False)
    log.close()


def test_records_are_interleaved_by_time_each_log_keeping_its_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    log_at(a, ["2026-12-02T10:00:01", "2026-12-02T10:00:03", "2026-12-02T10:00:03"])
    log_at(b, ["2026-12-02T10:00:02", "2026-12-02T10:00:03"])
    out = list(merged([a, b]))
    assert [(r["log"], r["seq"]) for r in out] == [
        (str(a), 1),
        (str(b), 1),
        (str(a), 2),
        (str(a), 3),
        (str(b), 2),
    ]
    assert all("hash" in r and "prev" in r for r in out)  # whole records, their chains intact


def test_a_broken_log_is_refused_not_merged(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    log_at(a, ["2026-12-02T10:00:01"])
    log_at(b, ["2026-12-02T10:00:02", "2026-12-02T10:00:03"])
    b.write_text(lines(b)[1])  # its first record deleted
    with pytest.raises(ValueError, match="b.jsonl: broken at record 1"):
        list(merged([a, b]))
