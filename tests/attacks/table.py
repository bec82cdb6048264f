"""The README's "Attacks we test" table, generated from the corpus.

``python -m tests.attacks.table`` prints it; ``--write`` puts it between the markers in
README.md. ``tests/e2e/test_attacks.py`` fails when README's table differs from this.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from . import CORPUS
from .model import CATEGORIES, Case

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- attacks:start -->", "<!-- attacks:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(corpus: tuple[Case, ...] = CORPUS) -> str:
    by = Counter(c.category for c in corpus)
    counts = ", ".join(f"{category} {by[category]}" for category in CATEGORIES if by[category])
    lines = [
        f"{len(corpus)} cases ({counts}), generated from [`tests/attacks/`](tests/attacks/__init__.py) "
        "by `python -m tests.attacks.table --write`. Each case is sent through Envoy in front of "
        "the sample API reading requests strictly and in each lenient reading "
        "(`agent-authz sample-api --lenient keys|duplicates|override|names|paths`, and `all` of them "
        "at once), and once more "
        'with `[upstream] names = "case-insensitive"` in front of the one that folds names; '
        "route-table cases run `agent-authz config check`.",
        "",
        "| category | attack | expected |",
        "|---|---|---|",
    ]
    for case in sorted(corpus, key=lambda c: CATEGORIES.index(c.category)):
        lines.append(f"| {case.category} | {_cell(case.attack)} | {_cell(case.describe_expected())} |")
    return "\n".join(lines) + "\n"


def in_readme(text: str) -> str:
    """What README.md holds between the markers."""
    head, start, rest = text.partition(START)
    table, end, _ = rest.partition(END)
    if not (start and end):
        raise ValueError(f"README.md lacks the markers {START} … {END}")
    return table.strip("\n") + "\n"


def write(readme: Path = README) -> None:
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n{markdown()}{END}{tail}")


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        write()
        print(f"wrote the attack table ({len(CORPUS)} cases) into {README}")
    else:
        sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
