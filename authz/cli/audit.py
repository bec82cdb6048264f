"""`agent-authz audit verify`: check an audit log's hash chain."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from authz.audit import verify


def audit_verify(args: argparse.Namespace) -> int:
    try:
        result = verify(Path(args.file))
    except OSError as exc:
        print(f"{args.file}: cannot be read: {exc.strerror}", file=sys.stderr)
        return 2
    if result.ok:
        print(f"{args.file}: intact, {result.records} records, head {result.head}")
        return 0
    print(
        f"{args.file}: BROKEN at {result.problem} ({result.records} records verified before it)",
        file=sys.stderr,
    )
    return 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="audit log tools")
    asub = p.add_subparsers(dest="action", required=True)
    a = asub.add_parser("verify", help="verify the hash chain; non-zero names the first broken record")
    a.add_argument("file")
    a.set_defaults(func=audit_verify)
