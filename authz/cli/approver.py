"""`agent-authz approver init`: an approver's own key pair, and their config entry."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from authz.config import GATED_CLASSES, OPERATION_CLASSES
from authz.tokens.keys import write_key_pair

_APPROVER_ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def approver_init(args: argparse.Namespace) -> int:
    """An approver's own key pair: the private key stays with the approver, never with agent-authz."""
    if not _APPROVER_ID.fullmatch(args.id):
        print("refused: --id must be letters, digits, '.', '_', '@' or '-'", file=sys.stderr)
        return 2
    try:
        private, public = write_key_pair(Path(args.dir), f"approver-{args.id}")
    except FileExistsError as exc:
        print(f"refused: {exc.filename} exists", file=sys.stderr)
        return 1
    print(f"private key (keep it with {args.id} only; it signs their approvals): {private}")
    print(f"public key: {public}\n\nadd to the agent-authz config:\n")
    classes = ", ".join(f'"{c}"' for c in args.classes or sorted(GATED_CLASSES))
    print(
        f'[[approvals.approvers]]\nid = "{args.id}"\nname = "{args.name or args.id}"\n'
        f'public_key = "{public}"\nclasses = [{classes}]'
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("approver", help="human approvers")
    asub = p.add_subparsers(dest="action", required=True)
    a = asub.add_parser("init", help="make an approver's Ed25519 key pair and print the config entry")
    a.add_argument("--id", required=True, help="approver id, e.g. dana")
    a.add_argument("--name", help="display name, e.g. 'Dana (IT security)'")
    a.add_argument("--dir", required=True)
    a.add_argument(
        "--class", dest="classes", action="append", choices=OPERATION_CLASSES, help="may approve (repeatable)"
    )
    a.set_defaults(func=approver_init)
