"""Task and approval tokens as the grammar makes them — valid, or with one thing wrong — each
with the facts the oracle judges it by (``TokenFacts``: how it was signed, and its claims).

Claims are written here from DESIGN §3, not by agent-authz's issuer, so a mutation can change
any of them; signing uses PyJWT with the world's keys, or is done by hand for what PyJWT
refuses to make (``alg: none``, HS256 keyed with a public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from authz.tokens.keys import PrivateKey
from fuzz.oracle import TokenFacts, b64url
from fuzz.world import FuzzWorld

KID = "dev-issuer-1"
TASK_TYP, APPROVAL_TYP = "task+jwt", "approval+jwt"

#: What can be wrong with a task token (the grammar picks one), and how often.
TASK_MUTATIONS: tuple[tuple[str, int], ...] = (
    ("stray-key", 3), ("unknown-kid", 2), ("typ", 2), ("alg-es256", 2), ("alg-hs256", 1), ("alg-none", 1),
    ("jku", 1), ("aud", 2), ("iss", 2), ("expired", 3), ("expired-edge", 2), ("not-yet-valid", 2),
    ("nbf-edge", 2), ("ttl-too-long", 1), ("ttl-edge", 1), ("cnf-other-cert", 3), ("actor-other-agent", 2),
    ("deep-delegation", 1), ("no-details", 1), ("budget-zero", 1), ("tampered", 2), ("claims-shape", 3),
)  # fmt: skip
#: Mutations that leave a token valid (edges of the time rules): such tasks may be reused.
VALID_TASK_VARIANTS = frozenset({"valid", "expired-edge", "nbf-edge", "ttl-edge"})


def _segment(data: Mapping[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def _sign(claims: Mapping[str, Any], key: Any, algorithm: str, header: Mapping[str, Any]) -> str:
    return jwt.encode(dict(claims), key, algorithm=algorithm, headers=dict(header))


def _by_hand(header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes | None) -> str:
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return f"{signing_input}.{b64url(signature)}"


def _tampered(token: str, claims: dict[str, Any]) -> str:
    """The token with its payload replaced (the signature left as it was)."""
    header, _, rest = token.partition(".")
    return f"{header}.{_segment(claims)}.{rest.partition('.')[2]}"


def _pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class TaskSpec:
    agent: str  # the actor's SPIFFE ID
    thumbprint: str  # cnf x5t#S256 of the certificate it is bound to
    task_id: str
    intent: str
    principals: Sequence[str]
    actions: Sequence[str]
    on_behalf_of: str | None = None
    delegation: Sequence[str] = ()
    max_calls: int | None = None
    ttl: int = 300


def thumbprint(der: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def task_claims(world: FuzzWorld, s: TaskSpec, iat: int) -> dict[str, Any]:
    tasks = world.config.tasks
    claims: dict[str, Any] = {
        "iss": tasks.issuer, "aud": tasks.audience, "jti": s.task_id, "iat": iat, "nbf": iat,
        "exp": iat + s.ttl, "sub": s.on_behalf_of or s.agent, "cnf": {"x5t#S256": s.thumbprint},
        "intent": s.intent,
        "authorization_details": [
            {"type": "agent_task", "actions": list(s.actions), "principals": list(s.principals)}
        ],
    }  # fmt: skip
    if s.on_behalf_of:
        act: dict[str, Any] | None = None
        for actor in reversed([s.agent, *s.delegation]):
            act = {"sub": actor, **({"act": act} if act else {})}
        claims["act"] = act
    if s.max_calls is not None:
        claims["budget"] = {"max_calls": s.max_calls}
    return claims


def sign_task(world: FuzzWorld, s: TaskSpec, mutation: str, *, other: str, pick: int) -> TokenFacts:
    """A task token for ``s`` with ``mutation`` (``valid``: none). ``other`` is another agent's
    SPIFFE ID or certificate thumbprint where the mutation needs one; ``pick`` varies details."""
    leeway, max_ttl, now = world.config.tasks.leeway, world.config.tasks.max_ttl, world.now
    iat = {
        "expired": now - s.ttl - leeway - 1 - pick,
        "expired-edge": now - s.ttl - leeway,
        "not-yet-valid": now + leeway + 1 + pick,
        "nbf-edge": now + leeway,
    }.get(mutation, now)
    claims = task_claims(world, s, iat)
    header: dict[str, Any] = {"typ": TASK_TYP, "kid": KID}
    key: Any = world.issuer_key
    algorithm, signed_ok = "EdDSA", True
    if mutation in ("ttl-too-long", "ttl-edge"):
        claims["exp"] = iat + max_ttl + (1 + pick if mutation == "ttl-too-long" else 0)
    elif mutation == "aud":
        claims["aud"] = ("other-api", "IAM-API", ["iam-api", "other-api"])[pick % 3]
    elif mutation == "iss":
        claims["iss"] = ("someone-else", "agent-authz-dev-issuer ")[pick % 2]
    elif mutation == "cnf-other-cert":
        claims["cnf"] = {"x5t#S256": other}
    elif mutation == "actor-other-agent":
        if "act" in claims:
            claims["act"]["sub"] = other
        else:
            claims["sub"] = other
    elif mutation == "deep-delegation":
        claims["sub"] = s.on_behalf_of or "alice"
        claims["act"] = {"sub": s.agent, "act": {"sub": "spiffe://x/a", "act": {"sub": "spiffe://x/b"}}}
    elif mutation == "no-details":
        claims["authorization_details"] = ([], [claims["authorization_details"][0]] * 2)[pick % 2]
    elif mutation == "budget-zero":
        claims["budget"] = {"max_calls": 0}
    elif mutation == "claims-shape":
        _reshape_task(claims, pick)
    elif mutation in ("stray-key", "unknown-kid", "typ", "alg-es256", "jku"):
        signed_ok = False
        if mutation == "stray-key":
            key = world.stray_ed25519
        elif mutation == "unknown-kid":
            header["kid"] = "dev-issuer-2"
        elif mutation == "typ":
            header["typ"] = ("JWT", "at+jwt", APPROVAL_TYP, "TASK+JWT")[pick % 4]
        elif mutation == "alg-es256":
            key, algorithm = world.stray_p256, "ES256"
        else:
            header["jku"] = "https://attacker.example/keys.json"
    elif mutation in ("alg-hs256", "alg-none"):
        hs = mutation == "alg-hs256"
        header = {"alg": "HS256" if hs else "none", "typ": TASK_TYP, "kid": KID}
        token = _by_hand(header, claims, _pem(world.issuer_key) if hs else None)
        return TokenFacts(token, False, claims, mutation)
    token = _sign(claims, key, algorithm, header)
    if mutation == "tampered":
        original = dict(claims)
        claims = {**claims, "authorization_details": [
            {"type": "agent_task", "actions": list(s.actions), "principals": [*s.principals, "carol"]}
        ]}  # fmt: skip
        token = _tampered(token, claims)
        signed_ok = original == claims
    return TokenFacts(token, signed_ok, claims, mutation)


def _reshape_task(claims: dict[str, Any], pick: int) -> None:
    """One claim of another type or shape than DESIGN §3.1 says (the token is still well signed)."""
    details = claims["authorization_details"][0]
    change = pick % 12
    if change == 0:
        claims["exp"] = float(claims["exp"])
    elif change == 1:
        details["principals"] = details["principals"][0]  # a string, not a list
    elif change == 2:
        details["actions"] = [*details["actions"], 5]
    elif change == 3:
        claims["intent"] = [claims["intent"]]
    elif change == 4:
        claims["jti"] = 12345
    elif change == 5:
        claims["cnf"] = {"x5t#S256": [claims["cnf"]["x5t#S256"]]}
    elif change == 6:
        claims["act"] = claims["sub"]
    elif change == 7:
        claims["budget"] = {"max_calls": "2"}
    elif change == 8:
        claims["iat"] = True
    elif change == 9:
        details["type"] = "other_task"
    elif change == 10:
        del claims["sub"]
    else:
        details["principals"] = []


#: What can be wrong with one approval (the grammar picks one), and how often.
APPROVAL_MUTATIONS: tuple[tuple[str, int], ...] = (
    ("missing", 4), ("other-body", 3), ("other-path", 3), ("other-method", 1), ("other-principal", 3),
    ("other-op", 2), ("other-task", 2), ("other-agent", 2), ("expired", 2), ("expired-edge", 1),
    ("not-yet-valid", 2), ("ttl-too-long", 1), ("class-not-allowed", 3), ("self-target", 3),
    ("self-on-behalf-of", 3), ("stray-key", 2), ("wrong-kid", 2), ("wrong-aud", 1), ("typ", 1),
    ("twice", 3), ("garbage", 1), ("too-many", 1), ("one-good-one-bad", 2), ("claims-shape", 2),
)  # fmt: skip


@dataclass(frozen=True)
class ApprovalSpec:
    approver: str
    agent: str
    task_id: str
    operation: str
    principal: str
    req: str
    approval_id: str
    ttl: int = 300


def sign_approval(world: FuzzWorld, s: ApprovalSpec, mutation: str = "valid", pick: int = 0) -> TokenFacts:
    """``s.approver``'s approval (mutations here: time, key, header, audience; what it is bound to
    is the caller's to vary through ``s``)."""
    leeway, now = world.config.tasks.leeway, world.now
    iat = {
        "expired": now - s.ttl - leeway - 1 - pick,
        "expired-edge": now - s.ttl - leeway,
        "not-yet-valid": now + leeway + 1 + pick,
    }.get(mutation, now)
    ttl = world.config.approvals.max_ttl + 1 + pick if mutation == "ttl-too-long" else s.ttl
    claims: dict[str, Any] = {
        "iss": s.approver, "sub": s.agent, "aud": world.config.tasks.audience, "jti": s.approval_id,
        "iat": iat, "exp": iat + ttl, "task": s.task_id, "op": s.operation, "principal": s.principal,
        "req": s.req,
    }  # fmt: skip
    if mutation == "wrong-aud":
        claims["aud"] = "other-api"
    elif mutation == "claims-shape":
        change = pick % 4
        if change == 0:
            claims["principal"] = [claims["principal"]]
        elif change == 1:
            claims["exp"] = float(claims["exp"])
        elif change == 2:
            claims["jti"] = 7
        else:
            claims["req"] = claims["req"].upper()
    header: dict[str, Any] = {"typ": APPROVAL_TYP, "kid": s.approver}
    key: Any = world.approver_keys[s.approver]
    signed_ok = True
    if mutation == "stray-key":
        key, signed_ok = world.stray_ed25519, False
    elif mutation == "wrong-kid":
        others = [a for a in world.approver_keys if a != s.approver]
        header["kid"], signed_ok = others[pick % len(others)], False
        key = world.approver_keys[header["kid"]]
    elif mutation == "typ":
        header["typ"], signed_ok = (TASK_TYP, "JWT")[pick % 2], False
    return TokenFacts(_sign(claims, key, "EdDSA", header), signed_ok, claims, mutation)
