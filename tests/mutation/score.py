"""Per-module mutation scores from mutmut's results in ``mutants/`` (``make mutation``).

    score = killed / (total - message-text mutants - equivalent mutants)

``killed`` counts mutants a test failed on (mutmut's "killed"), plus "timeout" and "segfault"
(the mutant made a test hang or crash: noticed). Everything else that was run — "survived",
"no tests", "suspicious" — is not killed.

Message-text mutants (``message_text.py``: a change only to the text of a message, a docstring
or a log line, found from the code) and the equivalent mutants listed in ``equivalent.toml``
(``equivalents.py``) are left out. ``mutmut_results.py`` reads ``mutants/``; this module adds
up the scores and prints the table.

Run: ``python tests/mutation/score.py [--markdown FILE] [--survivors] [--fail-under 95]``
from the repository root after ``mutmut run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from equivalents import EQUIVALENT, apply_equivalent, read_equivalent
from message_text import exception_classes
from mutmut_results import MUTANTS, ROOT, Mutant, read_module

__all__ = ["ROOT", "Mutant", "Score", "collect", "main", "score", "table"]


@dataclasses.dataclass
class Score:
    module: str
    total: int = 0
    killed: int = 0
    message_text: int = 0
    equivalent: int = 0
    survived: int = 0  # not killed, and neither message text nor equivalent
    not_checked: int = 0

    @property
    def counted(self) -> int:
        return self.total - self.message_text - self.equivalent

    @property
    def killed_counted(self) -> int:
        return self.killed

    @property
    def score(self) -> float:
        return 100.0 if self.counted == 0 else 100.0 * self.killed / self.counted


def score(mutants: Iterable[Mutant]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for m in mutants:
        s = scores.setdefault(m.module, Score(m.module))
        s.total += 1
        if m.counts and m.exit_code is None:
            s.not_checked += 1
        if m.message_text:
            s.message_text += 1
        elif m.equivalent is not None:
            s.equivalent += 1
        elif m.killed:
            s.killed += 1
        else:
            s.survived += 1
    return scores


def table(scores: dict[str, Score], markdown: bool) -> str:
    head = ("module", "total", "killed", "message text", "equivalent", "survived", "score")
    rows = [
        (s.module, s.total, s.killed, s.message_text, s.equivalent, s.survived, f"{s.score:.1f}%")
        for s in sorted(scores.values(), key=lambda s: s.module)
    ]
    fields = ("total", "killed", "message_text", "equivalent", "survived", "not_checked")
    all_ = Score("all", *(sum(getattr(s, f) for s in scores.values()) for f in fields))
    rows.append(("**all**" if markdown else "all", all_.total, all_.killed, all_.message_text,
                 all_.equivalent, all_.survived, f"{all_.score:.1f}%"))  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| `" + str(r[0]) + "` | " + " | ".join(str(c) for c in r[1:]) + " |" for r in rows[:-1]]
        lines.append("| " + " | ".join(str(c) for c in rows[-1]) + " |")
        return "\n".join(lines)
    width = max(len(str(r[0])) for r in rows)
    out = [f"{head[0]:<{width}}  " + "  ".join(f"{h:>12}" for h in head[1:])]
    out += [f"{r[0]:<{width}}  " + "  ".join(f"{c!s:>12}" for c in r[1:]) for r in rows]
    return "\n".join(out)


def collect() -> tuple[list[Mutant], list[str]]:
    exceptions = exception_classes(ROOT / "authz")
    mutants = [m for meta in sorted(MUTANTS.rglob("*.py.meta")) for m in read_module(meta, exceptions)]
    problems = apply_equivalent(mutants, read_equivalent(EQUIVALENT))
    return mutants, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--survivors", action="store_true", help="list the mutants that count and survived")
    parser.add_argument("--message-text", action="store_true", help="list the message-text mutants")
    parser.add_argument("--json", type=Path, help="write every mutant's classification here")
    parser.add_argument("--fail-under", type=float, help="exit 1 if a module scores less")
    parser.add_argument(
        "--ids", action="store_true", help="only print the ids of the mutants that count and were not run"
    )
    args = parser.parse_args(argv)
    if not MUTANTS.exists():
        print("no mutants/ folder: run `make mutation` (mutmut run) first", file=sys.stderr)
        return 2
    mutants, problems = collect()
    if args.ids:
        print("\n".join(m.key for m in mutants if m.counts and m.exit_code is None))
        return 0
    scores = score(mutants)
    print(table(scores, args.markdown))
    for m in mutants:
        counted = not m.message_text and m.equivalent is None
        if (args.survivors and counted and not m.killed) or (args.message_text and m.message_text):
            print(f"\n{m.key}  [{m.status}]")
            print("\n".join("    " + line for line in m.diff))
    if args.json:
        args.json.write_text(
            json.dumps([dataclasses.asdict(m) for m in mutants], indent=1, ensure_ascii=False)
        )
    for problem in problems:
        print(problem, file=sys.stderr)
    unchecked = sum(s.not_checked for s in scores.values())
    if unchecked:
        print(f"{unchecked} mutants were not checked (an interrupted run?)", file=sys.stderr)
    if args.fail_under is not None:
        low = [s.module for s in scores.values() if s.score < args.fail_under]
        if low or problems or unchecked:
            print(f"under {args.fail_under}%: {', '.join(low) or 'none'}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
