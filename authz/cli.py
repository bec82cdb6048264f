"""The ``agent-authz`` command."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from authz.admin import add_parsers
from authz.approvals_cli import add_parsers as add_approval_parsers
from authz.audit import verify
from authz.check_cli import add_parsers as add_check_parsers
from authz.config import Config, ConfigError, load_config
from authz.errors import AuditError
from authz.policy.cli import add_parsers as add_policy_parsers
from authz.store import StoreError, StoreUnavailable


def _serve(args: argparse.Namespace) -> int:
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


def _config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.source}: ok ({len(config.agents)} agents, {len(config.routes)} routes)")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    try:
        result = verify(Path(args.file))
    except OSError as exc:
        print(f"{args.file}: cannot be read: {exc.strerror}", file=sys.stderr)
        return 2
    if result.ok:
        print(f"{args.file}: intact, {result.records} records, head {result.head}")
        return 0
    print(
        f"{args.file}: BROKEN at {result.problem} ({result.records} records verified before it)",
        file=sys.stderr,
    )
    return 1


def _pki_init(args: argparse.Namespace) -> int:
    from authz.pki import DevPki

    pki = DevPki.create(Path(args.dir), args.trust_domain, args.agent)
    print(f"trust bundle: {pki.bundle}\nserver certificate: {pki.server_cert}")
    for name in args.agent:
        print(f"agent {pki.spiffe_id(name)}: {pki.agent_cert(name)}")
    return 0


def _pki_svid(args: argparse.Namespace) -> int:
    from authz.pki import DevPki

    pki = DevPki(Path(args.dir), args.trust_domain)
    print(f"agent {pki.add_agent(args.name)}: {pki.agent_cert(args.name)}")
    return 0


def _envoy_config(args: argparse.Namespace) -> int:
    from authz.envoy_config import compose_config, to_yaml

    sys.stdout.write(to_yaml(compose_config()))
    return 0


def _envoy_descriptor(args: argparse.Namespace) -> int:
    """Envoy's grpc_json_transcoder needs the approval API's descriptor set as a file."""
    from authz.demo.stack import approvals_descriptor

    shutil.copyfile(approvals_descriptor(), args.out)
    print(f"approval API descriptor set: {args.out}")
    return 0


def _demo_keys(args: argparse.Namespace) -> int:
    from authz.demo.stack import write_demo_keys

    write_demo_keys(Path(args.dir))
    print(f"task issuer and demo approver key pairs in {args.dir}")
    return 0


def _sample_api(args: argparse.Namespace) -> int:
    from authz.demo.sample_api import Reading, serve

    try:
        reading = Reading.parse(args.lenient)
    except ValueError as exc:
        print(f"--lenient: {exc}", file=sys.stderr)
        return 2
    serve(args.host, args.port, Path(args.record) if args.record else None, reading)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from authz.demo.run import run_demo

    return run_demo(json_path=Path(args.json) if args.json else None, hold=args.hold)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-authz", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the ext_authz gRPC server")
    p.add_argument("--config", required=True)
    p.add_argument("--listen", help="override server.listen (HOST:PORT)")
    p.add_argument("--metrics-listen", help="override server.metrics_listen (HOST:PORT)")
    p.add_argument("--audit-path", help="override audit.path (one audit file per process)")
    p.add_argument("--directory-url", help="override directory.url (an http directory)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="action", required=True)
    c = csub.add_parser("check", help="validate a config file and exit")
    c.add_argument("--config", required=True)
    c.set_defaults(func=_config_check)

    add_parsers(sub)
    add_approval_parsers(sub)
    add_policy_parsers(sub)
    add_check_parsers(sub)

    p = sub.add_parser("audit", help="audit log tools")
    asub = p.add_subparsers(dest="action", required=True)
    a = asub.add_parser("verify", help="verify the hash chain; non-zero names the first broken record")
    a.add_argument("file")
    a.set_defaults(func=_audit_verify)

    p = sub.add_parser("pki", help="development PKI (never for production)")
    psub = p.add_subparsers(dest="action", required=True)
    a = psub.add_parser("init", help="make a CA, Envoy's server certificate and agent SVIDs")
    a.add_argument("--dir", required=True)
    a.add_argument("--trust-domain", default="agents.example.org")
    a.add_argument("--agent", action="append", default=[], help="agent name (repeatable)")
    a.set_defaults(func=_pki_init)
    a = psub.add_parser("svid", help="issue one more agent SVID from the folder's CA")
    a.add_argument("--dir", required=True)
    a.add_argument("--trust-domain", default="agents.example.org")
    a.add_argument("--name", required=True)
    a.set_defaults(func=_pki_svid)

    p = sub.add_parser("envoy-config", help="print the reference Envoy sidecar config (envoy/envoy.yaml)")
    p.set_defaults(func=_envoy_config)

    p = sub.add_parser("envoy-descriptor", help="write the approval API's descriptor set for Envoy")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_envoy_descriptor)

    p = sub.add_parser("demo-keys", help="the demo config's issuer and approver keys (development only)")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=_demo_keys)

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
    p.set_defaults(func=_sample_api)

    p = sub.add_parser("demo", help="run the scripted demo through a real Envoy over mTLS")
    p.add_argument("--json", help="also write the results to this file as a JSON list")
    p.add_argument("--hold", action="store_true", help="keep the stack up until Ctrl-C")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except AuditError as exc:
        print(f"audit error: {exc}", file=sys.stderr)
        return 2
    except (StoreError, StoreUnavailable) as exc:
        print(f"state store error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
