"""Stage 10: an allow of a state-changing operation is on disk before it is returned."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from factories import make_world

from authz.audit import AuditLog
from authz.metrics import Metrics
from authz.model import Caller, Decision
from authz.stages.operation import OperationStage
from authz.stages.record import RecordStage
from authz.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("method", "path", "allowed", "fsyncs"),
    [
        ("POST", "/v1/users/alice/password/reset", True, 1),
        ("POST", "/v1/users/alice/password/reset", False, 0),
        ("GET", "/v1/users/alice", True, 0),
    ],
    ids=["state-changing-allow", "state-changing-deny", "read-allow"],
)
def test_durability_follows_the_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, path: str, allowed: bool, fsyncs: int
) -> None:
    world = make_world(tmp_path)
    config = world.config()
    decision = Decision("d1", world.request(method, path))
    decision.caller = Caller(config.agents[next(iter(config.agents))], "x")
    decision.operation = OperationStage(config.routes, 65536).resolve(method, path, {}, b"")
    if allowed:
        decision.allow()
    else:
        decision.deny(decision.reason, "no")
    audit = AuditLog(tmp_path / "audit.jsonl")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store = SqliteStore(tmp_path / "state.db")
    RecordStage(audit, store, Metrics()).record(decision, dt.datetime.now(dt.UTC), 0.001)
    store.close()
    assert len(synced) == fsyncs
    assert (tmp_path / "audit.jsonl").read_text().count("\n") == 1
