"""Stage 1 — identity: who is calling, proven by the mTLS certificate, and may it act at all.

Envoy already validated the chain, but its SPIFFE validator accepts two URI SANs and
serverAuth-only certificates, and a request can reach this server without Envoy. So the
certificate Envoy forwards (``source.certificate``) is verified again here, with
``cryptography``'s X.509 verifier against the bundle of the SVID's own trust domain, plus the
X.509-SVID leaf rules the verifier does not enforce (``_check_svid_leaf``). The verifier
refuses unknown critical extensions (RFC 5280 §4.2) itself. Verified certificates are cached
(the check costs ~90 µs); the validity window, the agent registry and the kill switch (the
state store) are checked on every request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from authz.cache import BoundedCache
from authz.config import Agent, AgentStatus, TrustDomain
from authz.model import Caller
from authz.reasons import Denied, Reason
from authz.store import StateStore
from authz.svid.spiffe_id import SpiffeIdError, parse_spiffe_id
from authz.tokens.task import thumbprint

_CACHE_LIMIT = 4096
_MAX_CERT_CHARS = 16384
_TLS_USAGES = {ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth", ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth"}


@dataclass(frozen=True)
class VerifiedSvid:
    spiffe_id: str
    thumbprint: str  # x5t#S256, what task tokens are bound to
    not_before: dt.datetime
    not_after: dt.datetime


def _invalid(message: str) -> Denied:
    return Denied(Reason.INVALID_CLIENT_CERTIFICATE, message)


class IdentityStage:
    def __init__(
        self, trust_domains: tuple[TrustDomain, ...], agents: Mapping[str, Agent], state: StateStore
    ) -> None:
        self._stores = {d.name: Store(list(d.bundle)) for d in trust_domains}
        self._agents = agents
        self._state = state
        self._cache: BoundedCache[str, VerifiedSvid] = BoundedCache(_CACHE_LIMIT)

    def verify(self, principal: str, certificate: str, now: dt.datetime) -> Caller:
        if not certificate:
            raise Denied(Reason.MISSING_CLIENT_IDENTITY, "no client certificate was presented")
        svid = self._cache.get(certificate)
        if svid is None:
            svid = self._verify_certificate(certificate, now)
            self._cache.put(certificate, svid)
        if not svid.not_before <= now <= svid.not_after:
            raise _invalid("client certificate is outside its validity window")
        if principal != svid.spiffe_id:
            raise _invalid("source principal does not match the client certificate")
        agent = self._agents.get(svid.spiffe_id)
        if agent is None:
            raise Denied(Reason.UNKNOWN_AGENT, f"agent {svid.spiffe_id} is not registered")
        if agent.status is not AgentStatus.ACTIVE or self._state.agent_suspended(agent.spiffe_id):
            raise Denied(Reason.AGENT_SUSPENDED, f"agent {svid.spiffe_id} is suspended")
        return Caller(agent, svid.thumbprint)

    def _verify_certificate(self, certificate: str, now: dt.datetime) -> VerifiedSvid:
        if len(certificate) > _MAX_CERT_CHARS:
            raise _invalid("client certificate is too large")
        try:
            certs = x509.load_pem_x509_certificates(unquote(certificate, errors="strict").encode())
        except (ValueError, UnicodeError):
            raise _invalid("client certificate is not a valid PEM certificate") from None
        if len(certs) != 1:
            raise _invalid("expected exactly one client certificate")
        leaf = certs[0]
        spiffe_id = _single_spiffe_id(leaf)
        trust_domain, _ = parse_spiffe_id(spiffe_id)
        store = self._stores.get(trust_domain)
        if store is None:
            raise _invalid("the client certificate's trust domain is not trusted")
        _check_svid_leaf(leaf)
        verifier = PolicyBuilder().store(store).time(now).build_client_verifier()
        try:
            verifier.verify(leaf, [])
        except VerificationError:
            raise _invalid(
                "client certificate does not chain to the trust bundle or is not valid now"
            ) from None
        return VerifiedSvid(spiffe_id, thumbprint(leaf), leaf.not_valid_before_utc, leaf.not_valid_after_utc)


def _single_spiffe_id(leaf: x509.Certificate) -> str:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise _invalid("client certificate has no subject alternative name") from None
    except ValueError:
        raise _invalid("client certificate has malformed extensions") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise _invalid(f"an X.509-SVID has exactly one URI SAN, this one has {len(uris)}")
    try:
        parse_spiffe_id(uris[0])
    except SpiffeIdError as exc:
        raise _invalid(f"URI SAN is not a valid SPIFFE ID: {exc}") from None
    return uris[0]


def _check_svid_leaf(leaf: x509.Certificate) -> None:
    """X.509-SVID leaf rules (§3.1, §4.1, §4.3, §4.4, §5.2): not a CA, a critical key usage
    for signing only, both TLS usages, and a critical SAN when the Subject is empty."""
    extensions = leaf.extensions  # parsed without error by _single_spiffe_id
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise _invalid("a CA certificate cannot be a client identity")
    except x509.ExtensionNotFound:
        pass
    _check_key_usage(extensions)
    _check_extended_key_usage(extensions)
    san = extensions.get_extension_for_class(x509.SubjectAlternativeName)
    if not leaf.subject.rdns and not san.critical:
        raise _invalid("client certificate has an empty subject and a non-critical URI SAN")


def _check_key_usage(extensions: x509.Extensions) -> None:
    try:
        extension = extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        raise _invalid("client certificate has no key usage extension") from None
    if not extension.critical:
        raise _invalid("client certificate's key usage extension is not critical")
    usage = extension.value
    if not usage.digital_signature:
        raise _invalid("client certificate's key usage lacks digitalSignature")
    if usage.key_cert_sign:
        raise _invalid("client certificate's key usage has keyCertSign: it is a signing certificate")
    if usage.crl_sign:
        raise _invalid("client certificate's key usage has cRLSign: it is a signing certificate")


def _check_extended_key_usage(extensions: x509.Extensions) -> None:
    """Stricter than the SHOULD of §4.4: the extension is required, with both usages."""
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise _invalid("client certificate has no extended key usage extension") from None
    for oid, name in _TLS_USAGES.items():
        if oid not in usages:
            raise _invalid(f"an X.509-SVID has both clientAuth and serverAuth usages; this lacks {name}")
