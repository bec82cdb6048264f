"""`agent-authz envoy-config` and `envoy-descriptor`: what Envoy needs from agent-authz."""

from __future__ import annotations

import argparse
import shutil
import sys

from authz.envoy.config import compose_config, to_yaml
from authz.envoy.descriptor import approvals_descriptor


def envoy_config(args: argparse.Namespace) -> int:
    sys.stdout.write(to_yaml(compose_config()))
    return 0


def envoy_descriptor(args: argparse.Namespace) -> int:
    """Envoy's grpc_json_transcoder needs the approval API's descriptor set as a file."""
    shutil.copyfile(approvals_descriptor(), args.out)
    print(f"approval API descriptor set: {args.out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("envoy-config", help="print the reference Envoy sidecar config (envoy/envoy.yaml)")
    p.set_defaults(func=envoy_config)
    p = sub.add_parser("envoy-descriptor", help="write the approval API's descriptor set for Envoy")
    p.add_argument("--out", required=True)
    p.set_defaults(func=envoy_descriptor)
