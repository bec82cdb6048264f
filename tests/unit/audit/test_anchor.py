"""Audit anchors (``authz/audit/anchor.py``): the chain's head kept in the state store, and
what it shows of a log that verifies on its own — records cut off its tail, or its tail
rewritten as a new, self-consistent chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from authz.audit import AuditLog, seal, verify
from authz.audit.anchor import Anchorer, check_anchor
from authz.store import AuditAnchor, StoreUnavailable
from authz.store.sqlite import SqliteStore

from .logs import lines, write_log


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def anchored_log(path: Path, store: SqliteStore, n: int = 5) -> None:
    write_log(path, n)
    log = AuditLog(path)  # as a restarted process: the chain continues, its head is anchored
    Anchorer(log, store).anchor()
    log.close()


def problem(path: Path, store: SqliteStore) -> str:
    walked = verify(path)
    assert walked.ok  # each case verifies on its own: only the anchor can tell
    return check_anchor(path, walked, store.audit_anchors())


def test_the_head_is_anchored_under_the_chain_of_its_first_record(tmp_path: Path, store: SqliteStore) -> None:
    path = tmp_path / "audit.jsonl"
    anchored_log(path, store)
    first, last = (json.loads(lines(path)[i]) for i in (0, -1))
    (anchor,) = store.audit_anchors()
    assert (anchor.chain, anchor.seq, anchor.hash) == (first["hash"], 5, last["hash"])
    assert problem(path, store) == ""


def test_records_cut_off_the_tail_are_found(tmp_path: Path, store: SqliteStore) -> None:
    path = tmp_path / "audit.jsonl"
    anchored_log(path, store)
    path.write_text("".join(lines(path)[:3]))
    assert (
        problem(path, store) == "cut off at the tail: the store anchored record 5, the log ends at record 3"
    )


def test_a_rewritten_tail_is_found(tmp_path: Path, store: SqliteStore) -> None:
    path = tmp_path / "audit.jsonl"
    anchored_log(path, store)
    kept = lines(path)[:3]
    prev = json.loads(kept[-1])["hash"]
    for seq in (4, 5):  # two new records, properly chained: the chain alone is intact
        line, prev = seal({"decision_id": f"forged{seq}", "decision": "allow"}, seq, prev)
        kept.append(line.decode() + "\n")
    path.write_text("".join(kept))
    assert problem(path, store) == "record 5 is not the one anchored (rewritten)"


def test_a_log_the_store_never_anchored_is_named(tmp_path: Path, store: SqliteStore) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    assert problem(path, store) == "no anchor for this chain in the store"
    path.write_text("")
    assert problem(path, store) == ""  # nothing to anchor, nothing anchored
    store.anchor_audit(AuditAnchor("some-chain", 1, "h", 0.0))
    assert problem(path, store) == "the log is empty"


def test_a_longer_log_than_its_anchor_is_intact(tmp_path: Path, store: SqliteStore) -> None:
    path = tmp_path / "audit.jsonl"
    anchored_log(path, store)
    log = AuditLog(path)
    log.append({"decision_id": "after"}, durable=False)  # written after the last anchor
    log.close()
    assert problem(path, store) == ""


def test_the_thread_anchors_on_stop_and_survives_a_store_that_fails(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log, store = AuditLog(path), SqliteStore(tmp_path / "state.db")
    anchorer = Anchorer(log, store, interval=3600).start()  # only the final anchor at stop
    assert anchorer.anchor() is True  # nothing written yet: nothing to anchor
    log.append({"decision_id": "d1"}, durable=False)
    anchorer.stop()
    assert [a.seq for a in store.audit_anchors()] == [1]
    log.append({"decision_id": "d2"}, durable=False)
    store.close()
    assert anchorer.anchor() is False  # the store is gone: logged, tried again next time
    log.close()
    with pytest.raises(StoreUnavailable):
        store.audit_anchors()
