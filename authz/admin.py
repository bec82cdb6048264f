"""Commands for the people running agent-authz: issuer and approver keys, task tokens, the kill switch."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from pathlib import Path

from cryptography import x509

from authz.config import GATED_CLASSES, OPERATION_CLASSES, load_config
from authz.issuer import issue
from authz.keys import KeyFileError, load_private_key, write_key_pair
from authz.store.sqlite import SqliteStore
from authz.tasks import IssueError

_APPROVER_ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def operator_name() -> str:
    """Who runs this command, for the record of a revocation, suspension or denial."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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


def task_issue(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        key = load_private_key(Path(args.key))
        cert = x509.load_pem_x509_certificate(Path(args.agent_cert).read_bytes())
    except KeyFileError as exc:
        print(f"cannot issue: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"cannot issue: agent certificate {args.agent_cert}: {exc}", file=sys.stderr)
        return 2
    try:
        token = issue(
            config,
            key=key,
            kid=args.kid,
            agent_cert=cert,
            intent=args.intent,
            principals=args.principal,
            actions=args.action,
            ttl=args.ttl,
            on_behalf_of=args.on_behalf_of,
            delegation=args.delegated_by,
            max_calls=args.budget,
        )
    except IssueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0


def task_revoke(args: argparse.Namespace) -> int:
    with SqliteStore(load_config(args.config).store_path) as store:
        fresh = store.revoke_task(args.task_id, reason=args.reason, by=operator_name())
    print(f"task {args.task_id} {'revoked' if fresh else 'was already revoked'}")
    return 0


def task_revoked(args: argparse.Namespace) -> int:
    with SqliteStore(load_config(args.config).store_path) as store:
        for r in store.revocations(args.limit):
            print(f"{r.task_id}\t{r.reason}\tby {r.by}")
    return 0


def agent_switch(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.spiffe_id not in config.agents:
        print(f"{args.spiffe_id} is not a registered agent", file=sys.stderr)
        return 1
    with SqliteStore(config.store_path) as store:
        store.set_agent_suspended(args.spiffe_id, args.action == "suspend", by=operator_name())
    print(f"{args.spiffe_id}: {args.action}d (every agent-authz process sees it on its next request)")
    return 0


def agent_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with SqliteStore(config.store_path) as store:
        suspended = set(store.suspended_agents())
    for agent in config.agents.values():
        status = "suspended (kill switch)" if agent.spiffe_id in suspended else agent.status.value
        print(f"{agent.spiffe_id}\t{status}\towner {agent.owner}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="task issuer signing keys")
    ksub = p.add_subparsers(dest="action", required=True)
    k = ksub.add_parser("init", help="make an Ed25519 key pair and print the config entry")
    k.add_argument("--dir", required=True)
    k.add_argument("--kid", required=True, help="key id, e.g. issuer-2026-11")
    k.set_defaults(func=keys_init)

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

    p = sub.add_parser("task", help="task tokens")
    tsub = p.add_subparsers(dest="action", required=True)
    t = tsub.add_parser("issue", help="sign a task token (printed on stdout)")
    t.add_argument("--config", required=True)
    t.add_argument("--key", required=True, help="issuer private key (PEM)")
    t.add_argument("--kid", required=True)
    t.add_argument("--agent-cert", required=True, help="the agent's X.509-SVID (PEM): binds the token")
    t.add_argument("--intent", required=True)
    t.add_argument("--principal", action="append", required=True, help="target account (repeatable)")
    t.add_argument("--action", action="append", required=True, help="operation (repeatable)")
    t.add_argument("--ttl", type=int, default=300, help="seconds (default 300)")
    t.add_argument("--on-behalf-of", help="the user whose authority the agent exercises")
    t.add_argument("--delegated-by", action="append", default=[], help="earlier actor, nearest first")
    t.add_argument("--budget", type=int, help="maximum number of calls")
    t.set_defaults(func=task_issue)
    t = tsub.add_parser("revoke", help="revoke a task: its token stops working on the next request")
    t.add_argument("--config", required=True)
    t.add_argument("--reason", default="revoked by operator")
    t.add_argument("task_id")
    t.set_defaults(func=task_revoke)
    t = tsub.add_parser("revoked", help="list revoked tasks, newest first")
    t.add_argument("--config", required=True)
    t.add_argument("--limit", type=int, default=50)
    t.set_defaults(func=task_revoked)

    p = sub.add_parser("agent", help="the kill switch")
    asub = p.add_subparsers(dest="action", required=True)
    for action in ("suspend", "resume"):
        a = asub.add_parser(action, help=f"{action} an agent in every process sharing the store")
        a.add_argument("--config", required=True)
        a.add_argument("spiffe_id")
        a.set_defaults(func=agent_switch)
    a = asub.add_parser("list", help="registered agents and their status")
    a.add_argument("--config", required=True)
    a.set_defaults(func=agent_list)
