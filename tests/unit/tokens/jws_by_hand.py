"""Compact JWS built by hand for the tests of ``authz/tokens/jws.py``.

Every malicious token is built from base64url of chosen bytes and, wherever the point is that
only the check under test refuses it, signed with the fixed issuer key of the published vectors
(tests/fixtures/vectors/): without that check the token would verify. ``refused`` matches each
refusal on its message, so the check that fires is the one the test is about.
"""

from __future__ import annotations

import base64
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from tokens import b64

from authz.tokens.jws import JwsError, JwsVerifier
from authz.tokens.keys import PrivateKey

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "fixtures/vectors/tokens.json").read_text())
_key = serialization.load_pem_private_key(VECTORS["issuer_key"]["private_key_pem"].encode(), None)
assert isinstance(_key, ed25519.Ed25519PrivateKey)
KEY: ed25519.Ed25519PrivateKey = _key
KID: str = VECTORS["issuer_key"]["kid"]
TYP = "task+jwt"
VALID: str = VECTORS["task_tokens"][0]["token"]  # a genuine task token signed by KEY
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_KID = "ec-issuer-1"

HEADER: dict[str, Any] = {"alg": "EdDSA", "kid": KID, "typ": TYP}
EC_HEADER: dict[str, Any] = {"alg": "ES256", "kid": EC_KID, "typ": TYP}
CLAIMS: dict[str, Any] = {"iss": "issuer", "sub": "spiffe://agents.example.org/agent/helpdesk-bot", "n": 1}
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
PARTS = ["header", "payload", "signature"]

VERIFIER = JwsVerifier(TYP, {KID: KEY.public_key()}, frozenset({"EdDSA"}))
BOTH = JwsVerifier(TYP, {KID: KEY.public_key(), EC_KID: EC_KEY.public_key()}, frozenset({"EdDSA", "ES256"}))


def raw(part: bytes | dict[str, Any]) -> bytes:
    return part if isinstance(part, bytes) else json.dumps(part, separators=(",", ":")).encode()


def signature(signing_input: str, key: PrivateKey = KEY) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(signing_input.encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signed(header_segment: str, payload_segment: str, key: PrivateKey = KEY) -> str:
    """The two segments as given, with a genuine signature over exactly that text."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64(signature(signing_input, key))}"


def token(
    header: bytes | dict[str, Any] = HEADER, payload: bytes | dict[str, Any] = CLAIMS, key: PrivateKey = KEY
) -> str:
    return signed(b64(raw(header)), b64(raw(payload)), key)


def refused(tok: str, message: str, verifier: JwsVerifier = VERIFIER) -> JwsError:
    with pytest.raises(JwsError, match=re.escape(message)) as info:
        verifier.claims(tok)
    return info.value


def lenient(segment: str) -> bytes:
    """What Python's (and many JOSE libraries') base64 decoding makes of a segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def uneven(part: dict[str, Any]) -> bytes:
    """``part`` as JSON whose length is 1 more than a multiple of 3, so its base64url has unused
    trailing bits (trailing whitespace is valid JSON)."""
    text = raw(part)
    return text + b" " * ((1 - len(text)) % 3)


def with_trailing_bits(segment: str) -> str:
    """The same bytes to a lenient decoder, but with an unused trailing bit set."""
    unused = {2: 4, 3: 2}[len(segment) % 4]
    last = ALPHABET.index(segment[-1])
    assert last % (1 << unused) == 0
    return segment[:-1] + ALPHABET[last | 1]


def nested(depth: int) -> dict[str, Any]:
    """An object whose deepest array is at ``depth`` (the object itself is level 1)."""
    value: list[Any] = []
    for _ in range(depth - 2):
        value = [value]
    return {"n": value}
