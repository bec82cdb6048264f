"""Stage 1 at its edges: the certificate cache, the validity window to the second, the size cap,
strict URL-decoding; and trust bundle certificates carrying several URI SANs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authz.config import Agent, AgentStatus, TrustDomain
from authz.devkit.pki import Issued, make_ca, make_svid
from authz.reasons import Denied, Reason
from authz.stages.identity import _MAX_CERT_CHARS, IdentityStage, VerifiedSvid
from authz.svid.bundle import check_trust_bundle

TRUST_DOMAIN = "agents.example.org"
BOT = f"spiffe://{TRUST_DOMAIN}/agent/helpdesk-bot"
CA = make_ca(TRUST_DOMAIN)  # valid for a day from a few minutes ago
T0 = CA.cert.not_valid_before_utc.replace(microsecond=0) + dt.timedelta(minutes=1)  # the leaf's window
T1 = T0 + dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


class Store:
    def agent_suspended(self, spiffe_id: str) -> bool:
        return False


@pytest.fixture(scope="module")
def ca() -> Issued:
    return CA


@pytest.fixture(scope="module")
def leaf(ca: Issued) -> Issued:
    return make_svid(ca, BOT, not_before=T0, not_after=T1)


def stage(ca: Issued) -> IdentityStage:
    domain = TrustDomain(TRUST_DOMAIN, Path("bundle.pem"), (ca.cert,))
    agents = {BOT: Agent(BOT, "it-helpdesk@example.org", AgentStatus.ACTIVE)}
    return IdentityStage((domain,), agents, Store())  # type: ignore[arg-type]


def envoy(issued: Issued) -> str:
    return quote(issued.cert_pem.decode(), safe="")


def test_a_certificate_is_verified_once_then_answered_from_the_cache(ca: Issued, leaf: Issued) -> None:
    s = stage(ca)
    verified: list[VerifiedSvid] = []
    real = s._verify_certificate

    def counting(certificate: str, now: dt.datetime) -> VerifiedSvid:
        verified.append(real(certificate, now))
        return verified[-1]

    s._verify_certificate = counting  # type: ignore[method-assign]
    first = s.verify(BOT, envoy(leaf), T0 + SECOND)
    second = s.verify(BOT, envoy(leaf), T0 + 2 * SECOND)
    assert first == second and len(verified) == 1


@pytest.mark.parametrize(
    ("now", "valid"),
    [(T0 - SECOND, False), (T0, True), (T1, True), (T1 + SECOND, False)],
    ids=["before", "not-before", "not-after", "after"],
)
def test_the_validity_window_includes_both_ends_on_every_request(
    ca: Issued, leaf: Issued, now: dt.datetime, valid: bool
) -> None:
    s = stage(ca)
    s.verify(BOT, envoy(leaf), T0 + SECOND)  # verified once, inside the window: cached
    if valid:
        assert s.verify(BOT, envoy(leaf), now).agent.spiffe_id == BOT
    else:
        with pytest.raises(Denied) as info:
            s.verify(BOT, envoy(leaf), now)
        assert info.value.reason is Reason.INVALID_CLIENT_CERTIFICATE


def test_a_certificate_of_exactly_the_size_cap_is_read(ca: Issued, leaf: Issued) -> None:
    certificate = envoy(leaf) + "\n" * (_MAX_CERT_CHARS - len(envoy(leaf)))
    assert len(certificate) == _MAX_CERT_CHARS
    assert stage(ca).verify(BOT, certificate, T0 + SECOND).agent.spiffe_id == BOT
    with pytest.raises(Denied, match="too large"):
        stage(ca).verify(BOT, certificate + "\n", T0 + SECOND)


def test_attack_escape_that_is_not_utf8_outside_the_pem_block(ca: Issued, leaf: Issued) -> None:
    with pytest.raises(Denied) as info:
        stage(ca).verify(BOT, envoy(leaf) + "%FF", T0 + SECOND)
    assert info.value.reason is Reason.INVALID_CLIENT_CERTIFICATE


def signing_certificate(*uris: str) -> x509.Certificate:
    """A proper self-signed signing certificate carrying ``uris`` as URI SANs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bundle test CA")])
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), False)
    )
    return builder.sign(key, hashes.SHA256())


def test_uri_sans_of_other_schemes_are_ignored_in_a_bundle() -> None:
    check_trust_bundle(
        TRUST_DOMAIN, [signing_certificate("https://ca.example.com", f"spiffe://{TRUST_DOMAIN}")]
    )


@pytest.mark.parametrize(
    ("uris", "why"),
    [
        (("https://ca.example.com", "spiffe://evil.example.com"), "another trust domain"),  # after another
        ((f"spiffe://{TRUST_DOMAIN}:8443",), "not a valid SPIFFE ID"),  # a port: still a SPIFFE ID
    ],
)
def test_attack_bundle_certificate_with_a_spiffe_id_hidden_among_uris(
    uris: tuple[str, ...], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        check_trust_bundle(TRUST_DOMAIN, [signing_certificate(*uris)])
