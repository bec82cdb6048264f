"""`agent-authz approvals …`: the approval queue as the humans who approve see it.

``approve`` signs on the approver's machine with the approver's own key; the queue only
stores the signed token, so whoever runs the queue cannot approve anything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from authz import duties
from authz.cli.operator import operator_name
from authz.config import Approver, Config, load_config
from authz.directory import AmbiguousName, DirectoryUnavailable
from authz.stages.context import directory_from
from authz.store.open import opened
from authz.store.queue import ApprovalQueue, ApprovalRequest, QueueError, RequestStatus
from authz.tokens.approval import sign_approval
from authz.tokens.keys import KeyFileError, PrivateKey, load_private_key, public_pem, public_pem_of

_BODY_SHOWN = 4096


@contextlib.contextmanager
def _queue(config: Config) -> Iterator[ApprovalQueue]:
    with opened(config) as (_, queue):
        yield queue


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def approvals_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    status = None if args.all else RequestStatus.PENDING
    with _queue(config) as queue:
        requests = queue.requests(now=time.time(), status=status, limit=args.limit)
    if requests:
        print("REQUEST\tSTATUS\tAPPROVALS\tOPERATION PRINCIPAL\tAGENT")
    for r in requests:
        have = f"{len(r.approvers)}/{r.new.approvers_needed}"
        print(f"{r.request_id}\t{r.status}\t{have}\t{r.new.operation} {r.new.principal}\t{r.new.agent}")
    if not requests:
        print("no pending approval requests" if status else "no approval requests")
    return 0


def _readable(body: bytes) -> str:
    if not body:
        return "(empty)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)[:_BODY_SHOWN]
    except (ValueError, UnicodeDecodeError):
        return repr(body[:_BODY_SHOWN])


def _describe(r: ApprovalRequest, config: Config) -> str:
    n = r.new
    lines = [
        f"request      {r.request_id} ({r.status}; filed {_when(r.created)}, expires {_when(n.expires)})",
        f"agent        {n.agent} (owner {n.owner})",
        f"on behalf of {n.on_behalf_of or '-'}",
        f"intent       {n.intent}",
        f"justification {n.justification or '-'}",
        f"prompt ref   {n.prompt_ref or '-'}",
        f"operation    {n.operation} ({n.op_class})",
        f"target       {n.principal} ({_live(n.principal, config)})",
        f"request      {n.method} {n.path}",
        f"task         {n.task_id}",
        f"approvals    {len(r.approvers)} of {n.approvers_needed}: {', '.join(r.approvers) or '-'}",
    ]
    if r.reason:
        lines.append(f"decision     {r.status} by {r.decided_by}: {r.reason}")
    return "\n".join(lines) + f"\nbody\n{_readable(n.body)}"


def _live(name: str, config: Config) -> str:
    """The target as the directory sees it now (what the policy will see)."""
    if config.directory is None:
        return "no directory configured"
    try:
        p = directory_from(config.directory).lookup(name)
    except (DirectoryUnavailable, AmbiguousName) as exc:
        return f"directory cannot answer: {exc}"
    if not p.exists:
        return "not in the directory"
    groups = ", ".join(sorted(p.groups)) or "no groups"
    return f"{p.kind}, {'privileged' if p.privileged else 'not privileged'}, {groups}"


def approvals_show(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with _queue(config) as queue:
        request = queue.get(args.request_id, now=time.time())
    if request is None:
        print(f"no approval request {args.request_id}", file=sys.stderr)
        return 1
    print(_describe(request, config))
    return 0


def _approver_of(key: PrivateKey, config: Config) -> Approver | None:
    mine = public_pem(key)
    return next((a for a in config.approvals.approvers.values() if public_pem_of(a.key) == mine), None)


def approvals_approve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        key = load_private_key(Path(args.key))
    except KeyFileError as exc:
        print(f"cannot approve: {exc}", file=sys.stderr)
        return 2
    approver = _approver_of(key, config)
    if approver is None:
        print("cannot approve: this key belongs to no configured approver", file=sys.stderr)
        return 2
    now = int(time.time())
    with _queue(config) as queue:
        request = queue.get(args.request_id, now=now)
        if request is None or request.status is not RequestStatus.PENDING:
            state = "unknown" if request is None else str(request.status)
            print(f"cannot approve {args.request_id}: {state}", file=sys.stderr)
            return 1
        n = request.new
        directory = directory_from(config.directory) if config.directory else None
        try:
            refusal = duties.refusal(
                approver,
                n.op_class,
                agent=n.agent,
                on_behalf_of=n.on_behalf_of,
                target=n.principal,
                identities=duties.Identities(directory),
            )
        except DirectoryUnavailable as exc:
            refusal = f"the directory cannot say who is who now ({exc})"
        if refusal:
            print(f"cannot approve: {refusal}", file=sys.stderr)
            return 1
        token = sign_approval(
            key=key,
            approver=approver.id,
            audience=config.tasks.audience,
            agent=n.agent,
            task_id=n.task_id,
            operation=n.operation,
            principal=n.principal,
            req=n.req,
            ttl=max(1, min(config.approvals.max_ttl, int(n.expires) - now)),
            now=now,
        )
        try:
            updated = queue.add_approval(args.request_id, approver.id, token, now=now)
        except QueueError as exc:
            print(f"cannot approve: {exc}", file=sys.stderr)
            return 1
    print(f"{updated.request_id}: approved by {approver.id}; now {updated.status}")
    return 0


def approvals_deny(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with _queue(config) as queue:
        try:
            updated = queue.deny(args.request_id, by=operator_name(), reason=args.reason, now=time.time())
        except QueueError as exc:
            print(f"cannot deny: {exc}", file=sys.stderr)
            return 1
    print(f"{updated.request_id}: denied")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("approvals", help="the approval queue: list, show, approve, deny")
    qsub = p.add_subparsers(dest="action", required=True)
    q = qsub.add_parser("list", help="pending approval requests, newest first")
    q.add_argument("--config", required=True)
    q.add_argument("--all", action="store_true", help="also approved, denied and expired ones")
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(func=approvals_list)
    q = qsub.add_parser("show", help="everything an approver needs to decide one request")
    q.add_argument("--config", required=True)
    q.add_argument("request_id")
    q.set_defaults(func=approvals_show)
    q = qsub.add_parser("approve", help="sign an approval with your own key and queue it for the agent")
    q.add_argument("--config", required=True)
    q.add_argument("--key", required=True, help="your approver private key (from agent-authz approver init)")
    q.add_argument("request_id")
    q.set_defaults(func=approvals_approve)
    q = qsub.add_parser("deny", help="refuse a request; the agent sees the reason when it polls")
    q.add_argument("--config", required=True)
    q.add_argument("--reason", required=True)
    q.add_argument("request_id")
    q.set_defaults(func=approvals_deny)
