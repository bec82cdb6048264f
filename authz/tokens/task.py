"""Task tokens (docs/tokens.md): the just-in-time, certificate-bound, task-scoped credential.

``issue_token`` signs one; ``parse_claims`` turns verified claims into a ``Task``. The
verification itself is stage 3 (``authz/stages/task.py``); the catalogue rules an issuer must
respect (which agent may declare which intent, which actions it permits, the TTL cap) are in
``check_request`` so the CLI and programs refuse the same things.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authz.errors import TokenError
from authz.tokens.jws import ClaimsError, int_claim, text_claim
from authz.tokens.keys import PrivateKey, algorithm_of

TASK_TYP = "task+jwt"
DETAILS_TYPE = "agent_task"


class TaskClaimsError(ClaimsError):
    """Verified claims that do not have the shape of a task token."""


class IssueError(TokenError, ValueError):
    """A task the issuer must refuse (intent, action or TTL not allowed)."""


@dataclass(frozen=True)
class Task:
    task_id: str
    issuer: str
    subject: str
    actors: tuple[str, ...]  # act chain, outermost (the acting agent) first; () if autonomous
    thumbprint: str  # cnf x5t#S256
    intent: str
    actions: frozenset[str]
    principals: frozenset[str]
    max_calls: int | None
    issued_at: int
    not_before: int
    expires: int

    @property
    def agent(self) -> str:
        """Whose mTLS identity must present the token: the outermost actor, else ``sub``."""
        return self.actors[0] if self.actors else self.subject

    @property
    def on_behalf_of(self) -> str | None:
        return self.subject if self.actors else None

    @property
    def delegation_depth(self) -> int:
        return len(self.actors)


def thumbprint(cert: x509.Certificate) -> str:
    """RFC 8705 ``x5t#S256``: base64url(SHA-256(DER)), unpadded."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _strings(value: Any, name: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise TaskClaimsError(f"'{name}' must be a non-empty list of strings")
    return frozenset(value)


def _actors(act: Any, max_depth: int) -> tuple[str, ...]:
    actors: list[str] = []
    while act is not None:
        if not isinstance(act, dict) or set(act) - {"sub", "act"} or not isinstance(act.get("sub"), str):
            raise TaskClaimsError('\'act\' must be {"sub": ..., "act"?: ...}')
        actors.append(act["sub"])
        if len(actors) > max_depth:
            raise TaskClaimsError(f"delegation chain deeper than {max_depth}")
        act = act.get("act")
    return tuple(actors)


def parse_claims(claims: Mapping[str, Any], max_depth: int) -> Task:
    details = claims.get("authorization_details")
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise TaskClaimsError("'authorization_details' must hold exactly one agent_task entry")
    detail = details[0]
    if detail.get("type") != DETAILS_TYPE:
        raise TaskClaimsError("'authorization_details' entry must be of type agent_task")
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("x5t#S256"), str):
        raise TaskClaimsError("'cnf' must carry x5t#S256")
    budget = claims.get("budget")
    max_calls = None
    if budget is not None:
        if not isinstance(budget, dict):
            raise TaskClaimsError("'budget' must be an object")
        max_calls = int_claim(budget, "max_calls")
        if max_calls < 1:
            raise TaskClaimsError("'budget.max_calls' must be at least 1")
    return Task(
        task_id=text_claim(claims, "jti"),
        issuer=text_claim(claims, "iss"),
        subject=text_claim(claims, "sub"),
        actors=_actors(claims.get("act"), max_depth),
        thumbprint=cnf["x5t#S256"],
        intent=text_claim(claims, "intent"),
        actions=_strings(detail.get("actions"), "actions"),
        principals=_strings(detail.get("principals"), "principals"),
        max_calls=max_calls,
        issued_at=int_claim(claims, "iat"),
        not_before=int_claim(claims, "nbf"),
        expires=int_claim(claims, "exp"),
    )


def _act_claim(actors: Sequence[str]) -> dict[str, Any] | None:
    act: dict[str, Any] | None = None
    for actor in reversed(actors):
        act = {"sub": actor, **({"act": act} if act else {})}
    return act


def issue_token(
    *,
    key: PrivateKey,
    kid: str,
    issuer: str,
    audience: str,
    agent_id: str,
    agent_cert: x509.Certificate,
    intent: str,
    principals: Sequence[str],
    actions: Sequence[str],
    ttl: int,
    now: int,
    on_behalf_of: str | None = None,
    delegation: Sequence[str] = (),
    max_calls: int | None = None,
    task_id: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign a task token. ``delegation`` lists earlier actors, nearest first."""
    if delegation and not on_behalf_of:
        raise IssueError("a delegation chain needs an on-behalf-of subject")
    actors = [agent_id, *delegation] if on_behalf_of else []
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "jti": task_id or uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "sub": on_behalf_of or agent_id,
        "cnf": {"x5t#S256": thumbprint(agent_cert)},
        "intent": intent,
        "authorization_details": [
            {"type": DETAILS_TYPE, "actions": list(actions), "principals": list(principals)}
        ],
    }
    act = _act_claim(actors)
    if act:
        claims["act"] = act
    if max_calls is not None:
        claims["budget"] = {"max_calls": max_calls}
    claims.update(extra_claims or {})
    headers = {"typ": TASK_TYP, "kid": kid, **(extra_headers or {})}
    return jwt.encode(claims, key, algorithm=algorithm_of(key), headers=headers)
