"""authz/tokens/jws.py: the JOSE header — ``alg``, ``typ`` and ``kid`` only, each a string; the
algorithm pinned by the key ``kid`` names; ``typ`` exactly the expected one."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from tokens import b64

from authz.tokens.jws import HEADER_MEMBERS, JwsVerifier
from unit.tokens.jws_by_hand import (
    BOTH,
    CLAIMS,
    EC_HEADER,
    EC_KEY,
    HEADER,
    KEY,
    KID,
    TYP,
    raw,
    refused,
    token,
)  # fmt: skip

# -- the JOSE header: alg, typ and kid only


REFUSED_MEMBERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit", "b64", "zip", "enc", "cty"]
REFUSED_MEMBERS += ["epk", "p2s", "url", "nonce", "iss", "ALG", "Typ", ""]


@pytest.mark.parametrize("member", REFUSED_MEMBERS)
def test_attack_header_member_never_honoured(member: str) -> None:
    assert member not in HEADER_MEMBERS
    value: Any = {"crit": ["exp"], "b64": False, "jwk": {"kty": "OKP"}, "x5c": ["MIIB"]}.get(member, "x")
    refused(token({**HEADER, member: value}), "it carries a header parameter that is never honoured")


@pytest.mark.parametrize("value", [["EdDSA"], {"v": KID}, 1, None, True], ids=repr)
@pytest.mark.parametrize("member", sorted(HEADER_MEMBERS))
def test_attack_header_member_that_is_not_a_string(member: str, value: Any) -> None:
    refused(token({**HEADER, member: value}), "its header parameters must be strings")


@pytest.mark.parametrize("sig", ["", b64(bytes(64))], ids=["unsigned", "with-a-signature"])
def test_attack_alg_none(sig: str) -> None:
    head = f"{b64(raw({**HEADER, 'alg': 'none'}))}.{b64(raw(CLAIMS))}"
    refused(f"{head}.{sig}", "not a compact JWS" if not sig else "its algorithm is not allowed")


def test_attack_hs256_signed_with_the_public_key_bytes() -> None:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    head = f"{b64(raw({**HEADER, 'alg': 'HS256'}))}.{b64(raw(CLAIMS))}"
    for secret in (public_pem, public_raw):
        tok = f"{head}.{b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())}"
        refused(tok, "its algorithm is not allowed")
        # ... even where HS256 were (wrongly) configured, the key pins EdDSA:
        lax = JwsVerifier(TYP, {KID: KEY.public_key()}, frozenset({"EdDSA", "HS256"}))
        refused(tok, "its alg does not match its key", lax)


def test_attack_alg_of_another_configured_algorithm() -> None:
    # Both algorithms allowed, but the key named by kid is Ed25519: ES256 is not its algorithm.
    refused(token({**HEADER, "alg": "ES256"}, key=EC_KEY), "its alg does not match its key", BOTH)
    refused(token({**EC_HEADER, "alg": "EdDSA"}), "its alg does not match its key", BOTH)


def test_attack_alg_not_configured() -> None:
    refused(token(EC_HEADER, key=EC_KEY), "its algorithm is not allowed")


@pytest.mark.parametrize("member", ["alg", "kid"])
def test_attack_alg_or_kid_missing(member: str) -> None:
    header = {k: v for k, v in HEADER.items() if k != member}
    message = "its algorithm is not allowed" if member == "alg" else "its kid is not a configured key"
    refused(token(header), message)


def test_attack_kid_missing_where_an_empty_kid_is_configured() -> None:
    # The config refuses an empty kid; the verifier does not rely on it.
    empty = JwsVerifier(TYP, {"": KEY.public_key()}, frozenset({"EdDSA"}))
    refused(token({"alg": "EdDSA", "typ": TYP}), "its kid is not a configured key", empty)
    assert empty.claims(token({**HEADER, "kid": ""})) == ("", CLAIMS)


@pytest.mark.parametrize(
    "kid",
    [
        "../../etc/passwd",
        "/dev/null",
        "file:///etc/passwd",
        "https://evil.example/jwks.json",
        "' OR '1'='1",
        "x'; DROP TABLE keys; --",
        "$(id)",
        KID.upper(),
        f"{KID} ",
        f"{KID}\x00",
        "",
    ],
)
def test_attack_kid_injection(kid: str) -> None:
    attacker = ed25519.Ed25519PrivateKey.generate()
    error = refused(token({**HEADER, "kid": kid}, key=attacker), "its kid is not a configured key")
    assert kid not in str(error) or not kid


@pytest.mark.parametrize("typ", ["TASK+JWT", "Task+Jwt", "application/task+jwt", " task+jwt", "task+jwt\n"])
def test_attack_typ_in_another_case_or_form(typ: str) -> None:
    refused(token({**HEADER, "typ": typ}), f"it is not of type {TYP}")


def test_attack_typ_missing() -> None:
    refused(token({"alg": "EdDSA", "kid": KID}), f"it is not of type {TYP}")


@pytest.mark.parametrize("typ", ["approval+jwt", "JWT", "at+jwt"])
def test_attack_typ_of_another_token_kind(typ: str) -> None:
    refused(token({**HEADER, "typ": typ}), f"it is not of type {TYP}")
