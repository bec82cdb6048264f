"""``verify`` (``authz/audit/verify.py``): a sound chain verifies, and the first record edited,
deleted, reordered, inserted or truncated is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authz.audit import GENESIS, verify

from .logs import lines, write_log


def test_records_chain_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    records = [json.loads(line) for line in lines(path)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in zip(records, records[1:], strict=False))
    result = verify(path)
    assert result.ok and result.records == 5 and result.head == records[-1]["hash"]


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        (lambda ls: ls[:2] + [ls[2].replace('"d2"', '"dX"')] + ls[3:], 3),  # edited
        (lambda ls: ls[:1] + ls[2:], 2),  # deleted
        (lambda ls: [ls[0], ls[2], ls[1]] + ls[3:], 2),  # reordered
        (lambda ls: ls[:4] + [ls[4][:40]], 5),  # truncated mid-record
        (lambda ls: ls[:4] + [ls[4].rstrip("\n")], 5),  # truncated end of line
        (lambda ls: ls[:3] + ["garbage\n"] + ls[3:], 4),  # inserted
    ],
    ids=["edited", "deleted", "reordered", "truncated", "no-newline", "inserted"],
)
def test_verify_names_the_first_broken_record(tmp_path: Path, tamper: object, broken_at: int) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    path.write_text("".join(tamper(lines(path))))  # type: ignore[operator]
    result = verify(path)
    assert not result.ok
    assert result.line == broken_at
    assert result.problem.startswith(f"record {broken_at}:")


def test_edit_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    from authz.audit import seal

    path = tmp_path / "audit.jsonl"
    write_log(path)
    ls = lines(path)
    record = json.loads(ls[1])
    record["decision"] = "allow" if record["decision"] == "deny" else "deny"
    forged, _ = seal(record, record["seq"], record["prev"])
    ls[1] = forged.decode() + "\n"
    path.write_text("".join(ls))
    result = verify(path)
    assert not result.ok and result.line == 3
