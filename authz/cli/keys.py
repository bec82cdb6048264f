"""`agent-authz keys init`: a task issuer's key pair."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from authz.tokens.keys import write_key_pair


def keys_init(args: argparse.Namespace) -> int:
    try:
        private, public = write_key_pair(Path(args.dir), args.kid)
    except FileExistsError as exc:
        print(
            f"refused: {exc.filename} exists; pick another --kid (rotation keeps old keys)", file=sys.stderr
        )
        return 1
    print(f"private key (keep it with the task issuer only): {private}")
    print(f"public key: {public}\n\nadd to the agent-authz config:\n")
    print(f'[[tasks.keys]]\nkid = "{args.kid}"\npublic_key = "{public}"')
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="task issuer signing keys")
    ksub = p.add_subparsers(dest="action", required=True)
    k = ksub.add_parser("init", help="make an Ed25519 key pair and print the config entry")
    k.add_argument("--dir", required=True)
    k.add_argument("--kid", required=True, help="key id, e.g. issuer-2026-11")
    k.set_defaults(func=keys_init)
