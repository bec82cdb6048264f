"""`agent-authz agent`: the kill switch, and the registry as the store sees it."""

from __future__ import annotations

import argparse
import sys

from authz.cli.operator import operator_name
from authz.config import load_config
from authz.store.open import opened


def agent_switch(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.spiffe_id not in config.agents:
        print(f"{args.spiffe_id} is not a registered agent", file=sys.stderr)
        return 1
    with opened(config) as (store, _):
        store.set_agent_suspended(args.spiffe_id, args.action == "suspend", by=operator_name())
    print(f"{args.spiffe_id}: {args.action}d (every agent-authz process sees it on its next request)")
    return 0


def agent_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with opened(config) as (store, _):
        suspended = set(store.suspended_agents())
    for agent in config.agents.values():
        status = "suspended (kill switch)" if agent.spiffe_id in suspended else agent.status.value
        print(f"{agent.spiffe_id}\t{status}\towner {agent.owner}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
