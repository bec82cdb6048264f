"""The listener's certificate from SDS (Envoy's secret discovery), so that it rotates without a
restart: from the SPIRE agent's SDS socket (certificate and trust bundles, as SPIRE issues
them), or from a file Envoy watches (a rotation is a rename into the watched folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
SPIRE_CLUSTER = "spire_agent"


@dataclass(frozen=True)
class Sds:
    kind: str  # "spire" (path: the agent's socket) | "file" (path: an SDS YAML file Envoy watches)
    path: str
    cert_name: str = "server"  # spire: the SVID's SPIFFE ID, as SPIRE names the secret
    bundle_name: str = "ALL"  # spire: "ALL" bundles (own and federated), with SPIFFE validation


def _source(sds: Sds) -> dict[str, Any]:
    if sds.kind == "file":
        folder = str(Path(sds.path).parent)
        return {"path_config_source": {"path": sds.path, "watched_directory": {"path": folder}}}
    return {
        "resource_api_version": "V3",
        "api_config_source": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": SPIRE_CLUSTER}}],
        },
    }


def sds_certificates(sds: Sds, names: list[dict[str, Any]]) -> dict[str, Any]:
    """The common_tls_context keys: the certificate from SDS; from SPIRE, the bundles too."""
    out: dict[str, Any] = {
        "tls_certificate_sds_secret_configs": [{"name": sds.cert_name, "sds_config": _source(sds)}]
    }
    if sds.kind == "spire":
        out["combined_validation_context"] = {
            "default_validation_context": {"match_typed_subject_alt_names": names},
            "validation_context_sds_secret_config": {"name": sds.bundle_name, "sds_config": _source(sds)},
        }
    return out


def spire_cluster(socket: str) -> dict[str, Any]:
    """The SPIRE agent's Workload API socket (gRPC over a Unix socket)."""
    return {
        "name": SPIRE_CLUSTER,
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": SPIRE_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": socket}}}}]}],
        },
    }


def sds_file(cert: str, key: str, name: str = "server") -> str:
    """An SDS file (a DiscoveryResponse) naming the certificate and key files: what ``Sds("file")``
    points at. Rotate by writing new files and renaming a new SDS file over this one."""
    return (
        "resources:\n"
        '- "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"\n'
        f"  name: {name}\n"
        "  tls_certificate:\n"
        f"    certificate_chain: {{filename: {cert}}}\n"
        f"    private_key: {{filename: {key}}}\n"
    )
