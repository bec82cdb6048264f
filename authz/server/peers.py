"""Who may call the Check port when it has TLS (``[server.tls]``): gRPC has verified the client's
certificate chain against ``client_ca``; this gate also requires its SPIFFE ID — the one URI SAN
gRPC reports as ``peer_spiffe_id`` — to be one of ``allowed_clients``. Anyone else gets
PERMISSION_DENIED on every method (Check, health, the access-log and approval services); Envoy
fails closed on that error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from authz.config.model import ServerTls


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Read once at start: a certificate change needs a restart (or the SDS of a sidecar)."""
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=tls.client_ca.read_bytes(),
        require_client_auth=True,
    )


def peer_spiffe_id(context: Any) -> str | None:
    found = (context.auth_context() or {}).get("peer_spiffe_id") or []
    return found[0].decode("utf-8", "replace") if len(found) == 1 else None


class ClientGate(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, allowed: tuple[str, ...]) -> None:
        self._allowed = frozenset(allowed)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        kinds = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
        kind = next(k for k in kinds if getattr(handler, k) is not None)
        behaviour = getattr(handler, kind)

        def gated(request: Any, context: Any) -> Any:
            caller = peer_spiffe_id(context)
            if caller not in self._allowed:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, f"client {caller or '(no SPIFFE ID)'} is not allowed"
                )
            return behaviour(request, context)

        return handler._replace(**{kind: gated})
