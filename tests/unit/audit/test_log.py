"""The hash-chained audit log (``authz/audit/log.py``): append, continue after restart, keep the
file private, refuse a partial record, and fail closed when it cannot be written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from authz.audit import AuditLog, AuditUnavailable, verify
from authz.errors import AuditError

from .logs import lines, write_log


def test_restart_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 2)
    write_log(path, 2)
    assert verify(path).ok
    assert verify(path).records == 4


def test_log_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 1)
    assert path.stat().st_mode & 0o077 == 0


def test_partial_last_record_refuses_to_continue(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 2)
    path.write_text(path.read_text()[:-10])
    with pytest.raises(AuditError, match="partial record"):
        AuditLog(path)


def test_unwritable_log_raises_and_reports_once(tmp_path: Path) -> None:
    failures: list[int] = []
    log = AuditLog(Path("/dev/full"), on_failure=lambda: failures.append(1))
    with pytest.raises(AuditUnavailable):
        log.append({"decision_id": "d"}, durable=False)
    with pytest.raises(AuditUnavailable):
        log.append({"decision_id": "e"}, durable=True)
    assert not log.healthy
    assert failures == [1]


def test_durable_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append({"decision_id": "read"}, durable=False)
    assert synced == []
    log.append({"decision_id": "write"}, durable=True)
    assert len(synced) == 1
    log.close()


@pytest.mark.parametrize("value", ["Ålice ☃", "lone \ud800 surrogate", 'quote " and \\ back'])
def test_any_string_is_recorded_and_verifies(tmp_path: Path, value: str) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append({"target": value, "path": f"/v1/users/{value}"}, durable=False)
    log.append({"target": "after"}, durable=False)
    log.close()
    assert verify(path).ok
    assert json.loads(lines(path)[0])["target"] == value
    edited = path.read_bytes().replace(b"after", b"afteR")
    path.write_bytes(edited)
    assert not verify(path).ok
