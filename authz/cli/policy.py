"""`agent-authz policy validate|test`: for the people who write policies."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from authz.errors import PolicyError
from authz.policy.engine import Policies
from authz.policy.testing import CaseError, run_directory, uncovered


def _load(directory: str) -> Policies | None:
    try:
        return Policies.load(Path(directory))
    except PolicyError as exc:
        print(f"policy error: {exc}", file=sys.stderr)
        return None


def policy_validate(args: argparse.Namespace) -> int:
    policies = _load(args.dir)
    if policies is None:
        return 1
    names = ", ".join(p.name for p in policies.files)
    print(f"{args.dir}: ok ({len(policies.ids)} policies in {names}, schema-valid)")
    return 0


def policy_test(args: argparse.Namespace) -> int:
    policies = _load(args.policies)
    if policies is None:
        return 1
    try:
        outcomes = run_directory(policies, Path(args.tests))
    except CaseError as exc:
        print(f"test error: {exc}", file=sys.stderr)
        return 2
    for o in outcomes:
        print(f"{'ok  ' if o.ok else 'FAIL'} {o.file.name}: {o.name}{'' if o.ok else ' — ' + o.detail}")
    missing = uncovered(policies, outcomes)
    for pid in missing:
        print(f"FAIL no passing case is decided by policy {pid}")
    failed = sum(not o.ok for o in outcomes) + len(missing)
    print(f"\n{len(outcomes) - sum(not o.ok for o in outcomes)} of {len(outcomes)} cases passed", end="")
    print(f"; {len(policies.ids) - len(missing)} of {len(policies.ids)} policies covered")
    return 1 if failed else 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="Cedar policies: validate, test")
    psub = p.add_subparsers(dest="action", required=True)
    v = psub.add_parser("validate", help="parse and schema-check every policy; non-zero names file and line")
    v.add_argument("--dir", default="policies")
    v.set_defaults(func=policy_validate)
    t = psub.add_parser("test", help="run table-driven policy tests; every policy must decide one")
    t.add_argument("tests", help="folder of *.json test files, e.g. policies/tests")
    t.add_argument("--policies", default="policies")
    t.set_defaults(func=policy_test)
