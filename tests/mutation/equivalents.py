"""The equivalent mutants, listed in ``equivalent.toml``: each entry names its module, mutmut's
id, the mutated line (checked against the mutant, so a stale entry is reported, not silently
subtracted) and why no test can tell it from the original."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from mutmut_results import Mutant

EQUIVALENT = Path(__file__).resolve().parent / "equivalent.toml"


def read_equivalent(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text()).get("mutant", []))


def apply_equivalent(mutants: Iterable[Mutant], entries: list[dict[str, str]]) -> list[str]:
    """Mark the listed mutants; return problems (stale or unknown entries)."""
    by_key = {m.key: m for m in mutants}
    problems = []
    for entry in entries:
        m = by_key.get(entry["id"])
        if m is None:
            problems.append(f"equivalent.toml: {entry['id']} is not a mutant (any more)")
            continue
        if entry.get("module") != m.module:
            problems.append(f"equivalent.toml: {entry['id']} is in {m.module}, not {entry.get('module')}")
        mutated = [line[2:] for line in m.diff if line.startswith("+")]
        if entry["mutated"].strip() not in mutated:
            problems.append(f"equivalent.toml: {entry['id']} now mutates {mutated}, not {entry['mutated']!r}")
            continue
        m.equivalent = entry["reason"]
    return problems
