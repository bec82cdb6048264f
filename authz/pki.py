"""Development PKI: a CA (the trust bundle), agent X.509-SVIDs and Envoy's server certificate.

For demos and tests only — production SVIDs come from SPIRE or another SPIFFE issuer. The
functions take unusual options (two URI SANs, serverAuth only, CA leaf, past validity) so
tests can make the certificates attacks are built from.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _builder(
    subject: str,
    issuer: x509.Name | None,
    key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> x509.CertificateBuilder:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agent-authz dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )
    start = not_before or (_now() - dt.timedelta(minutes=5))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or (start + dt.timedelta(days=1)))
    )


def make_ca(trust_domain: str, *, not_after: dt.datetime | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(f"{trust_domain} dev CA", None, key, None, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]),
            critical=False,
        )
    )
    return Issued(builder.sign(key, hashes.SHA256()), key)


def _leaf(
    ca: Issued,
    subject: str,
    sans: list[x509.GeneralName],
    usages: Sequence[x509.ObjectIdentifier],
    *,
    is_ca: bool,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(subject, ca.cert.subject, key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, is_ca, is_ca, False, False), critical=True
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def make_svid(
    ca: Issued,
    spiffe_ids: str | Sequence[str],
    *,
    usages: Sequence[x509.ObjectIdentifier] = (CLIENT_AUTH,),
    is_ca: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """An X.509-SVID. A proper one has exactly one URI SAN and clientAuth usage."""
    ids = [spiffe_ids] if isinstance(spiffe_ids, str) else list(spiffe_ids)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(i) for i in ids]
    return _leaf(
        ca,
        ids[0].rsplit("/", 1)[-1] if ids else "svid",
        sans,
        usages,
        is_ca=is_ca,
        not_before=not_before,
        not_after=not_after,
    )


def make_server_cert(
    ca: Issued, dns_names: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",)
) -> Issued:
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return _leaf(
        ca,
        dns_names[0] if dns_names else "server",
        sans,
        (SERVER_AUTH, CLIENT_AUTH),
        is_ca=False,
        not_before=None,
        not_after=None,
    )


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
