"""SPIFFE ID syntax (SPIFFE-ID standard §2): spiffe://trust-domain/path, nothing else."""

from __future__ import annotations

import re

_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


class SpiffeIdError(ValueError):
    pass


def parse_spiffe_id(text: str) -> tuple[str, str]:
    """Return (trust_domain, path) or raise ``SpiffeIdError``. No normalisation is done."""
    prefix = "spiffe://"
    if not text.startswith(prefix):
        raise SpiffeIdError("must start with spiffe://")
    domain, slash, path = text[len(prefix) :].partition("/")
    if not _TRUST_DOMAIN.fullmatch(domain):
        raise SpiffeIdError("trust domain must be lowercase letters, digits, '.', '_' or '-'")
    if not slash or not path:
        raise SpiffeIdError("must have a path")
    for segment in path.split("/"):
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise SpiffeIdError("path segments must be non-empty [A-Za-z0-9._-], not '.' or '..'")
    return domain, "/" + path
