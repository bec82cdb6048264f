"""The oracle's own reading of ``source.certificate`` (with ``cryptography`` directly): the
SPIFFE ID of a valid SVID from the trust bundle, its thumbprint, or what is wrong with it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fuzz.oracle.facts import Facts
from fuzz.oracle.reading import b64url


@dataclass(frozen=True)
class Peer:
    """The oracle's own reading of ``source.certificate``."""

    spiffe_id: str | None
    thumbprint: str | None
    problem: str | None


def read_peer(facts: Facts, now: int, certificate: str) -> Peer:
    try:
        certs = x509.load_pem_x509_certificates(unquote(certificate).encode())
    except ValueError:
        return Peer(None, None, "not a PEM certificate")
    leaf = certs[0]
    thumb = b64url(hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).digest())
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return Peer(None, thumb, "no subject alternative name")
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(certs) != 1 or len(uris) != 1:
        return Peer(None, thumb, f"{len(certs)} certificates, {len(uris)} URI SANs")
    spiffe_id = uris[0]
    if spiffe_id.partition("spiffe://")[2].partition("/")[0] not in facts.trust_domains:
        return Peer(None, thumb, f"{spiffe_id} is in no trusted domain")
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return Peer(None, thumb, "the leaf is a CA")
    except x509.ExtensionNotFound:
        pass
    if not _chains(facts, now, leaf):
        return Peer(None, thumb, "not issued by the trust bundle, or out of its validity")
    return Peer(spiffe_id, thumb, None)


def _chains(facts: Facts, now: int, leaf: x509.Certificate) -> bool:
    for ca in facts.bundle:
        key = ca.public_key()
        if ca.subject != leaf.issuer or not isinstance(key, ec.EllipticCurvePublicKey):
            continue
        try:
            assert leaf.signature_hash_algorithm is not None
            key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
        except InvalidSignature:
            continue
        return all(
            c.not_valid_before_utc.timestamp() <= now <= c.not_valid_after_utc.timestamp() for c in (ca, leaf)
        )
    return False
