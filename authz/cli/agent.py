"""`agent-authz agent`: the kill switch, and the registry as the store sees it."""

from __future__ import annotations

import argparse
import sys

from authz.cli.operator import operator_name
from authz.config import AgentStatus, load_config
from authz.store.open import opened


def agent_switch(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    agent = config.agents.get(args.spiffe_id)
    if agent is None:
        print(f"{args.spiffe_id} is not a registered agent", file=sys.stderr)
        return 1
    suspend = args.action == "suspend"
    if not suspend and agent.status is AgentStatus.SUSPENDED:
        print(
            f"{args.spiffe_id} is suspended in the config ({config.source}: its [[agents]] status), "
            "not by the kill switch: resuming it takes a change to the config",
            file=sys.stderr,
        )
        return 1
    with opened(config) as (store, _):
        was = store.agent_suspended(args.spiffe_id)
        store.set_agent_suspended(args.spiffe_id, suspend, by=operator_name())
    if was is suspend:
        print(f"{args.spiffe_id}: already {'suspended' if suspend else 'running'}; nothing changed")
    else:
        done = "suspended" if suspend else "resumed"
        print(f"{args.spiffe_id}: {done} (every agent-authz process sharing the store: within a second)")
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
