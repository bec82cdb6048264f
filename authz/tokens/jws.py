"""Compact JWS verification shared by task and approval tokens (RFC 7515, RFC 8725 throughout).

Nothing lenient is on the path: the compact serialization is parsed here, not by a JOSE
library, and the signature is checked with the key object itself.

- **Serialization.** Exactly three segments of the base64url alphabet ``[A-Za-z0-9_-]``, no
  padding, no whitespace, each canonical (decoding and re-encoding gives the same text), so a
  token cannot be altered textually and still verify.
- **Header and payload.** Strict UTF-8 (no BOM, no UTF-16/32), a JSON object, no duplicate
  member names at any depth, no ``NaN``/``Infinity`` or numbers that overflow to them, no lone
  surrogates in strings, at most ``MAX_NESTING`` levels deep.
- **Header members.** Only ``alg``, ``typ`` and ``kid``, each a string; ``typ`` exactly the
  expected one. Every other member (``jku``, ``x5u``, ``jwk``, ``x5c``, ``crit``, ``b64``,
  ``zip``, ``cty``, …) is refused rather than ignored.
- **Key and algorithm.** The key is chosen only by ``kid`` among configured keys; the algorithm
  is the one that key allows (``authz.tokens.keys.algorithm_of``) and must be configured.
- **Signature.** Over the exact signing input (the first two segments as sent): Ed25519 a
  64-byte signature, ES256 exactly 64 bytes ``r || s`` (RFC 7518 §3.4).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authz import strict_json
from authz.errors import TokenError
from authz.tokens.keys import PublicKey, algorithm_of

#: Deepest nesting of objects and arrays accepted in a header or payload (the top object is 1).
MAX_NESTING = 32
#: The header members a token may carry; any other is refused, never ignored.
HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})

_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
_SIGNATURE_BYTES = 64  # Ed25519, and ES256 as r || s (two 32-byte integers)
_ES256 = ec.ECDSA(hashes.SHA256())


class JwsError(TokenError, ValueError):
    """Why a token was refused; safe to show (never holds token text)."""


class ClaimsError(TokenError, ValueError):
    """Verified claims that do not have the shape the token type requires."""


class _Malformed(ValueError):
    """What is wrong with a header or payload, for JwsError to say where."""


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
        self._typ, self._algorithms = typ, algorithms
        self._keys = {kid: (key, algorithm_of(key)) for kid, key in keys.items()}

    def claims(self, token: str) -> tuple[str, dict[str, Any]]:
        """The ``kid`` that verified the token, and its claims."""
        match = _COMPACT.fullmatch(token)
        if match is None:
            raise JwsError("it is not a compact JWS (three unpadded base64url segments)")
        header_segment, payload_segment, signature_segment = match.groups()
        kid, key = self._key_for(_json_object(_decode(header_segment, "header"), "header"))
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
        _verify_signature(key, signing_input, _decode(signature_segment, "signature"))
        return kid, _json_object(_decode(payload_segment, "payload"), "payload")

    def _key_for(self, header: dict[str, Any]) -> tuple[str, PublicKey]:
        if not header.keys() <= HEADER_MEMBERS:
            raise JwsError("it carries a header parameter that is never honoured")
        if not all(isinstance(value, str) for value in header.values()):
            raise JwsError("its header parameters must be strings")
        if header.get("typ") != self._typ:
            raise JwsError(f"it is not of type {self._typ}")
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise JwsError("its algorithm is not allowed")
        kid = header.get("kid")
        entry = self._keys.get(kid) if kid is not None else None
        if entry is None:
            raise JwsError("its kid is not a configured key")
        key, key_alg = entry
        if alg != key_alg:
            raise JwsError("its alg does not match its key")
        return str(kid), key


def _decode(segment: str, part: str) -> bytes:
    """Strict base64url. ``_COMPACT`` admitted only the alphabet, and the decoder is strict
    too (it never skips a character); the text must then be the one canonical encoding of its
    bytes: unused trailing bits zero, and never 4k+1 characters (which encode nothing)."""
    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise JwsError(f"its {part} is not canonical base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise JwsError(f"its {part} is not canonical base64url")
    return raw


def _verify_signature(key: PublicKey, signing_input: bytes, signature: bytes) -> None:
    if len(signature) != _SIGNATURE_BYTES:
        raise JwsError(f"its signature is not {_SIGNATURE_BYTES} bytes")
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signing_input)
        else:
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, _ES256)
    except InvalidSignature:
        raise JwsError("its signature is invalid") from None


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    """A JSON object read strictly (``authz/strict_json.py``), nested within MAX_NESTING."""
    try:
        value = strict_json.loads(raw)
        if not isinstance(value, dict):
            raise _Malformed("is not a JSON object")
        _check_nested(value, 1)
    except (strict_json.JsonRefused, _Malformed) as exc:
        raise JwsError(f"its {part} {exc}") from None
    return value


def _check_nested(value: Any, depth: int) -> None:
    """Nesting within MAX_NESTING, and every string (names too) encodable as UTF-8: a ``\\ud800``
    escape decodes to a lone surrogate, which would break the audit log later."""
    if isinstance(value, str):
        _utf8(value)
        return
    if not isinstance(value, dict | list):
        return
    if depth > MAX_NESTING:
        raise _Malformed(f"is nested deeper than {MAX_NESTING} levels")
    if isinstance(value, dict):
        for name, member in value.items():
            _utf8(name)
            _check_nested(member, depth + 1)
    else:
        for item in value:
            _check_nested(item, depth + 1)


def _utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Malformed("has a string with a lone surrogate") from None
