"""Compact JWS verification shared by task and approval tokens (RFC 8725 throughout).

The key is chosen only by ``kid`` among configured keys, the algorithm is the one that key
allows (and must be configured), ``typ`` must be the expected one, and header parameters that
would let a token choose its own key or semantics (``jku``, ``x5u``, ``jwk``, ``x5c``,
``crit``, ``b64``) are refused rather than ignored. Claims with duplicate names are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt

from authz.keys import PublicKey, algorithm_of

_REFUSED_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64"})


class JwsError(ValueError):
    """Why a token was refused; safe to show (never holds token text)."""


class ClaimsError(ValueError):
    """Verified claims that do not have the shape the token type requires."""


def text_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise ClaimsError(f"'{name}' must be a non-empty string")
    return value


def int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ClaimsError(f"'{name}' must be an integer")
    return value


class JwsVerifier:
    def __init__(self, typ: str, keys: Mapping[str, PublicKey], algorithms: frozenset[str]) -> None:
        self._typ, self._keys, self._algorithms = typ, keys, algorithms
        self._jws = jwt.PyJWS(algorithms=sorted(algorithms))

    def claims(self, token: str) -> tuple[str, dict[str, Any]]:
        """The ``kid`` that verified the token, and its claims."""
        header = self._header(token)
        kid = header.get("kid")
        public_key = self._keys.get(kid) if isinstance(kid, str) else None
        if public_key is None:
            raise JwsError("its kid is not a configured key")
        alg = algorithm_of(public_key)
        if header.get("alg") != alg:
            raise JwsError("its alg does not match its key")
        try:
            payload = self._jws.decode_complete(token, public_key, algorithms=[alg])["payload"]
            claims = json.loads(payload, object_pairs_hook=_no_duplicates)
        except (jwt.InvalidTokenError, ValueError, RecursionError):
            raise JwsError("its signature or encoding is invalid") from None
        if not isinstance(claims, dict):
            raise JwsError("its payload is not a JSON object")
        return str(kid), claims

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise JwsError("it is not a compact JWS") from None
        if header.get("typ") != self._typ:
            raise JwsError(f"it is not of type {self._typ}")
        if header.get("alg") not in self._algorithms:
            raise JwsError("its algorithm is not allowed")
        if _REFUSED_HEADERS & set(header):
            raise JwsError("it carries a header parameter that is never honoured")
        return header


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate claim")
    return result
