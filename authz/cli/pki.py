"""`agent-authz pki`: a development PKI (never for production)."""

from __future__ import annotations

import argparse
from pathlib import Path

from authz.devkit.pki import DevPki


def pki_init(args: argparse.Namespace) -> int:
    pki = DevPki.create(Path(args.dir), args.trust_domain, args.agent)
    print(f"trust bundle: {pki.bundle}\nserver certificate: {pki.server_cert}")
    for name in args.agent:
        print(f"agent {pki.spiffe_id(name)}: {pki.agent_cert(name)}")
    return 0


def pki_svid(args: argparse.Namespace) -> int:
    pki = DevPki(Path(args.dir), args.trust_domain)
    print(f"agent {pki.add_agent(args.name)}: {pki.agent_cert(args.name)}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pki", help="development PKI (never for production)")
    psub = p.add_subparsers(dest="action", required=True)
    a = psub.add_parser("init", help="make a CA, Envoy's server certificate and agent SVIDs")
    a.add_argument("--dir", required=True)
    a.add_argument("--trust-domain", default="agents.example.org")
    a.add_argument("--agent", action="append", default=[], help="agent name (repeatable)")
    a.set_defaults(func=pki_init)
    a = psub.add_parser("svid", help="issue one more agent SVID from the folder's CA")
    a.add_argument("--dir", required=True)
    a.add_argument("--trust-domain", default="agents.example.org")
    a.add_argument("--name", required=True)
    a.set_defaults(func=pki_svid)
