"""Where a key is written: the line of ``name`` in the table ``prefix`` of a TOML file, for error
messages (``file:line: key: problem``). Found by reading the text — ``tomllib`` keeps no
positions — for keys written as ``name = …`` under the table's own ``[table]`` or
``[[array]]`` header; a key in an inline table or a dotted key has no line (None)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

_INDEX = re.compile(r"^(?P<name>.+?)\[(?P<i>\d+)\]$")
_HEADER = re.compile(r"^\s*\[")


@functools.lru_cache(maxsize=16)
def _lines(file: Path, mtime_ns: int) -> tuple[str, ...]:
    return tuple(file.read_text(encoding="utf-8").splitlines())


def line_of(file: Path, prefix: str, name: str) -> int | None:
    try:
        lines = _lines(file, file.stat().st_mtime_ns)
    except (OSError, UnicodeDecodeError):
        return None
    start = _section(lines, prefix)
    if start is None:
        return None
    key = re.compile(rf"""^\s*(?:{re.escape(name)}|"{re.escape(name)}"|'{re.escape(name)}')\s*=""")
    for i in range(start, len(lines)):
        if _HEADER.match(lines[i]) and (i > start or not prefix):
            break  # the next table (at the top level, the first one) ends this one
        if key.match(lines[i]):
            return i + 1
    return None


def header_line(file: Path, prefix: str) -> int | None:
    """The line of the table's ``[header]`` (a missing key is missing from there); None at the top."""
    try:
        start = _section(_lines(file, file.stat().st_mtime_ns), prefix)
    except (OSError, UnicodeDecodeError):
        return None
    return start + 1 if start is not None and prefix else None


def _section(lines: tuple[str, ...], prefix: str) -> int | None:
    """The index of the table's header line (0 for the top level), or None if not written so."""
    if not prefix:
        return 0
    indexed = _INDEX.match(prefix)
    if indexed:  # the i-th [[name]]
        header = re.compile(rf"^\s*\[\[\s*{re.escape(indexed['name'])}\s*\]\]")
        found = [i for i, line in enumerate(lines) if header.match(line)]
        n = int(indexed["i"])
        return found[n] if n < len(found) else None
    header = re.compile(rf"^\s*\[\s*{re.escape(prefix)}\s*\]")
    return next((i for i, line in enumerate(lines) if header.match(line)), None)
