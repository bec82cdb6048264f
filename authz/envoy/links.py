"""Envoy's links beyond the basic listener (``authz/envoy/config.py`` renders them): the access log
that carries each request's outcome to agent-authz, mTLS to a protected Check port, and TLS to
an IAM API served over HTTPS."""

from __future__ import annotations

from typing import Any

TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."


def outcomes_log(flush: str) -> dict[str, Any]:
    """Every request's outcome (status, duration, bytes, upstream failure flags) streamed to
    agent-authz's access-log service, with the decision id it set and Envoy's x-request-id."""
    return {
        "name": "envoy.access_loggers.http_grpc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
            "common_config": {
                "log_name": "agent-authz-outcomes",
                "transport_api_version": "V3",
                "grpc_service": {"envoy_grpc": {"cluster_name": "agent_authz"}},
                "buffer_flush_interval": flush,
            },
            "additional_request_headers_to_log": ["x-authz-decision-id"],
            "additional_response_headers_to_log": ["x-authz-decision-id"],
        },
    }


def authz_tls(files: tuple[str, str, str]) -> dict[str, Any]:
    """mTLS to a protected Check port: Envoy shows its own certificate (its SPIFFE ID must be in
    agent-authz's allowed_clients) and checks agent-authz's against the CA."""
    cert, key, ca = files
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS + "UpstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [
                    {"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}
                ],
                "validation_context": {"trusted_ca": {"filename": ca}},
                "alpn_protocols": ["h2"],
            },
        },
    }


def upstream_tls(ca: str, sni: str) -> dict[str, Any]:
    """TLS to the IAM API: its certificate checked against ``ca`` for the name ``sni``."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS + "UpstreamTlsContext",
            "sni": sni,
            "common_tls_context": {
                "validation_context": {
                    "trusted_ca": {"filename": ca},
                    "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": sni}}],
                }
            },
        },
    }
