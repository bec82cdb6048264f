"""SPIFFE ID syntax (SPIFFE-ID standard §2): spiffe://trust-domain/path, nothing else.

Refused: another or an upper-case scheme; userinfo, a port, a query or a fragment; percent-
encoding; upper-case, empty or over-long (255 bytes) trust domains; empty, '.' or '..' path
segments (so no trailing '/'); characters outside [A-Za-z0-9._-]; IDs over 2048 bytes.
"""

from __future__ import annotations

import re

from authz.errors import IdentityError

MAX_ID_BYTES = 2048  # §2.3
MAX_TRUST_DOMAIN_BYTES = 255  # §2.3, RFC 3986's limit on the host

_PREFIX = "spiffe://"
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


class SpiffeIdError(IdentityError, ValueError):
    pass


def check_trust_domain(name: str) -> None:
    """Raise ``SpiffeIdError`` unless ``name`` is a valid trust domain name (§2.1)."""
    if "@" in name:
        raise SpiffeIdError("trust domain must not have a userinfo part")
    if ":" in name:
        raise SpiffeIdError("trust domain must not have a port")
    if "%" in name:
        raise SpiffeIdError("trust domain must not be percent-encoded")
    if len(name) > MAX_TRUST_DOMAIN_BYTES:
        raise SpiffeIdError(f"trust domain must be at most {MAX_TRUST_DOMAIN_BYTES} bytes")
    if not _TRUST_DOMAIN.fullmatch(name):
        raise SpiffeIdError("trust domain must be lowercase letters, digits, '.', '_' or '-'")


def split_spiffe_id(text: str) -> tuple[str, str]:
    """Return (trust_domain, path) of a SPIFFE ID whose path may be empty (a trust domain's
    own ID, as signing certificates carry), or raise ``SpiffeIdError``. No normalisation."""
    if not text.isascii():
        raise SpiffeIdError("must be ASCII")
    if len(text) > MAX_ID_BYTES:
        raise SpiffeIdError(f"must be at most {MAX_ID_BYTES} bytes")
    if not text.startswith(_PREFIX):
        raise SpiffeIdError("must start with spiffe://")
    if "?" in text or "#" in text:
        raise SpiffeIdError("must not have a query or fragment")
    domain, slash, path = text[len(_PREFIX) :].partition("/")
    check_trust_domain(domain)
    if not slash:
        return domain, ""
    if "%" in path:
        raise SpiffeIdError("path must not be percent-encoded")
    for segment in path.split("/"):
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise SpiffeIdError("path segments must be non-empty [A-Za-z0-9._-], not '.' or '..'")
    return domain, "/" + path


def parse_spiffe_id(text: str) -> tuple[str, str]:
    """Return (trust_domain, path) of a workload's SPIFFE ID, whose path is not empty
    (X509-SVID §3.1), or raise ``SpiffeIdError``. No normalisation is done."""
    domain, path = split_spiffe_id(text)
    if not path:
        raise SpiffeIdError("must have a path")
    return domain, path
