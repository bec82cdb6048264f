"""Stage 3: task token verification. Attack tests are named after the attack (RFC 8725)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from factories import BOT, ROGUE, TRUST_DOMAIN
from tokens import AUDIENCE, ISSUER, KID, T0, Issuer, b64, split

from authz.cache import BoundedCache
from authz.config import TasksConfig
from authz.devkit.pki import make_ca, make_svid
from authz.reasons import Denied, Reason
from authz.stages.task import TaskStage
from authz.store.sqlite import SqliteStore
from authz.tokens.task import thumbprint

LEEWAY = 30
CA = make_ca(TRUST_DOMAIN)
SVID = make_svid(CA, BOT)
OTHER_SVID = make_svid(CA, ROGUE)
ISSUER_KEYS = Issuer()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def settings(**overrides: object) -> TasksConfig:
    values: dict[str, object] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": {KID: ISSUER_KEYS.key.public_key()},
        "algorithms": frozenset({"EdDSA"}),
        "max_ttl": 900,
        "leeway": LEEWAY,
        "max_token_bytes": 4096,
        "max_delegation_depth": 2,
    }
    values.update(overrides)
    return TasksConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def stage(store: SqliteStore) -> TaskStage:
    return TaskStage(settings(), store)


def token(**overrides: object) -> str:
    return ISSUER_KEYS.token(SVID, BOT, **overrides)


def verify(
    stage: TaskStage, tok: str | None, *, agent: str = BOT, now: int = T0 + 1, cert: object = SVID
) -> object:
    return stage.verify(tok, agent, thumbprint(cert.cert), now)  # type: ignore[attr-defined]


def reason(stage: TaskStage, tok: str | None, **kwargs: object) -> Reason:
    with pytest.raises(Denied) as info:
        verify(stage, tok, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_valid_token(stage: TaskStage) -> None:
    task = verify(stage, token(principals=["alice", "bob"], actions=["user.read"], max_calls=5))
    assert task.agent == BOT and task.principals == {"alice", "bob"}  # type: ignore[attr-defined]
    assert task.max_calls == 5 and task.on_behalf_of is None  # type: ignore[attr-defined]


def test_missing_token(stage: TaskStage) -> None:
    assert reason(stage, None) is Reason.TASK_TOKEN_MISSING
    assert reason(stage, "") is Reason.TASK_TOKEN_MISSING


def forge(header: dict[str, object], claims: dict[str, object], signature: str = "") -> str:
    return f"{b64(header)}.{b64(claims)}.{signature}"


def test_attack_alg_none(stage: TaskStage) -> None:
    header, claims, _ = split(token())
    assert reason(stage, forge({**header, "alg": "none"}, claims)) is Reason.TASK_TOKEN_INVALID


def test_attack_hs256_signed_with_the_issuer_public_key(stage: TaskStage) -> None:
    header, claims, _ = split(token())
    public_pem = ISSUER_KEYS.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert reason(stage, f"{signing_input}.{b64(mac)}") is Reason.TASK_TOKEN_INVALID
    # ... even where HS256 were (wrongly) allowed, the key pins EdDSA:
    lax = TaskStage(settings(algorithms=frozenset({"EdDSA", "HS256"})), stage._store)
    assert reason(lax, f"{signing_input}.{b64(mac)}") is Reason.TASK_TOKEN_INVALID


@pytest.mark.parametrize("kid", ["unknown-key", "../../etc/passwd", "https://evil.example/key.pem", "", 7])
def test_attack_kid_not_a_configured_key(stage: TaskStage, kid: object) -> None:
    attacker = ed25519.Ed25519PrivateKey.generate()
    _, claims, _ = split(token())
    forged = signed({"alg": "EdDSA", "typ": "task+jwt", "kid": kid}, claims, attacker)
    assert reason(stage, forged) is Reason.TASK_TOKEN_INVALID


@pytest.mark.parametrize("param", ["jku", "x5u"])
def test_attack_jku_or_x5u_pointing_elsewhere(stage: TaskStage, param: str) -> None:
    attacker = ed25519.Ed25519PrivateKey.generate()
    _, claims, _ = split(token())
    for key, kid in [(attacker, "attacker"), (ISSUER_KEYS.key, KID)]:
        forged = jwt.encode(
            claims,
            key,
            algorithm="EdDSA",
            headers={"typ": "task+jwt", "kid": kid, param: "https://evil.example/jwks"},
        )
        assert reason(stage, forged) is Reason.TASK_TOKEN_INVALID


def test_attack_crit_header_is_refused(stage: TaskStage) -> None:
    tok = ISSUER_KEYS.token(SVID, BOT, extra_headers={"crit": ["exp"]})
    assert reason(stage, tok) is Reason.TASK_TOKEN_INVALID


def signed(header: dict[str, object], claims: dict[str, object], key: ed25519.Ed25519PrivateKey) -> str:
    signing_input = f"{b64(header)}.{b64(claims)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


@pytest.mark.parametrize("typ", [None, "JWT", "approval+jwt", "TASK+JWT"])
def test_attack_missing_or_other_typ(stage: TaskStage, typ: str | None) -> None:
    _, claims, _ = split(token())
    header: dict[str, object] = {"alg": "EdDSA", "kid": KID}
    if typ is not None:
        header["typ"] = typ
    assert reason(stage, signed(header, claims, ISSUER_KEYS.key)) is Reason.TASK_TOKEN_INVALID


def test_attack_duplicate_claims(stage: TaskStage) -> None:
    # Validly signed, but "sub" appears twice: parsers disagree on which one wins, so refuse.
    header, claims, _ = split(token())
    payload = b'{"sub": "spiffe://agents.example.org/agent/admin-bot", ' + json.dumps(claims).encode()[1:]
    signing_input = f"{b64(header)}.{b64(payload)}"
    forged = f"{signing_input}.{b64(ISSUER_KEYS.key.sign(signing_input.encode()))}"
    assert reason(stage, forged) is Reason.TASK_TOKEN_INVALID


def test_attack_signed_by_another_key_with_our_kid(stage: TaskStage) -> None:
    impostor = Issuer(key=ed25519.Ed25519PrivateKey.generate())
    assert reason(stage, impostor.token(SVID, BOT)) is Reason.TASK_TOKEN_INVALID


def test_attack_es256_key_cannot_verify_an_eddsa_token(store: SqliteStore) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    stage = TaskStage(
        settings(keys={KID: ec_key.public_key()}, algorithms=frozenset({"EdDSA", "ES256"})), store
    )
    assert reason(stage, token()) is Reason.TASK_TOKEN_INVALID
    assert verify(stage, Issuer(key=ec_key).token(SVID, BOT))  # type: ignore[arg-type]


def test_key_rotation_accepts_every_configured_kid(store: SqliteStore) -> None:
    new = Issuer(kid="issuer-2")
    stage = TaskStage(
        settings(keys={KID: ISSUER_KEYS.key.public_key(), "issuer-2": new.key.public_key()}), store
    )
    assert verify(stage, token()) and verify(stage, new.token(SVID, BOT))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0 + 300 + LEEWAY, None),  # the last second inside the leeway
        (T0 + 300 + LEEWAY + 1, Reason.TASK_TOKEN_EXPIRED),  # one second past it
        (T0 + 300 + LEEWAY - 1, None),
    ],
    ids=["at-leeway", "one-second-past-leeway", "one-second-inside-leeway"],
)
def test_attack_expiry_at_the_leeway_boundary(stage: TaskStage, now: int, expected: Reason | None) -> None:
    tok = token(ttl=300)
    if expected is None:
        assert verify(stage, tok, now=now)
    else:
        assert reason(stage, tok, now=now) is expected


def test_expiry_is_checked_on_cached_tokens(stage: TaskStage) -> None:
    tok = token(ttl=60)
    assert verify(stage, tok, now=T0)
    assert reason(stage, tok, now=T0 + 60 + LEEWAY + 1) is Reason.TASK_TOKEN_EXPIRED


def test_attack_nbf_in_the_future(stage: TaskStage) -> None:
    tok = token(now=T0 + 3600)
    assert reason(stage, tok, now=T0) is Reason.TASK_TOKEN_INVALID


def test_attack_aud_of_another_api(stage: TaskStage) -> None:
    assert reason(stage, token(audience="billing-api")) is Reason.TASK_TOKEN_INVALID


def test_attack_iss_of_another_issuer(stage: TaskStage) -> None:
    assert reason(stage, token(issuer="someone-else")) is Reason.TASK_TOKEN_INVALID


def test_attack_ttl_over_the_cap(stage: TaskStage) -> None:
    assert reason(stage, token(ttl=901)) is Reason.TASK_TOKEN_INVALID


def test_attack_token_over_the_size_cap(stage: TaskStage) -> None:
    big = token(principals=[f"user{i:05d}" for i in range(600)])
    assert len(big) > 4096
    assert reason(stage, big) is Reason.TASK_TOKEN_INVALID


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace(".", "!", 1),
        lambda t: t + "%%%",
        lambda t: t.split(".")[0],
        lambda t: "a.b.c",
        lambda t: t[:-5] + "!!!!!",
        lambda t: "x" * 100,
    ],
)
def test_attack_broken_base64(stage: TaskStage, mangle: object) -> None:
    assert reason(stage, mangle(token())) is Reason.TASK_TOKEN_INVALID  # type: ignore[operator]


def test_attack_token_presented_with_another_agents_svid(stage: TaskStage) -> None:
    assert reason(stage, token(), agent=ROGUE, cert=OTHER_SVID) is Reason.TOKEN_BINDING_MISMATCH


def test_attack_token_with_same_spiffe_id_but_another_certificate(stage: TaskStage) -> None:
    reissued = make_svid(CA, BOT)  # same identity, other key: a stolen token is useless without the key
    assert reason(stage, token(), cert=reissued) is Reason.TOKEN_BINDING_MISMATCH


def test_attack_forged_act_chain_whose_outer_actor_is_another_agent(stage: TaskStage) -> None:
    # Validly signed, cnf bound to BOT's certificate, but the acting agent it names is ROGUE.
    tok = ISSUER_KEYS.token(SVID, ROGUE, on_behalf_of="alice")
    assert reason(stage, tok) is Reason.TOKEN_BINDING_MISMATCH


def test_delegation_chain(stage: TaskStage) -> None:
    tok = token(on_behalf_of="alice@example.org", delegation=["spiffe://agents.example.org/agent/planner"])
    task = verify(stage, tok)
    assert task.on_behalf_of == "alice@example.org"  # type: ignore[attr-defined]
    assert task.actors == (BOT, "spiffe://agents.example.org/agent/planner")  # type: ignore[attr-defined]


def test_attack_delegation_chain_deeper_than_allowed(stage: TaskStage) -> None:
    tok = token(on_behalf_of="alice", delegation=["spiffe://a/b", "spiffe://a/c"])
    assert reason(stage, tok) is Reason.TASK_TOKEN_INVALID


def test_revocation_is_checked_on_every_request(stage: TaskStage, store: SqliteStore) -> None:
    tok = token(task_id="task-1")
    assert verify(stage, tok)
    store.revoke_task("task-1", reason="test", by="security")
    assert reason(stage, tok) is Reason.TASK_REVOKED


def test_attack_revocation_seen_by_a_second_process(tmp_path: Path, stage: TaskStage) -> None:
    import subprocess
    import sys

    tok = token(task_id="task-2")
    assert verify(stage, tok)
    code = (
        "import sys; from pathlib import Path; from authz.store.sqlite import SqliteStore;"
        "s = SqliteStore(Path(sys.argv[1])); s.revoke_task('task-2', reason='kill', by='other'); s.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "state.db")], check=True, timeout=60)
    assert reason(stage, tok) is Reason.TASK_REVOKED


@pytest.mark.parametrize(
    "claims_patch",
    [
        {"authorization_details": []},
        {"authorization_details": [{"type": "other", "actions": ["user.read"], "principals": ["alice"]}]},
        {"authorization_details": [{"type": "agent_task", "actions": [], "principals": ["alice"]}]},
        {"authorization_details": [{"type": "agent_task", "actions": ["user.read"], "principals": "alice"}]},
        {"cnf": {}},
        {"intent": 5},
        {"exp": "later"},
        {"budget": {"max_calls": 0}},
        {"act": {"sub": BOT, "extra": 1}},
    ],
    ids=[
        "no-details",
        "wrong-type",
        "no-actions",
        "principals-string",
        "no-cnf",
        "intent-number",
        "exp-string",
        "zero-budget",
        "act-extra",
    ],
)
def test_malformed_claims_are_invalid(stage: TaskStage, claims_patch: dict[str, object]) -> None:
    assert reason(stage, token(extra_claims=claims_patch)) is Reason.TASK_TOKEN_INVALID


@pytest.mark.parametrize("junk", ["\ud800", "\u00e9", "\x00"])
def test_attack_non_ascii_token_is_invalid_not_an_internal_error(stage: TaskStage, junk: str) -> None:
    header, payload, signature = token().split(".")
    assert reason(stage, f"{header}.{payload}{junk}.{signature}") is Reason.TASK_TOKEN_INVALID


def test_many_distinct_tokens_keep_the_cache_bounded(store: SqliteStore) -> None:
    stage = TaskStage(settings(), store)
    stage._cache = BoundedCache(8)
    tokens = [token(task_id=f"t{i}") for i in range(20)]
    for tok in tokens:
        verify(stage, tok)
    assert len(stage._cache) == 8 and stage._cache.evictions == 12
    verified: list[str] = []
    original = stage._verify_signed
    stage._verify_signed = lambda t: verified.append(t) or original(t)  # type: ignore[method-assign]
    verify(stage, tokens[-1])  # recent: cached, no signature check
    verify(stage, tokens[0])  # evicted long ago: verified again
    assert verified == [tokens[0]]
