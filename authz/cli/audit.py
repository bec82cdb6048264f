"""`agent-authz audit verify`: check an audit log's hash chain (and, with ``--anchors``, that
nothing was cut off its tail); `audit show`: a decision with its outcome; `audit merge`: several
replicas' logs as one, by time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from authz.audit import VerifyResult, is_decision, verify
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


def audit_show(args: argparse.Namespace) -> int:
    if not args.log and not args.config:
        print("audit show needs --config (its audit log) or --log FILE", file=sys.stderr)
        return 2
    logs = [Path(f) for f in args.log] or [load_config(args.config).audit.path]
    found: list[dict[str, object]] = []
    try:
        for path in logs:
            with path.open("rb") as f:
                needle = args.decision_id.encode()
                found += [
                    r
                    for line in f
                    if needle in line and (r := json.loads(line)).get("decision_id") == args.decision_id
                ]
    except (OSError, ValueError) as exc:
        print(f"cannot read the audit log: {exc}", file=sys.stderr)
        return 2
    decisions = [r for r in found if is_decision(r)]
    if not decisions:
        print(f"no decision {args.decision_id} in {', '.join(map(str, logs))}", file=sys.stderr)
        return 1
    for record in decisions + [r for r in found if not is_decision(r)]:
        print(json.dumps(record, indent=2))
    if not any(r.get("record") == "outcome" for r in found):
        print("(no outcome recorded: the request was not answered yet, or another process logged it)")
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
    s = asub.add_parser("show", help="a decision and what the API then did (its outcome records)")
    s.add_argument("decision_id")
    s.add_argument("--config", help="read this config's audit log")
    s.add_argument("--log", action="append", default=[], help="an audit log to read (repeatable)")
    s.set_defaults(func=audit_show)
    m = asub.add_parser("merge", help="several processes' logs as one JSON Lines stream, by time")
    m.add_argument("files", nargs="+")
    m.set_defaults(func=audit_merge)
