"""`agent-authz serve`: run the ext_authz gRPC server."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from authz.config import Config, load_config


def serve(args: argparse.Namespace) -> int:
    from authz.server.grpc_server import AuthzServer

    config = load_config(args.config)
    if args.directory_url and (
        config.directory is None or config.directory.kind != "http" or "{name}" not in args.directory_url
    ):
        print("--directory-url needs an http [directory] and a URL with {name}", file=sys.stderr)
        return 2

    def overrides(config: Config) -> Config:
        """The command line's overrides, applied again on every reload."""
        if args.audit_path:
            config = replace(config, audit=replace(config.audit, path=Path(args.audit_path).resolve()))
        if args.directory_url and config.directory is not None:
            config = replace(config, directory=replace(config.directory, url=args.directory_url))
        return config

    server = AuthzServer(
        overrides(config), listen=args.listen, metrics_listen=args.metrics_listen, overrides=overrides
    )
    server.serve_forever()
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the ext_authz gRPC server")
    p.add_argument("--config", required=True)
    p.add_argument("--listen", help="override server.listen (HOST:PORT)")
    p.add_argument("--metrics-listen", help="override server.metrics_listen (HOST:PORT)")
    p.add_argument("--audit-path", help="override audit.path (one audit file per process)")
    p.add_argument("--directory-url", help="override directory.url (an http directory)")
    p.set_defaults(func=serve)
