"""The Envoy sidecar config (envoy/README.md), built in one place for every use.

``envoy/envoy.yaml`` (docker-compose), the demo, the end-to-end tests and the benchmark all
render their config here, so the settings that matter are the same everywhere; envoy/README.md
explains each of them. A test checks that ``envoy/envoy.yaml`` matches ``compose_config()``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from authz.envoy.links import TLS as _TLS
from authz.envoy.links import authz_tls, outcomes_log, upstream_tls
from authz.envoy.sds import Sds, sds_certificates, spire_cluster
from authz.headers import INJECTED_HEADERS, METHOD_OVERRIDE_HEADERS, PATH_OVERRIDE_HEADERS
from authz.wellknown import POLL_PATH

_FILTERS = "type.googleapis.com/envoy.extensions.filters."
_HTTP2 = {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}},
    }
}


@dataclass(frozen=True)
class EnvoyParams:
    server_cert: str
    server_key: str
    trust_domains: Sequence[tuple[str, str]]  # (name, trust bundle file)
    listen: tuple[str, int] = ("127.0.0.1", 8443)
    admin: tuple[str, int] = ("127.0.0.1", 9901)
    authz: Sequence[tuple[str, int]] = (("127.0.0.1", 9001),)  # one endpoint per authz process
    upstream: tuple[str, int] = ("127.0.0.1", 8080)
    dns: bool = False  # STRICT_DNS clusters (container names) instead of STATIC addresses
    authz_timeout: str = "0.5s"
    max_request_bytes: int = 65536
    health_check_interval: str = "1s"
    # Benchmark only: answer allowed requests directly instead of proxying to the upstream,
    # and add a plain-HTTP front listener that re-originates mTLS with this client SVID.
    direct_response: bool = False
    front: tuple[str, int] | None = None
    front_client: tuple[str, str] | None = None  # (cert, key)
    # The agent-facing approval API: descriptor set for grpc_json_transcoder (None: no API route).
    approvals_descriptor: str | None = None
    # Envoy's gRPC access log to agent-authz: each request's outcome, in the audit (None: off).
    outcomes_flush: str | None = "0.25s"
    # A protected Check port ([server.tls]): (Envoy's client cert, its key, the CA of agent-authz's
    # server certificate). None: plaintext to agent-authz, for loopback.
    authz_tls: tuple[str, str, str] | None = None
    # The listener's certificate from SDS instead of files: SPIRE's agent socket, or a file Envoy
    # watches (rotation without a restart). None: server_cert/server_key files, read at start.
    sds: Sds | None = None
    upstream_tls: tuple[str, str] | None = None  # (CA bundle, SNI) of an API served over TLS
    node: tuple[str, str] = ("agent-authz-sidecar", "iam-api")  # (id, cluster): SDS needs a node
    extra: dict[str, Any] = field(default_factory=dict)


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(name: str, endpoints: Sequence[tuple[str, int]], p: EnvoyParams, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STRICT_DNS" if p.dns else "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _address(h, port)}} for h, port in endpoints]}
            ],
        },
        **extra,
    }


def _downstream_tls(p: EnvoyParams) -> dict[str, Any]:
    names = [{"san_type": "URI", "matcher": {"prefix": f"spiffe://{name}/"}} for name, _ in p.trust_domains]
    context: dict[str, Any] = {"tls_params": {"tls_minimum_protocol_version": "TLSv1_2"}}
    if p.sds is not None:  # certificates (and, from SPIRE, the bundles) that rotate without a restart
        context |= sds_certificates(p.sds, names)
    else:
        context["tls_certificates"] = [
            {"certificate_chain": {"filename": p.server_cert}, "private_key": {"filename": p.server_key}}
        ]
    if p.sds is None or p.sds.kind == "file":
        context["validation_context"] = {
            "match_typed_subject_alt_names": names,
            "custom_validator_config": {
                "name": "envoy.tls.cert_validator.spiffe",
                "typed_config": {
                    "@type": _TLS + "SPIFFECertValidatorConfig",
                    "trust_domains": [
                        {"name": name, "trust_bundle": {"filename": bundle}}
                        for name, bundle in p.trust_domains
                    ],
                },
            },
        }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _TLS + "DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": context,
        },
    }


def _http_filters(p: EnvoyParams) -> list[dict[str, Any]]:
    return [
        {
            "name": "envoy.filters.http.header_mutation",
            "typed_config": {
                "@type": _FILTERS + "http.header_mutation.v3.HeaderMutation",
                "mutations": {"request_mutations": [{"remove": h} for h in INJECTED_HEADERS]},
            },
        },
        {
            "name": "envoy.filters.http.ext_authz",
            "typed_config": {
                "@type": _FILTERS + "http.ext_authz.v3.ExtAuthz",
                "transport_api_version": "V3",
                "grpc_service": {"envoy_grpc": {"cluster_name": "agent_authz"}, "timeout": p.authz_timeout},
                "include_peer_certificate": True,
                "with_request_body": {
                    "max_request_bytes": p.max_request_bytes,
                    "allow_partial_message": False,
                    "pack_as_bytes": True,
                },
                "failure_mode_allow": False,
                "status_on_error": {"code": "ServiceUnavailable"},
            },
        },
        {
            # Defence in depth: agent-authz refuses a request carrying one of these; were one
            # ever allowed, the upstream still would not see it.
            "name": "strip_rewriting_headers",
            "typed_config": {
                "@type": _FILTERS + "http.header_mutation.v3.HeaderMutation",
                "mutations": {
                    "request_mutations": [
                        {"remove": h} for h in (*METHOD_OVERRIDE_HEADERS, *PATH_OVERRIDE_HEADERS)
                    ]
                },
            },
        },
        *_transcoder(p),
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": _FILTERS + "http.router.v3.Router"},
        },
    ]


APPROVALS_SERVICE = "agent_authz.approvals.v1.AgentApprovals"
POLL_PREFIX = POLL_PATH


def _transcoder(p: EnvoyParams) -> list[dict[str, Any]]:
    """JSON over HTTP → gRPC for the approval API, after ext_authz has identified the agent."""
    if p.approvals_descriptor is None:
        return []
    return [
        {
            "name": "envoy.filters.http.grpc_json_transcoder",
            "typed_config": {
                "@type": _FILTERS + "http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                "proto_descriptor": p.approvals_descriptor,
                "services": [APPROVALS_SERVICE],
                "convert_grpc_status": True,
                "print_options": {"always_print_primitive_fields": True, "preserve_proto_field_names": True},
            },
        }
    ]


def _agents_listener(p: EnvoyParams) -> dict[str, Any]:
    if p.direct_response:
        route: dict[str, Any] = {
            "match": {"prefix": "/"},
            "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
        }
    else:
        route = {"match": {"prefix": "/"}, "route": {"cluster": "iam_api", "timeout": "10s"}}
    routes = [route]
    if p.approvals_descriptor is not None:
        # The transcoder rewrites the path to the gRPC method's and routes again: both go to
        # agent-authz. ext_authz has decided on the path the agent sent, so an agent sending the
        # gRPC path itself is refused there (unknown_route).
        routes[:0] = [
            {"match": {"prefix": prefix}, "route": {"cluster": "agent_authz", "timeout": "5s"}}
            for prefix in (POLL_PREFIX, f"/{APPROVALS_SERVICE}/")
        ]
    hcm = {
        "@type": _FILTERS + "network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "agents",
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "forward_client_cert_details": "SANITIZE",
        "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
        "route_config": {
            "name": "iam_api",
            "virtual_hosts": [{"name": "iam_api", "domains": ["*"], "routes": routes}],
        },
        "http_filters": _http_filters(p),
        **({"access_log": [outcomes_log(p.outcomes_flush)]} if p.outcomes_flush else {}),
    }
    return {
        "name": "agents_mtls",
        "address": _address(*p.listen),
        "filter_chains": [
            {
                "transport_socket": _downstream_tls(p),
                "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
            }
        ],
    }


def _front_listener(p: EnvoyParams) -> dict[str, Any]:
    assert p.front is not None
    hcm = {
        "@type": _FILTERS + "network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench_front",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "loop",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "agents_mtls_loop"}}],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": _FILTERS + "http.router.v3.Router"},
            }
        ],
    }
    return {
        "name": "bench_front",
        "address": _address(*p.front),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }


def _loop_cluster(p: EnvoyParams) -> dict[str, Any]:
    assert p.front_client is not None
    cert, key = p.front_client
    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _TLS + "UpstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [
                    {"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}
                ]
            },
        },
    }
    return _cluster("agents_mtls_loop", [p.listen], p, transport_socket=tls)


def render(p: EnvoyParams) -> dict[str, Any]:
    authz_cluster = _cluster(
        "agent_authz",
        p.authz,
        p,
        typed_extension_protocol_options=_HTTP2,
        # No panic mode: with every endpoint unhealthy (NOT_SERVING), send no Check at all.
        common_lb_config={"healthy_panic_threshold": {"value": 0}},
        **({"transport_socket": authz_tls(p.authz_tls)} if p.authz_tls else {}),
        health_checks=[
            {
                "timeout": "0.25s",
                "interval": p.health_check_interval,
                "no_traffic_interval": p.health_check_interval,
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": "envoy.service.auth.v3.Authorization"},
            }
        ],
    )
    listeners = [_agents_listener(p)]
    clusters = [authz_cluster]
    if not p.direct_response:
        tls = {"transport_socket": upstream_tls(*p.upstream_tls)} if p.upstream_tls else {}
        clusters.append(_cluster("iam_api", [p.upstream], p, **tls))
    if p.sds is not None and p.sds.kind == "spire":
        clusters.append(spire_cluster(p.sds.path))
    if p.front is not None:
        listeners.append(_front_listener(p))
        clusters.append(_loop_cluster(p))
    return {
        **({"node": {"id": p.node[0], "cluster": p.node[1]}} if p.sds is not None else {}),
        "admin": {"address": _address(*p.admin)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        **p.extra,
    }


def compose_config() -> dict[str, Any]:
    """The config docker-compose.yml mounts (checked in as envoy/envoy.yaml)."""
    pki = "/etc/agent-authz/pki"
    return render(
        EnvoyParams(
            server_cert=f"{pki}/server.crt",
            server_key=f"{pki}/server.key",
            trust_domains=[("agents.example.org", f"{pki}/ca.crt")],
            listen=("0.0.0.0", 8443),
            admin=("0.0.0.0", 9901),
            authz=[("authz", 9001), ("authz2", 9001)],  # two replicas sharing the Redis store
            upstream=("iam-api", 8080),
            dns=True,
            approvals_descriptor=f"{pki}/agent_authz.pb",
        )
    )


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small YAML emitter for the config's dicts, lists and scalars."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_scalar(key)}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{_scalar(key)}: {_inline(item)}\n")
    elif isinstance(value, list):
        for item in value:
            nested = to_yaml(item, indent + 1)
            lines.append(
                f"{pad}- {nested.lstrip()}"
                if isinstance(item, dict | list) and item
                else f"{pad}- {_inline(item)}\n"
            )
    else:
        lines.append(pad + _scalar(value) + "\n")
    return "".join(lines)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
