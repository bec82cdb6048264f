"""`agent-authz task`: issue a task token, revoke a task, list revocations."""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import jwt
from cryptography import x509

from authz.cli.operator import operator_name
from authz.config import load_config
from authz.store.open import opened
from authz.tokens.issuer import issue
from authz.tokens.keys import KeyFileError, load_private_key
from authz.tokens.task import IssueError


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
    claims = jwt.decode(token, options={"verify_signature": False})  # just signed here
    if args.json:
        scope = {"intent": args.intent, "principals": args.principal, "actions": args.action}
        print(json.dumps({"token": token, "task_id": claims["jti"], "expires": claims["exp"],
                          "agent": claims["act"]["sub"] if "act" in claims else claims["sub"],
                          "scope": scope | {"max_calls": args.budget}}, indent=2))  # fmt: skip
    else:
        print(token)
    print(f"task {claims['jti']}: to stop it, agent-authz task revoke --config {args.config} {claims['jti']}",
          file=sys.stderr)  # fmt: skip
    return 0


def task_revoke(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with opened(config) as (store, _):
        logs = [
            config.audit.path,
            *(Path(p) for pattern in args.audit_log for p in sorted(glob.glob(pattern))),
        ]
        known = store.task_revoked(args.task_id) or any(_audited(log, args.task_id) for log in logs)
        if not known and not args.force:
            print(
                f"refused: no decision in {', '.join(map(str, logs))} names task {args.task_id!r}; check the "
                "id, name the replicas' logs with --audit-log, or --force to revoke a task not used yet",
                file=sys.stderr,
            )
            return 1
        fresh = store.revoke_task(args.task_id, reason=args.reason, by=operator_name())
    print(f"task {args.task_id} {'revoked' if fresh else 'was already revoked'}")
    return 0


def _audited(log: Path, task_id: str) -> bool:
    """Whether this host's audit log has a decision on the task (read once, line by line)."""
    needle = json.dumps({"task": task_id}, separators=(",", ":"))[1:-1].encode()
    try:
        with log.open("rb") as f:
            return any(needle in line for line in f)
    except OSError:
        return False


def task_revoked(args: argparse.Namespace) -> int:
    with opened(load_config(args.config)) as (store, _):
        for r in store.revocations(args.limit):
            print(f"{r.task_id}\t{r.reason}\tby {r.by}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    t.add_argument("--json", action="store_true", help="print token, task id, expiry and scope as JSON")
    t.set_defaults(func=task_issue)
    t = tsub.add_parser("revoke", help="revoke a task: its token stops working on the next request")
    t.add_argument("--config", required=True)
    t.add_argument("--reason", default="revoked by operator")
    t.add_argument("--force", action="store_true", help="revoke an id no decision here names (yet)")
    t.add_argument(
        "--audit-log", action="append", default=[], metavar="GLOB",
        help="also look for the task in these audit logs (each replica's --audit-path; repeatable)",
    )  # fmt: skip
    t.add_argument("task_id")
    t.set_defaults(func=task_revoke)
    t = tsub.add_parser("revoked", help="list revoked tasks, newest first")
    t.add_argument("--config", required=True)
    t.add_argument("--limit", type=int, default=50)
    t.set_defaults(func=task_revoked)
