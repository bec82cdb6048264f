"""Development PKI: a CA (the trust bundle), agent X.509-SVIDs and Envoy's server certificate.

For demos and tests only — production SVIDs come from SPIRE or another SPIFFE issuer. The
defaults make proper X.509-SVIDs (SPIFFE X509-SVID §3–4: one URI SAN, critical key usage with
digitalSignature, cA false, clientAuth and serverAuth usages). The functions also take unusual
options (two URI SANs, other key usages, an empty subject, extra or missing extensions, past
validity…) so tests can make the certificates attacks are built from.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

# The key usage bits, named as ``x509.KeyUsage``'s arguments.
KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
LEAF_KEY_USAGE = ("digital_signature", "key_encipherment")
CA_KEY_USAGE = ("key_cert_sign", "crl_sign")

# An extension given as (value, critical), e.g. an unknown critical one:
# (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), True)
ExtraExtension = tuple[x509.ExtensionType, bool]


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.write_bytes(self.cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.key_pem)


def key_usage(bits: Collection[str]) -> x509.KeyUsage:
    """The key usage extension with exactly ``bits`` set (names from ``KEY_USAGE_BITS``)."""
    unknown = set(bits) - set(KEY_USAGE_BITS)
    if unknown:
        raise ValueError(f"unknown key usage bits: {sorted(unknown)}")
    return x509.KeyUsage(**{name: name in bits for name in KEY_USAGE_BITS})


@dataclass(frozen=True)
class _Shape:
    """What a certificate carries besides its names and key; the defaults of a proper leaf."""

    is_ca: bool = False
    key_usage: Collection[str] | None = None  # None: the proper bits for a leaf or a CA
    key_usage_critical: bool = True
    usages: Sequence[x509.ObjectIdentifier] = ()  # extended key usages; () leaves it out
    san_critical: bool = False
    omit: Collection[type[x509.ExtensionType]] = ()  # extensions to leave out entirely
    extra: Sequence[ExtraExtension] = ()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(subject: str) -> x509.Name:
    """``subject`` as a common name under the dev organisation; "" is an empty Subject."""
    if not subject:
        return x509.Name([])
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agent-authz dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )


def _issue(
    subject: x509.Name,
    sans: list[x509.GeneralName],
    key: ec.EllipticCurvePrivateKey,
    issuer: Issued | None,
    shape: _Shape,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> Issued:
    """A certificate for ``key``, signed by ``issuer`` (self-signed when None)."""
    start = not_before or (_now() - dt.timedelta(minutes=5))
    signer = issuer.key if issuer else key
    bits = shape.key_usage
    if bits is None:
        bits = CA_KEY_USAGE if shape.is_ca else LEAF_KEY_USAGE
    extensions: list[ExtraExtension] = [
        (x509.BasicConstraints(ca=shape.is_ca, path_length=0 if shape.is_ca else None), True),
        (key_usage(bits), shape.key_usage_critical),
        (x509.SubjectAlternativeName(sans), shape.san_critical),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
    ]
    if issuer is not None:
        extensions.append((x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False))
    if shape.usages:
        extensions.append((x509.ExtendedKeyUsage(list(shape.usages)), False))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or (start + dt.timedelta(days=1)))
    )
    for value, critical in [*extensions, *shape.extra]:
        if type(value) not in shape.omit:
            builder = builder.add_extension(value, critical=critical)
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def make_ca(
    trust_domain: str,
    *,
    not_after: dt.datetime | None = None,
    spiffe_id: str | None = None,
    is_ca: bool = True,
    key_usage: Collection[str] | None = None,
    omit: Collection[type[x509.ExtensionType]] = (),
) -> Issued:
    """A self-signed signing certificate whose SPIFFE ID is the trust domain's (X509-SVID §3.2).

    ``spiffe_id``, ``is_ca``, ``key_usage`` and ``omit`` make improper ones for bundle tests.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe_id or f"spiffe://{trust_domain}")]
    shape = _Shape(is_ca=is_ca, key_usage=key_usage, omit=omit)
    return _issue(_name(f"{trust_domain} dev CA"), sans, key, None, shape, None, not_after)


def make_svid(
    ca: Issued,
    spiffe_ids: str | Sequence[str],
    *,
    usages: Sequence[x509.ObjectIdentifier] = (CLIENT_AUTH, SERVER_AUTH),
    is_ca: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: Collection[str] | None = None,
    key_usage_critical: bool = True,
    subject: str | None = None,
    san_critical: bool = False,
    omit: Collection[type[x509.ExtensionType]] = (),
    extra_extensions: Sequence[ExtraExtension] = (),
) -> Issued:
    """An X.509-SVID issued by ``ca``. A proper one has exactly one URI SAN, a critical key
    usage with digitalSignature (and neither keyCertSign nor cRLSign), cA false and both
    clientAuth and serverAuth usages, as SPIRE issues them.

    ``key_usage``: the bits to set (None: a leaf's proper ones, or a CA's with ``is_ca``);
    ``subject``: the common name (None: the ID's last segment; "" leaves the Subject empty);
    ``omit``: extension types to leave out, e.g. ``(x509.KeyUsage,)``; ``extra_extensions``:
    more (value, critical) pairs.
    """
    ids = [spiffe_ids] if isinstance(spiffe_ids, str) else list(spiffe_ids)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(i) for i in ids]
    if subject is None:
        subject = ids[0].rsplit("/", 1)[-1] if ids else "svid"
    shape = _Shape(
        is_ca=is_ca,
        key_usage=key_usage,
        key_usage_critical=key_usage_critical,
        usages=usages,
        san_critical=san_critical,
        omit=omit,
        extra=extra_extensions,
    )
    key = ec.generate_private_key(ec.SECP256R1())
    return _issue(_name(subject), sans, key, ca, shape, not_before, not_after)


def make_server_cert(
    ca: Issued, dns_names: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",)
) -> Issued:
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    shape = _Shape(usages=(SERVER_AUTH, CLIENT_AUTH))
    key = ec.generate_private_key(ec.SECP256R1())
    return _issue(_name(dns_names[0] if dns_names else "server"), sans, key, ca, shape, None, None)


@dataclass(frozen=True)
class DevPki:
    """A PKI folder: ca.crt (the trust bundle), ca.key, server.crt/key, agents/NAME.crt/key."""

    root: Path
    trust_domain: str

    @property
    def bundle(self) -> Path:
        return self.root / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    def agent_cert(self, name: str) -> Path:
        return self.root / "agents" / f"{name}.crt"

    def agent_key(self, name: str) -> Path:
        return self.root / "agents" / f"{name}.key"

    def spiffe_id(self, name: str) -> str:
        return f"spiffe://{self.trust_domain}/agent/{name}"

    def load_ca(self) -> Issued:
        cert = x509.load_pem_x509_certificate(self.bundle.read_bytes())
        key = serialization.load_pem_private_key((self.root / "ca.key").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return Issued(cert, key)

    @classmethod
    def create(cls, root: Path, trust_domain: str, agents: Sequence[str] = ()) -> DevPki:
        pki = cls(root, trust_domain)
        (root / "agents").mkdir(parents=True, exist_ok=True)
        ca = make_ca(trust_domain)
        ca.write(pki.bundle, root / "ca.key")
        make_server_cert(ca).write(pki.server_cert, pki.server_key)
        for name in agents:
            pki.add_agent(name, ca)
        return pki

    def add_agent(self, name: str, ca: Issued | None = None) -> str:
        spiffe_id = self.spiffe_id(name)
        make_svid(ca or self.load_ca(), spiffe_id).write(self.agent_cert(name), self.agent_key(name))
        return spiffe_id
