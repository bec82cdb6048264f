"""``[server.tls]``: TLS with client certificates on the Check port, for a deployment where it is
not on loopback. Files are read and checked at start; the server loads them once.

[server.tls]
cert = "/etc/agent-authz/tls/server.crt"        # agent-authz's certificate and key (PEM)
key = "/etc/agent-authz/tls/server.key"
client_ca = "/etc/agent-authz/tls/sidecars.pem" # what a client certificate must chain to
allowed_clients = ["spiffe://prod.example.org/ns/iam/sa/iam-api"]  # the Envoy sidecars
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authz.config.model import ServerTls
from authz.config.table import Table, string_list
from authz.svid.spiffe_id import SpiffeIdError, parse_spiffe_id


def server_tls(t: Table) -> ServerTls:
    cert, key, ca = t.path("cert"), t.path("key"), t.path("client_ca")
    try:
        x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise t.fail("cert", f"{cert}: not a PEM certificate ({exc})") from None
    try:
        serialization.load_pem_private_key(key.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise t.fail("key", f"{key}: not an unencrypted PEM private key ({type(exc).__name__})") from None
    try:
        if not x509.load_pem_x509_certificates(ca.read_bytes()):
            raise ValueError("no certificate")
    except (OSError, ValueError) as exc:
        raise t.fail("client_ca", f"{ca}: not a PEM bundle ({exc})") from None
    clients = string_list(t, "allowed_clients")
    for client in clients:
        try:
            parse_spiffe_id(client)
        except SpiffeIdError as exc:
            raise t.fail("allowed_clients", f"{client!r} is not a SPIFFE ID: {exc}") from None
    t.done()
    return ServerTls(cert, key, ca, tuple(clients))
