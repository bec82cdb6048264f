"""`make mutation`: mutmut over the security-critical modules, then the per-module scores.

mutmut (configured in pyproject.toml, ``[tool.mutmut]``) copies ``authz/``, ``tests/`` and
``policies/`` into ``mutants/`` and runs the unit and integration tests there, each mutant
against the tests that cover its function only. Message-text mutants (``message_text.py``) are
never run: whatever the tests say of them, they are left out of the score. So the run has two
parts:

1. ``mutmut run`` on one small module: it writes every mutant, measures which tests cover
   which function (one run of the whole selection) and checks that mutants are noticed;
2. ``mutmut run <id> …`` on every mutant that counts and has no result yet.

Then ``score.py`` prints the table. ``--fresh`` starts from an empty ``mutants/`` (the
default of ``make mutation``); without it, results of unchanged functions are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import score  # noqa: E402  (beside this file)

ROOT = score.ROOT
MUTMUT = [str(Path(sys.executable).with_name("mutmut")), "run", "--max-children"]
FIRST = "authz.names.*"  # small and fast: enough to build mutants/ and the test map


def mutmut(children: int, names: list[str]) -> None:
    subprocess.run([*MUTMUT, str(children), *names], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="remove mutants/ first")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--fail-under", type=float, help="exit 1 if a module scores less")
    args = parser.parse_args()
    started = time.monotonic()
    if args.fresh:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    mutmut(args.children, [FIRST])
    mutants, _ = score.collect()
    todo = [m.key for m in mutants if m.counts and m.exit_code is None]
    print(f"\n{len(todo)} mutants count and have no result yet", flush=True)
    if todo:
        mutmut(args.children, todo)  # one call: each call runs the clean tests first
    elapsed = dt.timedelta(seconds=round(time.monotonic() - started))
    print(f"\nmutmut run time: {elapsed} ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)\n")
    argv = [] if args.fail_under is None else ["--fail-under", str(args.fail_under)]
    return score.main(argv)


if __name__ == "__main__":
    sys.exit(main())
