"""Task token attacks (DESIGN §3.1, RFC 8725): forged, mislabelled, stolen, stale or out of scope."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.tokens.task import thumbprint

from .forge import Forge, b64
from .model import (
    ALLOWED,
    JWT,
    RECOVERY,
    TOKEN_INVALID,
    Case,
    Task,
    forbidden,
    reset,
    unauthorized,
)

Header = dict[str, Any]
Claims = dict[str, Any]
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def alg_none(f: Forge, header: Header, claims: Claims) -> str:
    return f.sign({**header, "alg": "none"}, claims).rsplit(".", 1)[0] + "."


def hs256_with_the_public_key(f: Forge, header: Header, claims: Claims) -> str:
    secret = f.issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = f.sign({**header, "alg": "HS256"}, claims).rsplit(".", 1)[0]
    return f"{head}.{b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())}"


def kid_injection(f: Forge, header: Header, claims: Claims) -> str:
    attacker = ed25519.Ed25519PrivateKey.generate()
    return f.sign({**header, "kid": "../../keys/task-issuer.pub"}, claims, attacker)


def unconfigured_key(f: Forge, header: Header, claims: Claims) -> str:
    return f.sign(header, claims, ed25519.Ed25519PrivateKey.generate())


def headers(**members: Any) -> Any:
    def forgery(f: Forge, header: Header, claims: Claims) -> str:
        return f.sign({**header, **members}, claims)

    forgery.__name__ = f"header_{'_'.join(members)}"
    return forgery


def claims_with(**members: Any) -> Any:
    def forgery(f: Forge, header: Header, claims: Claims) -> str:
        return f.sign(header, {**claims, **members})

    forgery.__name__ = f"claims_{'_'.join(members)}"
    return forgery


def expired_by_one_second(f: Forge, header: Header, claims: Claims) -> str:
    exp = f.now - f.leeway - 1  # the leeway is the config's: one second past it
    return f.sign(header, {**claims, "iat": exp - 300, "nbf": exp - 300, "exp": exp})


def not_yet_valid(f: Forge, header: Header, claims: Claims) -> str:
    start = f.now + f.leeway + 10
    return f.sign(header, {**claims, "iat": start, "nbf": start, "exp": start + 300})


def ttl_over_the_cap(f: Forge, header: Header, claims: Claims) -> str:
    return f.sign(header, {**claims, "exp": claims["iat"] + f.config.tasks.max_ttl + 1})


def utf16_payload(f: Forge, header: Header, claims: Claims) -> str:
    return f.sign(header, json.dumps(claims).encode("utf-16"))  # json.loads(bytes) would accept it


def duplicate_typ(f: Forge, header: Header, claims: Claims) -> str:
    raw = f'{{"alg":"EdDSA","kid":"{header["kid"]}","typ":"approval+jwt","typ":"task+jwt"}}'
    return f.sign(raw.encode(), claims)


def duplicate_claims(f: Forge, header: Header, claims: Claims) -> str:
    more = '{"authorization_details":[{"type":"agent_task","actions":["user.read"],"principals":["root"]}],'
    return f.sign(header, more.encode() + json.dumps(claims).encode()[1:])


def non_canonical_base64(f: Forge, header: Header, claims: Claims) -> str:
    head, signature = f.sign(header, claims).rsplit(".", 1)
    last = B64URL.index(signature[-1])  # 64 bytes: 86 characters, the last 4 bits unused
    return f"{head}.{signature[:-1]}{B64URL[last | 1]}"


def cnf_of_audit_bot(f: Forge, header: Header, claims: Claims) -> str:
    return f.sign(header, {**claims, "cnf": {"x5t#S256": thumbprint(f.agent_cert("audit-bot"))}})


def actor_audit_bot(f: Forge, header: Header, claims: Claims) -> str:
    actor = {"sub": f.stack.pki.spiffe_id("audit-bot")}
    return f.sign(header, {**claims, "sub": "alice@example.org", "act": actor})


def delegation_too_deep(f: Forge, header: Header, claims: Claims) -> str:
    chain: dict[str, Any] = {"sub": "spiffe://agents.example.org/agent/orchestrator-3"}
    for n in (2, 1):
        chain = {"sub": f"spiffe://agents.example.org/agent/orchestrator-{n}", "act": chain}
    actor = {"sub": claims["sub"], "act": chain}
    return f.sign(header, {**claims, "sub": "alice@example.org", "act": actor})


def forged(forgery: Any, **task: Any) -> Task:
    return Task(forge=forgery, **task)


READ_ONLY = Task(intent="credential_recovery", actions=("user.read",), principals=("alice",))


def case(id: str, attack: str, expect: Any, **kwargs: Any) -> Case:
    return Case(id, JWT, attack, expect, **kwargs)


CASES = [
    case("jwt-valid", "baseline: a valid task token for a read", ALLOWED),
    case("jwt-missing", "no task token", unauthorized("task_token_missing"), task=None),
    case("jwt-alg-none", "`alg: none`, no signature", TOKEN_INVALID, task=forged(alg_none)),
    case("jwt-hs256-public-key", "HS256 signed with the issuer's public key as the secret",
         TOKEN_INVALID, task=forged(hs256_with_the_public_key)),
    case("jwt-kid-injection", "`kid` a file path, signed with the attacker's key", TOKEN_INVALID,
         task=forged(kid_injection)),
    case("jwt-unconfigured-key", "the issuer's `kid`, signed with a key that is not configured",
         TOKEN_INVALID, task=forged(unconfigured_key)),
    case("jwt-typ-approval", "`typ: approval+jwt`", TOKEN_INVALID, task=forged(headers(typ="approval+jwt"))),
    case("jwt-typ-missing-case", "`typ: TASK+JWT`", TOKEN_INVALID, task=forged(headers(typ="TASK+JWT"))),
    case("jwt-wrong-aud", "another audience", TOKEN_INVALID, task=forged(claims_with(aud="billing-api"))),
    case("jwt-wrong-iss", "another issuer", TOKEN_INVALID, task=forged(claims_with(iss="evil-issuer"))),
    case("jwt-expired-1s", "expired by one second (past the configured leeway)",
         unauthorized("task_token_expired"), task=forged(expired_by_one_second)),
    case("jwt-not-yet-valid", "not valid yet (`nbf` past the leeway)", TOKEN_INVALID,
         task=forged(not_yet_valid)),
    case("jwt-ttl-over-cap", "lives one second longer than `tasks.max_ttl`", TOKEN_INVALID,
         task=forged(ttl_over_the_cap)),
    case("jwt-utf16-payload", "UTF-16 payload", TOKEN_INVALID, task=forged(utf16_payload)),
    case("jwt-duplicate-typ", 'duplicate `typ` header (`"approval+jwt"` then `"task+jwt"`)',
         TOKEN_INVALID, task=forged(duplicate_typ)),
    case("jwt-duplicate-claims", "duplicate claims (a second `authorization_details`)", TOKEN_INVALID,
         task=forged(duplicate_claims)),
    case("jwt-jku", "`jku` header pointing at the attacker's keys", TOKEN_INVALID,
         task=forged(headers(jku="https://evil.example/jwks.json"))),
    case("jwt-x5u", "`x5u` header", TOKEN_INVALID, task=forged(headers(x5u="https://evil.example/cert.pem"))),
    case("jwt-crit", "`crit` header", TOKEN_INVALID, task=forged(headers(crit=["exp"]))),
    case("jwt-non-canonical-base64", "signature in non-canonical base64url (an unused bit set)",
         TOKEN_INVALID, task=forged(non_canonical_base64)),
    case("jwt-delegation-too-deep", "delegation chain deeper than `tasks.max_delegation_depth`",
         TOKEN_INVALID, task=forged(delegation_too_deep)),
    case("jwt-another-agents-token", "helpdesk-bot's token presented by audit-bot",
         unauthorized("token_binding_mismatch"), agent="audit-bot", task=Task(bound_to="helpdesk-bot")),
    case("jwt-another-agents-cnf", "token naming the sender, `cnf` of audit-bot's certificate",
         unauthorized("token_binding_mismatch"), task=forged(cnf_of_audit_bot)),
    case("jwt-another-actor", "`act.sub` audit-bot, `cnf` of the sender's certificate",
         unauthorized("token_binding_mismatch"), task=forged(actor_audit_bot)),
    case("jwt-revoked", "a revoked task (`agent-authz task revoke`)", forbidden("task_revoked"),
         before=("revoke",)),
    case("jwt-principal-out-of-scope", "a read of bob with a task naming alice",
         forbidden("principal_not_in_scope"), path="/v1/users/bob", target="bob",
         task=Task(principals=("alice",))),
    case("jwt-operation-out-of-scope", "a password reset with a read-only task",
         forbidden("operation_not_in_scope"),
         **{**reset(), "task": READ_ONLY}),
    case("jwt-intent-of-another-task", "the reset task's token with `account_support` declared",
         forbidden("intent_mismatch"), intent="account_support",
         task=Task(intent="credential_recovery", actions=RECOVERY, principals=("alice",))),
]  # fmt: skip
