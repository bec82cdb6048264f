"""authz/tokens/jws.py: compact JWS verification as strict as RFC 7515 and RFC 8725 ask.

Attacks are named tests. Every malicious token is built by hand (base64url of chosen bytes)
and, wherever the point is that only the check under test refuses it, signed with the fixed
issuer key of the published vectors (tests/fixtures/vectors/): without that check the token
would verify. Each refusal is matched on its message, so the check that fires is the one
the test is about.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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

from authz.tokens.jws import HEADER_MEMBERS, MAX_NESTING, JwsError, JwsVerifier
from authz.tokens.keys import PrivateKey

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures/vectors/tokens.json").read_text())
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


# -- header and payload: strict UTF-8 JSON objects


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_attack_utf16_payload(encoding: str) -> None:
    # json.loads(bytes) guesses UTF-16 and accepts this: the payload must be UTF-8, decoded first.
    payload = json.dumps(CLAIMS).encode(encoding)
    assert json.loads(payload) == CLAIMS
    refused(token(payload=payload), "its payload is not ")


@pytest.mark.parametrize("encoding", ["utf-32", "utf-32-le", "utf-32-be"])
def test_attack_utf32_payload(encoding: str) -> None:
    payload = json.dumps(CLAIMS).encode(encoding)
    assert json.loads(payload) == CLAIMS
    refused(token(payload=payload), "its payload is not ")


@pytest.mark.parametrize("part", ["header", "payload"])
def test_attack_bom_before_json(part: str) -> None:
    bom = b"\xef\xbb\xbf"
    tok = token(header=bom + raw(HEADER)) if part == "header" else token(payload=bom + raw(CLAIMS))
    refused(tok, f"its {part} starts with a byte order mark")


@pytest.mark.parametrize(
    "payload",
    [b'{"sub": "\xc0\xaf"}', b'{"sub": "\xed\xa0\x80"}', b'{"sub": "\xff"}', b'{"sub": "\xe2\x82"}'],
    ids=["overlong", "encoded-surrogate", "invalid-byte", "truncated"],
)
def test_attack_invalid_utf8_payload(payload: bytes) -> None:
    refused(token(payload=payload), "its payload is not UTF-8")


def test_attack_duplicate_typ_header() -> None:
    # An approval relabelled as a task token: a parser keeping the last member reads task+jwt.
    header = b'{"alg":"EdDSA","kid":"' + KID.encode() + b'","typ":"approval+jwt","typ":"task+jwt"}'
    refused(token(header), "its header has a duplicate member name")


def test_attack_duplicate_alg_header() -> None:
    header = b'{"alg":"none","alg":"EdDSA","kid":"' + KID.encode() + b'","typ":"task+jwt"}'
    refused(token(header), "its header has a duplicate member name")


def test_attack_duplicate_kid_header() -> None:
    header = b'{"alg":"EdDSA","kid":"other","kid":"' + KID.encode() + b'","typ":"task+jwt"}'
    refused(token(header), "its header has a duplicate member name")


def test_attack_duplicate_claim() -> None:
    payload = b'{"sub":"spiffe://agents.example.org/agent/admin-bot",' + raw(CLAIMS)[1:]
    refused(token(payload=payload), "its payload has a duplicate member name")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"cnf":{"x5t#S256":"A","x5t#S256":"B"}}',
        b'{"authorization_details":[{"type":"agent_task","principals":["alice"],"principals":["root"]}]}',
        b'{"act":{"sub":"a","act":{"sub":"b","sub":"c"}}}',
    ],
    ids=["in-cnf", "in-an-array-item", "two-levels-down"],
)
def test_attack_duplicate_claim_nested(payload: bytes) -> None:
    refused(token(payload=payload), "its payload has a duplicate member name")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_attack_nan_claim(constant: str) -> None:
    refused(token(payload=b'{"exp": ' + constant.encode() + b"}"), f"its payload has {constant}")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e999"])
def test_attack_number_overflowing_to_infinity(number: str) -> None:
    refused(token(payload=b'{"exp": ' + number.encode() + b"}"), "its payload has a number out of range")


@pytest.mark.parametrize(
    "payload",
    [
        rb'{"sub": "\ud800"}',
        rb'{"sub": "x\udfff"}',
        rb'{"sub": "\udc00\ud800"}',  # a pair in the wrong order is two lone halves
        rb'{"\ud800": 1}',
        rb'{"principals": ["alice", "\ud800"]}',
        rb'{"act": {"act": {"sub": "\udbff"}}}',
    ],
    ids=["high", "low", "reversed-pair", "member-name", "array-item", "nested"],
)
def test_attack_lone_surrogate_claim(payload: bytes) -> None:
    refused(token(payload=payload), "its payload has a string with a lone surrogate")


def test_attack_lone_surrogate_in_header() -> None:
    header = rb'{"alg":"EdDSA","kid":"\ud800","typ":"task+jwt"}'
    refused(token(header), "its header has a string with a lone surrogate")


def test_attack_nesting_one_level_deeper_than_the_limit() -> None:
    refused(token(payload=nested(MAX_NESTING + 1)), f"nested deeper than {MAX_NESTING} levels")


def test_attack_nesting_deep_enough_to_exhaust_the_parser() -> None:
    refused(token(payload=b'{"n":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "its payload is not JSON")


@pytest.mark.parametrize(
    "payload",
    [b"{", b'{"a":1}{"b":2}', b'{"a":1,}', b"{'a':1}", b'{"a":"x\x00y"}', b'{"a":01}'],
    ids=["truncated", "two-objects", "trailing-comma", "single-quotes", "raw-control", "octal"],
)
def test_attack_payload_that_is_not_json(payload: bytes) -> None:
    refused(token(payload=payload), "its payload is not JSON")


@pytest.mark.parametrize("payload", [b"[]", b'"sub"', b"1", b"null", b"true"])
@pytest.mark.parametrize("part", ["header", "payload"])
def test_attack_json_that_is_not_an_object(part: str, payload: bytes) -> None:
    tok = token(header=payload) if part == "header" else token(payload=payload)
    refused(tok, f"its {part} is not a JSON object")


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
