"""X.509-SVID rules for a trust bundle, checked once when the config is read.

A bundle holds signing certificates only (X509-SVID §3.2): ``cryptography``'s verifier treats
every certificate of its store as a trust anchor, and a *leaf* placed there authenticates
itself, with no CA behind it (measured with cryptography 50). The leaf rules are checked on
every request by stage 1 (``authz/stages/identity.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from authz.errors import IdentityError
from authz.svid.spiffe_id import SpiffeIdError, check_trust_domain, split_spiffe_id


class BundleError(IdentityError, ValueError):
    """A trust bundle that holds something other than signing certificates of its domain."""


def check_trust_bundle(trust_domain: str, certs: Sequence[x509.Certificate]) -> None:
    """Raise ``BundleError`` unless every certificate of ``trust_domain``'s bundle is a signing
    certificate (basic constraints cA true, key usage keyCertSign) whose SPIFFE IDs, if any,
    are the trust domain's own: no path, no other trust domain."""
    try:
        check_trust_domain(trust_domain)
    except SpiffeIdError as exc:
        raise BundleError(f"{trust_domain!r} is not a SPIFFE trust domain name: {exc}") from None
    if not certs:
        raise BundleError("the trust bundle holds no certificate")
    for number, cert in enumerate(certs, 1):
        try:
            _check_signing_certificate(trust_domain, cert)
        except ValueError as exc:
            raise BundleError(f"trust bundle certificate {number} of {len(certs)}: {exc}") from None


def _check_signing_certificate(trust_domain: str, cert: x509.Certificate) -> None:
    try:
        extensions = cert.extensions
    except ValueError:
        raise BundleError("malformed extensions") from None
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise BundleError("not a signing certificate: basic constraints cA is not true")
    try:
        key_cert_sign = extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        key_cert_sign = False
    if not key_cert_sign:
        raise BundleError("not a signing certificate: key usage keyCertSign is not set")
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return  # a signing certificate SHOULD be an SVID, need not be
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.partition(":")[0].lower() != "spiffe":
            continue
        try:
            domain, path = split_spiffe_id(uri)
        except SpiffeIdError as exc:
            raise BundleError(f"its URI SAN is not a valid SPIFFE ID: {exc}") from None
        if path:
            raise BundleError("its SPIFFE ID has a path: a signing certificate's has none")
        if domain != trust_domain:
            raise BundleError(f"its SPIFFE ID is of another trust domain than {trust_domain}")
