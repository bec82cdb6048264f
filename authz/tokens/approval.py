"""Approval tokens (docs/tokens.md): a human's signature over one exact request.

``request_hash`` is what binds an approval to the request: method, path and the exact body.
``sign_approval`` is what an approver's tool runs, locally, with the approver's own key;
``parse_claims`` turns verified claims into an ``Approval``. Verification is stage 6
(``authz/stages/approval.py``).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from authz.tokens.jws import int_claim, text_claim
from authz.tokens.keys import PrivateKey, algorithm_of

APPROVAL_TYP = "approval+jwt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def request_hash(method: str, path: str, body: bytes) -> str:
    """``req``: base64url(SHA-256(method ⏎ path ⏎ base64url(SHA-256(body)))).

    ``path`` is the path as Envoy forwards it (query string included): ``/v1/users/alice`` and
    ``/v1/users/alice/`` are different requests, and so are two bodies differing in one byte.
    """
    material = f"{method}\n{path}\n{_b64(hashlib.sha256(body).digest())}".encode()
    return _b64(hashlib.sha256(material).digest())


@dataclass(frozen=True)
class Approval:
    approval_id: str  # jti: consumed once
    approver: str  # iss
    agent: str  # sub
    task_id: str
    operation: str
    principal: str
    req: str
    issued_at: int
    expires: int


def parse_claims(claims: Mapping[str, Any]) -> Approval:
    return Approval(
        approval_id=text_claim(claims, "jti"),
        approver=text_claim(claims, "iss"),
        agent=text_claim(claims, "sub"),
        task_id=text_claim(claims, "task"),
        operation=text_claim(claims, "op"),
        principal=text_claim(claims, "principal"),
        req=text_claim(claims, "req"),
        issued_at=int_claim(claims, "iat"),
        expires=int_claim(claims, "exp"),
    )


def sign_approval(
    *,
    key: PrivateKey,
    approver: str,
    audience: str,
    agent: str,
    task_id: str,
    operation: str,
    principal: str,
    req: str,
    ttl: int,
    now: int,
    approval_id: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign an approval of one request. The header's ``kid`` is the approver id."""
    claims: dict[str, Any] = {
        "iss": approver,
        "sub": agent,
        "aud": audience,
        "jti": approval_id or uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
        "task": task_id,
        "op": operation,
        "principal": principal,
        "req": req,
        **(extra_claims or {}),
    }
    headers = {"typ": APPROVAL_TYP, "kid": approver, **(extra_headers or {})}
    return jwt.encode(claims, key, algorithm=algorithm_of(key), headers=headers)
