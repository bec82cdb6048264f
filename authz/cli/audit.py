"""`agent-authz audit verify`: check an audit log's hash chain (and, with ``--anchors``, that
nothing was cut off its tail); `agent-authz audit merge`: several replicas' logs as one, by time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from authz.audit import VerifyResult, verify
from authz.audit.anchor import check_anchor
from authz.audit.merge import merged
from authz.config import load_config
from authz.store.open import opened


def audit_verify(args: argparse.Namespace) -> int:
    try:
        result = verify(Path(args.file))
        problem = _anchor_problem(args, result) if result.ok and args.anchors else ""
    except OSError as exc:
        print(f"{args.file}: cannot be read: {exc.strerror}", file=sys.stderr)
        return 2
    if not result.ok:
        print(
            f"{args.file}: BROKEN at {result.problem} ({result.records} records verified before it)",
            file=sys.stderr,
        )
        return 1
    if problem:
        print(f"{args.file}: BROKEN: {problem} ({result.records} records verified)", file=sys.stderr)
        return 1
    anchored = " up to its anchor" if args.anchors else ""
    print(f"{args.file}: intact{anchored}, {result.records} records, head {result.head}")
    return 0


def _anchor_problem(args: argparse.Namespace, result: VerifyResult) -> str:
    with opened(load_config(args.anchors)) as (store, _):
        anchors = store.audit_anchors()
    return check_anchor(Path(args.file), result, anchors)


def audit_merge(args: argparse.Namespace) -> int:
    try:
        for record in merged([Path(f) for f in args.files]):
            sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    except (OSError, ValueError) as exc:
        print(f"cannot merge: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="audit log tools")
    asub = p.add_subparsers(dest="action", required=True)
    a = asub.add_parser("verify", help="verify the hash chain; non-zero names the first broken record")
    a.add_argument("file")
    a.add_argument(
        "--anchors", metavar="CONFIG",
        help="also check the log reaches the head its process anchored in the state store CONFIG names",
    )  # fmt: skip
    a.set_defaults(func=audit_verify)
    m = asub.add_parser("merge", help="several processes' logs as one JSON Lines stream, by time")
    m.add_argument("files", nargs="+")
    m.set_defaults(func=audit_merge)
