"""Audit anchors end to end: a running server anchors its chain's head in the state store, and
``agent-authz audit verify --anchors CONFIG`` finds records cut off the log's tail — the gap a
hash chain alone cannot show. ``agent-authz audit merge`` reads two processes' logs as one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from factories import make_world
from test_server import Running

from authz.audit import verify


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "authz", "audit", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_records_cut_off_after_the_server_stopped_are_found(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    running = Running(world)
    for _ in range(4):
        running.check(world.request(task=world.token(world.bot)))
    running.close()  # stopping anchors the final head
    audit, config = world.root / "audit.jsonl", str(world.config_path)
    intact = cli("verify", str(audit), "--anchors", config)
    assert intact.returncode == 0 and "intact up to its anchor, 4 records" in intact.stdout
    audit.write_text("".join(audit.read_text().splitlines(keepends=True)[:2]))  # the last two cut off
    assert verify(audit).ok  # the chain alone does not notice
    assert cli("verify", str(audit)).returncode == 0
    cut = cli("verify", str(audit), "--anchors", config)
    assert cut.returncode == 1
    assert "cut off at the tail: the store anchored record 4, the log ends at record 2" in cut.stderr


def test_merge_interleaves_two_processes_logs(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    first, second = Running(world), Running(world, audit_path=world.root / "audit2.jsonl")
    for running in (first, second, first):
        running.check(world.request(task=world.token(world.bot)))
    first.close()
    second.close()
    out = cli("merge", str(world.root / "audit.jsonl"), str(world.root / "audit2.jsonl"))
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["log"]).name for r in records] == ["audit.jsonl", "audit2.jsonl", "audit.jsonl"]
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)
