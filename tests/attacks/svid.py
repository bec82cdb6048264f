"""X.509-SVID attacks: certificates Envoy refuses in the handshake, and those only agent-authz refuses.

Envoy's SPIFFE validator (with the trust domain's URI SAN matcher) refuses an expired or
not-yet-valid certificate, one from another CA or trust domain, a CA certificate, and leaves
with CA-only key usages or no digitalSignature; it accepts two URI SANs, a non-critical key
usage and any extended key usage (measured) — stage 1 refuses those.
"""

from __future__ import annotations

from typing import Any

from authz.devkit.pki import CLIENT_AUTH, SERVER_AUTH

from .model import ALLOWED, HANDSHAKE, SVID, Case, Svid, forbidden, unauthorized

INVALID_CERT = unauthorized("invalid_client_certificate")


def case(id: str, attack: str, expect: Any, **kwargs: Any) -> Case:
    return Case(id, SVID, attack, expect, **kwargs)


def svid(*options: tuple[str, Any], **kwargs: Any) -> Svid:
    return Svid(options=options, **kwargs)


CASES = [
    case("svid-proper", "baseline: an SVID made at test time by the trust domain's CA", ALLOWED, cert=svid()),
    case("svid-no-certificate", "no client certificate", HANDSHAKE, cert=Svid(issuer="none")),
    case("svid-two-uri-sans", "two URI SANs (helpdesk-bot and admin-bot)", INVALID_CERT,
         cert=Svid(extra_ids=("spiffe://agents.example.org/agent/admin-bot",))),
    case("svid-ca-leaf", "a leaf with `cA: true`", HANDSHAKE, cert=svid(("is_ca", True))),
    case("svid-crl-sign", "key usage with cRLSign", HANDSHAKE,
         cert=svid(("key_usage", ("digital_signature", "crl_sign")))),
    case("svid-key-cert-sign", "key usage with keyCertSign", HANDSHAKE,
         cert=svid(("key_usage", ("digital_signature", "key_cert_sign")))),
    case("svid-no-digital-signature", "key usage without digitalSignature", HANDSHAKE,
         cert=svid(("key_usage", ("key_encipherment", "key_agreement")))),
    case("svid-key-usage-not-critical", "key usage not critical", INVALID_CERT,
         cert=svid(("key_usage_critical", False))),
    case("svid-client-auth-only", "extended key usage clientAuth only", INVALID_CERT,
         cert=svid(("usages", (CLIENT_AUTH,)))),
    case("svid-server-auth-only", "extended key usage serverAuth only", INVALID_CERT,
         cert=svid(("usages", (SERVER_AUTH,)))),
    case("svid-no-eku", "no extended key usage", INVALID_CERT, cert=svid(("usages", ()))),
    case("svid-other-trust-domain", "issued by another trust domain's CA (`evil.example.com`)",
         HANDSHAKE, cert=Svid(issuer="other-domain")),
    case("svid-rogue-ca", "our trust domain's ID, issued by a CA outside the bundle", HANDSHAKE,
         cert=Svid(issuer="rogue-ca")),
    case("svid-the-ca-itself", "the CA certificate presented as a client certificate", HANDSHAKE,
         cert=Svid(issuer="the-ca")),
    case("svid-expired", "an expired certificate", HANDSHAKE, cert=Svid(valid_days=(-2, -1))),
    case("svid-not-yet-valid", "a certificate not valid yet", HANDSHAKE, cert=Svid(valid_days=(1, 2))),
    case("svid-unregistered-agent", "a valid SVID of an agent not in the registry (rogue-bot)",
         forbidden("unknown_agent"), agent="rogue-bot"),
    case("svid-suspended-agent", "a registered agent whose status is suspended",
         forbidden("agent_suspended"), agent="suspended-bot"),
]  # fmt: skip
