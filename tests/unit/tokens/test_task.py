"""Task token claims (``authz/tokens/task.py``): verified claims to a ``Task``, or a refusal; and back."""

from __future__ import annotations

import copy
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.devkit.pki import DevPki, make_svid
from authz.tokens.jws import ClaimsError
from authz.tokens.task import Task, issue_token, parse_claims

AGENT = "spiffe://agents.example.org/agent/helpdesk-bot"
PLANNER = "spiffe://agents.example.org/agent/planner"
CLAIMS: dict[str, Any] = {
    "iss": "task-issuer",
    "aud": "iam-api",
    "jti": "t-1",
    "iat": 100,
    "nbf": 110,
    "exp": 400,
    "sub": "bob",
    "act": {"sub": AGENT, "act": {"sub": PLANNER}},
    "cnf": {"x5t#S256": "thumb"},
    "intent": "credential_recovery",
    "authorization_details": [
        {"type": "agent_task", "actions": ["user.read", "user.password.reset"], "principals": ["alice"]}
    ],
    "budget": {"max_calls": 3},
}


def claims(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(CLAIMS)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def details(**changes: Any) -> list[dict[str, Any]]:
    entry = {**CLAIMS["authorization_details"][0], **changes}
    return [entry]


def test_verified_claims_become_a_task() -> None:
    assert parse_claims(claims(), 2) == Task(
        task_id="t-1", issuer="task-issuer", subject="bob", actors=(AGENT, PLANNER), thumbprint="thumb",
        intent="credential_recovery", actions=frozenset({"user.read", "user.password.reset"}),
        principals=frozenset({"alice"}), max_calls=3, issued_at=100, not_before=110, expires=400,
    )  # fmt: skip


def test_an_autonomous_task_without_a_budget() -> None:
    task = parse_claims(claims(act=None, budget=None, sub=AGENT), 2)
    assert (task.actors, task.agent, task.on_behalf_of, task.max_calls) == ((), AGENT, None, None)


@pytest.mark.parametrize(
    "changed",
    [
        {"authorization_details": details(actions=[1])},  # not strings
        {"authorization_details": details(actions=[["user.read"]])},
        {"authorization_details": details(principals=[""])},
        {"authorization_details": details(principals=[])},
        {"authorization_details": details(principals="alice")},
        {"authorization_details": details(type="other")},
        {"authorization_details": details() * 2},
        {"authorization_details": ["agent_task"]},
        {"authorization_details": None},
        {"cnf": {"x5t": "thumb"}},
        {"cnf": {"x5t#S256": 1}},
        {"cnf": "thumb"},
        {"budget": {"max_calls": 0}},
        {"budget": {"max_calls": True}},
        {"budget": 3},
        {"act": {"sub": AGENT, "iss": "x"}},
        {"act": {"sub": 1}},
        {"act": "agent"},
        {"act": {"sub": AGENT, "act": {"sub": PLANNER, "act": {"sub": "spiffe://a/b"}}}},  # depth 3 > 2
        {"jti": ""},
        {"iss": None},
        {"sub": 1},
        {"intent": None},
        {"iat": "100"},
        {"nbf": 1.5},
        {"exp": None},
    ],
)
def test_claims_that_are_not_a_task(changed: dict[str, Any]) -> None:
    with pytest.raises(ClaimsError):
        parse_claims(claims(**changed), 2)


@pytest.fixture(scope="module")
def svid(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pki = DevPki.create(tmp_path_factory.mktemp("pki"), "agents.example.org", ["helpdesk-bot"])
    return make_svid(pki.load_ca(), AGENT)


@pytest.mark.parametrize(
    ("on_behalf_of", "delegation", "act"),
    [
        (None, (), None),
        ("bob", (), {"sub": AGENT}),
        ("bob", (PLANNER,), {"sub": AGENT, "act": {"sub": PLANNER}}),
    ],
)
def test_an_issued_token_reads_back_as_its_task(
    svid: Any, on_behalf_of: str | None, delegation: tuple[str, ...], act: dict[str, Any] | None
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    token = issue_token(
        key=key, kid="issuer-1", issuer="task-issuer", audience="iam-api", agent_id=AGENT,
        agent_cert=svid.cert, intent="account_support", principals=["alice"], actions=["user.read"],
        ttl=300, now=1000, on_behalf_of=on_behalf_of, delegation=delegation, max_calls=2, task_id="t-9",
    )  # fmt: skip
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "task+jwt", "kid": "issuer-1"}
    payload = jwt.decode(
        token, key.public_key(), algorithms=["EdDSA"], audience="iam-api", options={"verify_exp": False}
    )
    assert payload.get("act") == act and payload["sub"] == (on_behalf_of or AGENT)
    task = parse_claims(payload, 2)
    assert (task.task_id, task.agent, task.on_behalf_of, task.max_calls) == ("t-9", AGENT, on_behalf_of, 2)
    assert (task.issued_at, task.not_before, task.expires) == (1000, 1000, 1300)
