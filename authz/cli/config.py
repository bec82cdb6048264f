"""`agent-authz config check`: validate a configuration, with its warnings."""

from __future__ import annotations

import argparse
import sys

from authz.config import load_config


def config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if config.server.plaintext_exposed and not config.server.allow_plaintext:
        print(
            f"refused: {config.source}: server.listen = {config.server.listen!r} is off loopback and the "
            "Check port is plaintext. Add [server.tls] (client certificates, allowed SPIFFE IDs), or "
            "set server.allow_plaintext = true where a network policy already keeps others out",
            file=sys.stderr,
        )
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.source}: ok ({len(config.agents)} agents, {len(config.routes)} routes)")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="action", required=True)
    c = csub.add_parser("check", help="validate a config file and exit")
    c.add_argument("--config", required=True)
    c.set_defaults(func=config_check)
