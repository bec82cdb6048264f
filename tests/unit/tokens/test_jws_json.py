"""authz/tokens/jws.py: header and payload are strict UTF-8 JSON objects — no other encoding, no
byte order mark, no duplicate member names at any depth, no NaN, no lone surrogates, not too deep.
"""

from __future__ import annotations

import json

import pytest

from authz.tokens.jws import MAX_NESTING
from unit.tokens.jws_by_hand import (
    CLAIMS,
    HEADER,
    KID,
    nested,
    raw,
    refused,
    token,
)  # fmt: skip

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
