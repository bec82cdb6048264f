"""Several agent-authz processes' audit logs read as one: records interleaved by time.

Each record gains ``log`` (the file it came from); the order is by ``time``, then by file and
``seq`` (a process's own records keep their order). Each log is verified first: a broken chain
is refused rather than merged.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from authz.audit.verify import verify


def merged(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        result = verify(path)
        if not result.ok:
            raise ValueError(f"{path}: broken at {result.problem}")
    streams = [_records(i, path) for i, path in enumerate(paths)]
    for _, _, _, record in heapq.merge(*streams):
        yield record


def _records(index: int, path: Path) -> Iterator[tuple[str, int, int, dict[str, Any]]]:
    with path.open("rb") as f:
        for line in f:
            record = json.loads(line)
            yield str(record.get("time", "")), index, int(record["seq"]), {**record, "log": str(path)}
