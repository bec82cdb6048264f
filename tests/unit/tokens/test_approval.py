"""Approval tokens (``authz/tokens/approval.py``): the request hash that binds an approval to one
exact request, the claims read into an ``Approval``, and what ``sign_approval`` signs
(byte-for-byte against the published vectors: ``test_approval_vectors.py``)."""

from __future__ import annotations

import re
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from authz.tokens.approval import APPROVAL_TYP, Approval, parse_claims, request_hash, sign_approval
from authz.tokens.jws import ClaimsError

RESET = ("POST", "/v1/users/alice/password/reset", b'{"user": "alice"}')
CLAIMS: dict[str, Any] = {
    "iss": "dana", "sub": "spiffe://agents.example.org/agent/helpdesk-bot", "aud": "iam-api", "jti": "a-1",
    "iat": 100, "exp": 400, "task": "t-1", "op": "user.password.reset", "principal": "alice", "req": "r",
}  # fmt: skip


def test_the_request_hash_is_unpadded_base64url_of_sha_256() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", request_hash(*RESET))
    assert request_hash(*RESET) == request_hash(*RESET)


@pytest.mark.parametrize(
    "other",
    [
        ("PUT", RESET[1], RESET[2]),
        ("POST", RESET[1] + "/", RESET[2]),  # a trailing slash is another request
        ("POST", RESET[1] + "?notify=true", RESET[2]),  # so is a query string
        ("POST", "/v1/users/bob/password/reset", RESET[2]),
        ("POST", RESET[1], b'{"user": "alice" }'),  # one byte more in the body
        ("POST", RESET[1], b""),
    ],
    ids=["method", "trailing-slash", "query", "path", "body-byte", "no-body"],
)
def test_any_difference_in_the_request_is_another_hash(other: tuple[str, str, bytes]) -> None:
    assert request_hash(*other) != request_hash(*RESET)


def test_the_path_and_body_cannot_be_shifted_into_each_other() -> None:
    # The body enters as its own hash, after a line break: no split of the text reads the same.
    assert request_hash("POST", "/a\nb", b"") != request_hash("POST", "/a", b"b")


def test_verified_claims_become_an_approval() -> None:
    assert parse_claims(CLAIMS) == Approval(
        approval_id="a-1", approver="dana", agent=CLAIMS["sub"], task_id="t-1",
        operation="user.password.reset", principal="alice", req="r", issued_at=100, expires=400,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [("jti", None), ("iss", ""), ("sub", 1), ("task", ["t-1"]), ("op", None), ("principal", ""),
     ("req", None), ("iat", "100"), ("exp", True), ("exp", 400.5)],
)  # fmt: skip
def test_claims_that_are_not_an_approval(name: str, value: object) -> None:
    claims = {k: v for k, v in CLAIMS.items() if k != name}
    if value is not None:
        claims[name] = value
    with pytest.raises(ClaimsError, match=f"'{name}'"):
        parse_claims(claims)


@pytest.mark.parametrize(
    ("key", "alg"),
    [(ed25519.Ed25519PrivateKey.generate(), "EdDSA"), (ec.generate_private_key(ec.SECP256R1()), "ES256")],
)
def test_an_approval_is_signed_under_the_approvers_id_with_their_keys_algorithm(key: Any, alg: str) -> None:
    token = sign_approval(
        key=key, approver="dana", audience="iam-api", agent=CLAIMS["sub"], task_id="t-1",
        operation="user.password.reset", principal="alice", req=request_hash(*RESET), ttl=300, now=1000,
    )  # fmt: skip
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": "dana", "typ": APPROVAL_TYP}
    claims = jwt.decode(
        token, key.public_key(), algorithms=[alg], audience="iam-api", options={"verify_exp": False}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", claims.pop("jti"))  # a fresh id per approval
    expected = {**CLAIMS, "iat": 1000, "exp": 1300, "req": request_hash(*RESET)}
    del expected["jti"]
    assert claims == expected


def test_an_approval_may_carry_a_chosen_id_and_more_claims_and_headers() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    token = sign_approval(
        key=key, approver="dana", audience="iam-api", agent=CLAIMS["sub"], task_id="t-1", operation="op",
        principal="alice", req="r", ttl=60, now=1000, approval_id="a-9", extra_claims={"note": "x"},
        extra_headers={"kid": "erik"},
    )  # fmt: skip
    assert jwt.get_unverified_header(token)["kid"] == "erik"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["jti"], claims["note"]) == ("a-9", "x")
