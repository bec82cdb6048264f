"""authz/tokens/jws.py: compact JWS verification as strict as RFC 7515 and RFC 8725 ask — what is
accepted, the compact serialization, the signature, and what a refusal says.

Attacks are named tests; the tokens are built by hand (``jws_by_hand.py``), and each refusal
is matched on its message, so the check that fires is the one the test is about. The header
and payload as JSON: ``test_jws_json.py``; the JOSE header's members: ``test_jws_header.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from tokens import b64

from authz.tokens.jws import MAX_NESTING, JwsError
from unit.tokens.jws_by_hand import (
    BOTH,
    CLAIMS,
    EC_HEADER,
    EC_KEY,
    EC_KID,
    HEADER,
    KID,
    PARTS,
    VALID,
    VECTORS,
    VERIFIER,
    lenient,
    nested,
    raw,
    refused,
    signed,
    token,
    uneven,
    with_trailing_bits,
)  # fmt: skip

# -- what is accepted


def test_a_well_formed_token_is_accepted() -> None:
    assert VERIFIER.claims(token()) == (KID, CLAIMS)
    assert VERIFIER.claims(VALID) == (KID, VECTORS["task_tokens"][0]["claims"])


def test_es256_with_a_64_byte_r_s_signature_is_accepted() -> None:
    assert BOTH.claims(token(EC_HEADER, key=EC_KEY)) == (EC_KID, CLAIMS)


def test_any_valid_json_serialization_is_accepted() -> None:
    header = b'{ "typ" : "task+jwt",\n "kid": "' + KID.encode() + b'", "alg":"EdDSA" }'
    payload = b'\t{"sub": "caf\\u00e9 \xf0\x9f\x98\x80 \\ud83d\\ude00", "n": 1.5e3, "x": [ ] } '
    _, claims = VERIFIER.claims(token(header, payload))
    assert claims == {"sub": "café 😀 😀", "n": 1500.0, "x": []}


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert VERIFIER.claims(token(payload=nested(MAX_NESTING)))


# -- the compact serialization


def test_attack_fourth_segment() -> None:
    refused(VALID + "." + VALID.rsplit(".", 1)[1], "not a compact JWS")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.rsplit(".", 1)[0],  # no signature segment
        lambda t: t.split(".", 1)[1],  # no header segment
        lambda t: t + ".",  # an empty fourth segment
        lambda t: t.replace(".", "..", 1),  # an empty segment in the middle
        lambda t: "." + t,
        lambda t: "",
    ],
    ids=["two-segments", "header-dropped", "trailing-dot", "empty-middle", "leading-dot", "empty"],
)
def test_attack_wrong_number_of_segments(mangle: Any) -> None:
    refused(mangle(VALID), "not a compact JWS")


def test_attack_empty_signature() -> None:
    refused(VALID.rsplit(".", 1)[0] + ".", "not a compact JWS")


@pytest.mark.parametrize("part", PARTS)
def test_attack_padding_in_segment(part: str) -> None:
    if part == "signature":
        tok = VALID + "=="  # 86 characters + "==": a lenient decoder reads the same 64 bytes
        assert lenient(tok.rsplit(".", 1)[1]) == lenient(VALID.rsplit(".", 1)[1])
    else:
        segments = [b64(uneven(HEADER)), b64(uneven(CLAIMS))]
        i = PARTS.index(part)
        segments[i] += "=" * (-len(segments[i]) % 4)
        tok = signed(*segments)
    refused(tok, "not a compact JWS")


@pytest.mark.parametrize("char", [" ", "\n", "\t", "\r", "!", "~", "%", "é", "\x00", "\u200b", "\uff21"])
@pytest.mark.parametrize("part", PARTS)
def test_attack_foreign_characters_in_segment(part: str, char: str) -> None:
    segments = VALID.split(".")
    i = PARTS.index(part)
    segments[i] = segments[i][:10] + char + segments[i][10:]
    if part == "signature":  # a lenient decoder drops what it does not know: the same signature
        tok = ".".join(segments)
    else:  # the altered text, genuinely signed: only the alphabet check stands in the way
        tok = signed(segments[0], segments[1])
    refused(tok, "not a compact JWS")


def test_attack_standard_base64_alphabet_in_segment() -> None:
    # '+' and '/' are base64, not base64url: a lenient decoder reads them like '-' and '_'.
    head, sig = VALID.rsplit(".", 1)
    assert "-" in sig and "_" in sig
    standard = sig.replace("-", "+").replace("_", "/")
    assert lenient(standard) == lenient(sig)
    refused(f"{head}.{standard}", "not a compact JWS")


def test_attack_non_canonical_base64_signature() -> None:
    head, sig = VALID.rsplit(".", 1)
    altered = with_trailing_bits(sig)
    assert lenient(altered) == lenient(sig)  # the same 64 bytes: it would verify
    refused(f"{head}.{altered}", "its signature is not canonical base64url")


@pytest.mark.parametrize("part", ["header", "payload"])
def test_attack_non_canonical_base64_header_or_payload(part: str) -> None:
    segments = [b64(uneven(HEADER)), b64(uneven(CLAIMS))]
    i = PARTS.index(part)
    original, segments[i] = segments[i], with_trailing_bits(segments[i])
    assert lenient(segments[i]) == lenient(original)
    refused(signed(*segments), f"its {part} is not canonical base64url")


@pytest.mark.parametrize("part", PARTS)
def test_attack_segment_length_one_more_than_a_multiple_of_four(part: str) -> None:
    # No byte string encodes to 4k+1 characters; lenient decoders differ on what to do with it.
    segments = VALID.split(".")
    i = PARTS.index(part)
    segments[i] += "A" * ((1 - len(segments[i])) % 4)
    assert len(segments[i]) % 4 == 1
    tok = ".".join(segments) if part == "signature" else signed(segments[0], segments[1])
    refused(tok, f"its {part} is not canonical base64url")


# -- the signature


def test_attack_resigned_by_an_unconfigured_key_with_the_same_kid() -> None:
    # The genuine header (our kid) and claims, signed by a key that is not configured.
    header_segment, payload_segment, _ = VALID.split(".")
    impostor = ed25519.Ed25519PrivateKey.generate()
    refused(signed(header_segment, payload_segment, key=impostor), "its signature is invalid")


def test_attack_payload_swapped_under_a_valid_signature() -> None:
    header_segment, _, sig = VALID.split(".")
    refused(f"{header_segment}.{b64(raw(CLAIMS))}.{sig}", "its signature is invalid")


def test_attack_one_bit_of_the_signature_flipped() -> None:
    head, sig = VALID.rsplit(".", 1)
    flipped = bytearray(lenient(sig))
    flipped[10] ^= 1
    refused(f"{head}.{b64(bytes(flipped))}", "its signature is invalid")


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_attack_all_zero_signature(algorithm: str) -> None:
    header = HEADER if algorithm == "EdDSA" else EC_HEADER
    refused(f"{b64(raw(header))}.{b64(raw(CLAIMS))}.{b64(bytes(64))}", "its signature is invalid", BOTH)


def _es256_variants() -> dict[str, bytes]:
    head = f"{b64(raw(EC_HEADER))}.{b64(raw(CLAIMS))}"
    der = EC_KEY.sign(head.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return {
        "der": der,  # ASN.1 DER, as OpenSSL produces it, not JOSE's r || s
        "zero-byte-before-s": r.to_bytes(32, "big") + s.to_bytes(33, "big"),  # same integers, 65 bytes
        "r-s-of-33-bytes": r.to_bytes(33, "big") + s.to_bytes(33, "big"),
        "truncated": (r.to_bytes(32, "big") + s.to_bytes(32, "big"))[:63],
        "empty-s": r.to_bytes(32, "big"),
    }


ES256_VARIANTS = _es256_variants()


@pytest.mark.parametrize("variant", sorted(ES256_VARIANTS))
def test_attack_es256_signature_of_wrong_length(variant: str) -> None:
    head = f"{b64(raw(EC_HEADER))}.{b64(raw(CLAIMS))}"
    refused(f"{head}.{b64(ES256_VARIANTS[variant])}", "its signature is not 64 bytes", BOTH)


@pytest.mark.parametrize("length", [32, 63, 65, 128])
def test_attack_ed25519_signature_of_wrong_length(length: int) -> None:
    head, sig = VALID.rsplit(".", 1)
    genuine = lenient(sig)
    refused(f"{head}.{b64((genuine * 2)[:length])}", "its signature is not 64 bytes")


# -- what a refusal says


def test_refusals_never_hold_token_text() -> None:
    secret = "s3cr3t-claim-value"
    tokens = [
        token(payload={"sub": secret, "sub2": secret}) + "!",
        token({**HEADER, "kid": secret}),
        token({**HEADER, "typ": secret}),
        token({**HEADER, secret: "x"}),
        token(payload=b'{"sub": "' + secret.encode() + b'", "sub": 1}'),
    ]
    for tok in tokens:
        with pytest.raises(JwsError) as info:
            VERIFIER.claims(tok)
        assert secret not in str(info.value) and not any(s in str(info.value) for s in tok.split(".") if s)
        assert info.value.__cause__ is None  # raised `from None` where it was caught
        assert info.value.__context__ is None or info.value.__suppress_context__
