"""`agent-authz demo`, `sample-api`, `demo-keys` and `demo-config`: the local demonstration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def demo_keys(args: argparse.Namespace) -> int:
    from authz.devkit.world import write_demo_keys

    write_demo_keys(Path(args.dir))
    print(f"task issuer and demo approver key pairs in {args.dir}")
    return 0


def demo_config(args: argparse.Namespace) -> int:
    from authz.devkit.world import demo_config as text
    from authz.devkit.world import redis_store

    store = redis_store(args.store_url) if args.store_url else None
    if args.store_path:
        store = f"path = {json.dumps(args.store_path)}"
    print(text(store=store), end="")
    return 0


def sample_api(args: argparse.Namespace) -> int:
    from authz.demo.sample_api import Reading, serve

    try:
        reading = Reading.parse(args.lenient)
    except ValueError as exc:
        print(f"--lenient: {exc}", file=sys.stderr)
        return 2
    serve(args.host, args.port, Path(args.record) if args.record else None, reading)
    return 0


def demo(args: argparse.Namespace) -> int:
    from authz.demo.run import run_demo

    json_path = Path(args.json) if args.json else None
    if args.api == "scim":
        if args.hold:
            print("--hold runs the sample API's demo only", file=sys.stderr)
            return 2
        from authz.demo.run import run_scim_demo

        return run_scim_demo(args.scim_server, json_path)
    return run_demo(json_path=json_path, hold=args.hold, store=args.store)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo-keys", help="the demo config's issuer and approver keys (development only)")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=demo_keys)

    p = sub.add_parser("demo-config", help="print the demo config (deploy/compose/ holds one made by it)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--store-url", help="a Redis state store at this URL instead of the state.db file")
    where.add_argument("--store-path", help="the SQLite state store at this path instead of state.db")
    p.set_defaults(func=demo_config)

    p = sub.add_parser("sample-api", help="run the sample IAM/helpdesk API (demo upstream)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--record", help="append each executed request to this JSON Lines file")
    p.add_argument(
        "--lenient",
        default="strict",
        metavar="READINGS",
        help="read requests as lenient frameworks do: a comma-separated list of keys, duplicates, "
        "override, names, paths (or all); default strict",
    )
    p.set_defaults(func=sample_api)

    p = sub.add_parser("demo", help="run the scripted demo through a real Envoy over mTLS")
    p.add_argument("--json", help="also write the results to this file as a JSON list")
    p.add_argument("--hold", action="store_true", help="keep the stack up until Ctrl-C")
    p.add_argument(
        "--api", choices=("sample", "scim"), default="sample",
        help="the API behind Envoy: the sample IAM API (default), or a real SCIM server",
    )  # fmt: skip
    p.add_argument(
        "--store", choices=("sqlite", "redis"), default="sqlite",
        help="the state store: one SQLite file (default), or a real redis-server shared by two "
        "agent-authz processes (needs redis-server, which make installs)",
    )  # fmt: skip
    p.add_argument(
        "--scim-server", choices=("scim2-server", "canaille"), default="scim2-server",
        help="with --api scim: which SCIM server (canaille needs the .venv-canaille make builds)",
    )  # fmt: skip
    p.set_defaults(func=demo)
