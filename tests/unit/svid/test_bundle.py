"""Trust bundles (``authz/svid/bundle.py``, X509-SVID §3.2): signing certificates only, with the
trust domain's ID and no path — checked once when the config is read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from factories import BOT, TRUST_DOMAIN, World, envoy_cert, make_world

from authz.config import TrustDomain
from authz.devkit.pki import make_ca, make_svid
from authz.stages.identity import IdentityStage
from authz.store.sqlite import SqliteStore
from authz.svid.bundle import check_trust_bundle

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # a bundle is checked without regard to time
T1 = T0 + dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("bundle"))


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def test_dev_pki_bundle_is_a_proper_trust_bundle(world: World) -> None:
    (domain,) = world.config().trust_domains
    check_trust_bundle(domain.name, domain.bundle)


def test_signing_certificate_without_spiffe_id_is_accepted_in_a_bundle() -> None:
    check_trust_bundle(TRUST_DOMAIN, [make_ca(TRUST_DOMAIN, omit=(x509.SubjectAlternativeName,)).cert])


def test_attack_leaf_in_the_trust_bundle(world: World, store: SqliteStore, now: dt.datetime) -> None:
    # cryptography's verifier takes every certificate of its store as a trust anchor: a leaf
    # placed in the bundle authenticates itself, whoever issued it (measured, cryptography 50).
    leaf = make_svid(make_ca(TRUST_DOMAIN), BOT)
    bundle = (leaf.cert,)
    domain = TrustDomain(TRUST_DOMAIN, Path("bundle.pem"), bundle)
    stage = IdentityStage((domain,), world.config().agents, store)
    assert stage.verify(BOT, envoy_cert(leaf), now).agent.spiffe_id == BOT  # why the bundle is checked
    with pytest.raises(ValueError, match="not a signing certificate"):
        check_trust_bundle(TRUST_DOMAIN, bundle)


BundleFactory = Callable[[World], list[x509.Certificate]]


@pytest.mark.parametrize(
    ("make_bundle", "why"),
    [
        (lambda w: [w.ca.cert, w.svid(BOT).cert], "certificate 2 of 2: not a signing certificate: basic"),
        (lambda w: [make_ca(TRUST_DOMAIN, omit=(x509.BasicConstraints,)).cert], "cA is not true"),
        (lambda w: [make_ca(TRUST_DOMAIN, is_ca=False, key_usage=("key_cert_sign",)).cert], "cA is not true"),
        (lambda w: [make_ca(TRUST_DOMAIN, key_usage=("crl_sign",)).cert], "keyCertSign is not set"),
        (lambda w: [make_ca(TRUST_DOMAIN, omit=(x509.KeyUsage,)).cert], "keyCertSign is not set"),
        (lambda w: [make_ca(TRUST_DOMAIN, spiffe_id=f"spiffe://{TRUST_DOMAIN}/ca").cert], "has a path"),
        (lambda w: [make_ca("evil.example.com").cert], "another trust domain"),
        (lambda w: [make_ca(TRUST_DOMAIN, spiffe_id="spiffe://Agents.example.org").cert], "not a valid"),
        (lambda w: [make_ca(TRUST_DOMAIN, spiffe_id="SPIFFE://agents.example.org").cert], "not a valid"),
        (lambda w: [], "no certificate"),
    ],
    ids=[
        "leaf-after-the-ca",
        "no-basic-constraints",
        "ca-flag-false",
        "no-key-cert-sign",
        "no-key-usage",
        "spiffe-id-with-path",
        "other-trust-domain",
        "uppercase-trust-domain-id",
        "uppercase-scheme-id",
        "empty",
    ],
)
def test_improper_trust_bundles_are_refused(world: World, make_bundle: BundleFactory, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_trust_bundle(TRUST_DOMAIN, make_bundle(world))


def test_trust_bundle_of_an_invalid_trust_domain_name_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="not a SPIFFE trust domain name"):
        check_trust_bundle("Agents.example.org", [world.ca.cert])


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
