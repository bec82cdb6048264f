"""`agent-authz envoy-config` and `envoy-descriptor`: what Envoy needs from agent-authz."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from authz.envoy.config import compose_config, render, to_yaml
from authz.envoy.descriptor import approvals_descriptor
from authz.envoy.facts import read_facts
from authz.envoy.validate import refusal


def envoy_config(args: argparse.Namespace) -> int:
    """Without --from: the reference config docker-compose mounts (envoy/envoy.yaml)."""
    if args.facts is None:
        sys.stdout.write(to_yaml(compose_config()))
        return 0
    params = read_facts(Path(args.facts))
    rendered = to_yaml(render(params))
    if args.validate:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(rendered)
            f.flush()
            problem = refusal(Path(f.name))
        if problem is not None:
            print(f"envoy --mode validate refused it:\n{problem}", file=sys.stderr)
            return 1
    sys.stdout.write(rendered)
    return 0


def envoy_descriptor(args: argparse.Namespace) -> int:
    """Envoy's grpc_json_transcoder needs the approval API's descriptor set as a file."""
    shutil.copyfile(approvals_descriptor(), args.out)
    print(f"approval API descriptor set: {args.out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "envoy-config", help="print an Envoy sidecar config: the reference one, or one for --from FACTS.toml"
    )
    p.add_argument(
        "--from", dest="facts", metavar="FACTS", help="a TOML file with the deployment's [envoy] facts"
    )
    p.add_argument("--validate", action="store_true", help="check it with envoy --mode validate first")
    p.set_defaults(func=envoy_config)
    p = sub.add_parser("envoy-descriptor", help="write the approval API's descriptor set for Envoy")
    p.add_argument("--out", required=True)
    p.set_defaults(func=envoy_descriptor)
