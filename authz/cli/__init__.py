"""The ``agent-authz`` command: one module per command group, each registering its own parser."""

from __future__ import annotations

import argparse
import sys

from authz.cli import (
    agent,
    approvals,
    approver,
    audit,
    check,
    config,
    demo,
    envoy,
    keys,
    logs,
    pki,
    policy,
    serve,
    task,
)
from authz.errors import AuditError, ConfigError, StoreError

DESCRIPTION = (
    "The authorizer for AI agents' calls to IAM APIs (an Envoy ext_authz server), "
    "and the tools to run it: tasks, approvals, the kill switch, audit, config and policy checks."
)
#: In the order ``--help`` lists them.
GROUPS = (serve, config, keys, approver, task, agent, approvals, policy, check, audit, pki, envoy, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-authz", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="json: one JSON object per log line"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose, args.log_format)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except AuditError as exc:
        print(f"audit error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"state store error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
