"""Issuing task tokens under the catalogue's rules (``authz/tokens/issuer.py``): the same checks for
the CLI and for programs; a token is signed only for a registered, active agent, an intent it may
declare, operations the intent permits, a lifetime, delegation and budget within the limits."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from factories import BOT, ROGUE, SUSPENDED, TRUST_DOMAIN, World, make_world

from authz.config import Config
from authz.devkit.world import ISSUER_KID
from authz.tokens.issuer import issue
from authz.tokens.task import IssueError, thumbprint

NOW = 1_800_000_000
RESET = "user.password.reset"
AUDIT_BOT = f"spiffe://{TRUST_DOMAIN}/agent/audit-bot"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="module")
def config(world: World) -> Config:
    return world.config()


def issued(world: World, config: Config, **changes: Any) -> str:
    args: dict[str, Any] = {
        "key": world.issuer_key,
        "kid": ISSUER_KID,
        "agent_cert": world.bot.cert,
        "intent": "credential_recovery",
        "principals": ["alice"],
        "actions": ["user.read", "user.password.reset"],
        "ttl": 300,
        "now": NOW,
    }
    args.update(changes)
    return issue(config, **args)


def test_a_token_is_issued_for_the_agents_certificate(world: World, config: Config) -> None:
    token = issued(world, config, on_behalf_of="bob", max_calls=3)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (header["kid"], header["typ"], claims["iss"], claims["aud"]) == (
        ISSUER_KID,
        "task+jwt",
        config.tasks.issuer,
        config.tasks.audience,
    )
    assert (claims["sub"], claims["act"], claims["budget"]) == ("bob", {"sub": BOT}, {"max_calls": 3})
    assert (claims["iat"], claims["exp"]) == (NOW, NOW + 300)
    assert claims["cnf"] == {"x5t#S256": thumbprint(world.bot.cert)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"intent": "audit"}, "intent 'audit' is not in the catalogue"),
        ({"intent": "account_support", "actions": [RESET]}, f"does not permit {RESET}"),
        ({"actions": []}, "at least one action and one principal"),
        ({"principals": []}, "at least one action and one principal"),
        ({"ttl": 0}, "ttl must be between 1 and 900 seconds"),
        ({"ttl": 901}, "ttl must be between 1 and 900 seconds"),
        ({"on_behalf_of": "bob", "delegation": ["a", "b"]}, "the delegation chain is deeper than 2"),
        ({"delegation": ["a", "b", "c"]}, "the delegation chain is deeper than 2"),
        ({"max_calls": 0}, "a call budget must be at least 1"),
        ({"kid": "dev-issuer-2"}, "the signing key is not the configured issuer key 'dev-issuer-2'"),
        ({"key": ed25519.Ed25519PrivateKey.generate()}, "is not the configured issuer key 'dev-issuer-1'"),
    ],
    ids=[
        "unknown-intent", "operation-outside-the-intent", "no-action", "no-principal", "ttl-zero",
        "ttl-over-the-cap", "delegation-and-on-behalf-of", "delegation", "zero-budget", "unknown-kid",
        "another-key",
    ],
)  # fmt: skip
def test_what_is_refused(world: World, config: Config, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(IssueError, match=message):
        issued(world, config, **changes)


def test_the_longest_lifetime_and_chain_are_issued(world: World, config: Config) -> None:
    token = issued(world, config, ttl=900, on_behalf_of="bob", delegation=["spiffe://a/agent/planner"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900
    assert claims["act"] == {"sub": BOT, "act": {"sub": "spiffe://a/agent/planner"}}


@pytest.mark.parametrize("agent", [ROGUE, SUSPENDED], ids=["unregistered", "suspended"])
def test_only_a_registered_active_agent_gets_a_token(world: World, config: Config, agent: str) -> None:
    with pytest.raises(IssueError, match="is not a registered, active agent"):
        issued(
            world, config, agent_cert=world.svid(agent).cert, intent="account_support", actions=["user.read"]
        )


def test_an_agent_may_declare_only_its_intents(world: World, config: Config) -> None:
    with pytest.raises(IssueError, match="may not declare intent 'credential_recovery'"):
        issued(world, config, agent_cert=world.svid(AUDIT_BOT).cert)
    assert issued(
        world, config, agent_cert=world.svid(AUDIT_BOT).cert, intent="account_support", actions=["user.read"]
    )


@pytest.mark.parametrize(
    ("sans", "message"),
    [((), "has no URI SAN"), ((BOT, AUDIT_BOT), "exactly one URI SAN")],
    ids=["none", "two"],
)
def test_the_agent_certificate_must_be_an_svid(
    world: World, config: Config, sans: tuple[str, ...], message: str
) -> None:
    omit = (x509.SubjectAlternativeName,) if not sans else ()
    cert = world.svid(list(sans) or BOT, omit=omit).cert
    with pytest.raises(IssueError, match=message):
        issued(world, config, agent_cert=cert)
