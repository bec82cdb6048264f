"""Stage 1: identity. Attack tests are named after the attack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import BOT, ROGUE, SUSPENDED, TRUST_DOMAIN, World, envoy_cert, make_world

from authz.pki import SERVER_AUTH, make_ca, make_svid
from authz.reasons import Denied, Reason
from authz.stages.identity import IdentityStage
from authz.store.sqlite import SqliteStore
from authz.tasks import thumbprint

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("identity"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def stage(world: World, store: SqliteStore) -> IdentityStage:
    config = world.config()
    return IdentityStage(config.trust_domains, config.agents, store)


def denied(stage: IdentityStage, principal: str, certificate: str, now: dt.datetime = NOW) -> Reason:
    with pytest.raises(Denied) as info:
        stage.verify(principal, certificate, now)
    return info.value.reason


def test_registered_agent_is_identified(world: World, stage: IdentityStage) -> None:
    svid = world.svid(BOT)
    caller = stage.verify(BOT, envoy_cert(svid), NOW)
    assert caller.agent.spiffe_id == BOT
    assert caller.agent.owner == "it-helpdesk@example.org"
    assert caller.thumbprint == thumbprint(svid.cert)


def test_missing_certificate(stage: IdentityStage) -> None:
    assert denied(stage, BOT, "") is Reason.MISSING_CLIENT_IDENTITY


def test_unregistered_agent_with_valid_svid(world: World, stage: IdentityStage) -> None:
    assert denied(stage, ROGUE, envoy_cert(world.svid(ROGUE))) is Reason.UNKNOWN_AGENT


def test_suspended_agent(world: World, stage: IdentityStage) -> None:
    assert denied(stage, SUSPENDED, envoy_cert(world.svid(SUSPENDED))) is Reason.AGENT_SUSPENDED


def test_attack_two_uri_sans(world: World, stage: IdentityStage) -> None:
    svid = world.svid([BOT, f"spiffe://{TRUST_DOMAIN}/agent/admin-bot"])  # type: ignore[arg-type]
    assert denied(stage, BOT, envoy_cert(svid)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_svid_from_another_trust_domain_ca_with_forged_principal(stage: IdentityStage) -> None:
    # A CA the attacker controls issues an SVID naming our agent; sent straight to the
    # authorizer with source.principal forged to match.
    attacker_ca = make_ca(TRUST_DOMAIN)
    forged = make_svid(attacker_ca, BOT)
    assert denied(stage, BOT, envoy_cert(forged)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_svid_of_an_untrusted_trust_domain(stage: IdentityStage) -> None:
    other_ca = make_ca("evil.example.com")
    svid = make_svid(other_ca, "spiffe://evil.example.com/agent/helpdesk-bot")
    assert denied(stage, "spiffe://evil.example.com/agent/helpdesk-bot", envoy_cert(svid)) is (
        Reason.INVALID_CLIENT_CERTIFICATE
    )


def test_attack_source_principal_not_matching_certificate(world: World, stage: IdentityStage) -> None:
    rogue = world.svid(ROGUE)
    assert denied(stage, BOT, envoy_cert(rogue)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_expired_svid(world: World, stage: IdentityStage) -> None:
    expired = world.svid(BOT, not_before=NOW - dt.timedelta(days=2), not_after=NOW - dt.timedelta(days=1))
    assert denied(stage, BOT, envoy_cert(expired)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_ca_certificate_as_client(world: World, stage: IdentityStage) -> None:
    assert (
        denied(stage, f"spiffe://{TRUST_DOMAIN}", envoy_cert(world.ca)) is Reason.INVALID_CLIENT_CERTIFICATE
    )


def test_attack_leaf_with_ca_flag(world: World, stage: IdentityStage) -> None:
    assert denied(stage, BOT, envoy_cert(world.svid(BOT, is_ca=True))) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_server_auth_only_svid(world: World, stage: IdentityStage) -> None:
    svid = world.svid(BOT, usages=(SERVER_AUTH,))
    assert denied(stage, BOT, envoy_cert(svid)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_svid_without_extended_key_usage(world: World, stage: IdentityStage) -> None:
    assert denied(stage, BOT, envoy_cert(world.svid(BOT, usages=()))) is Reason.INVALID_CLIENT_CERTIFICATE


@pytest.mark.parametrize(
    "certificate",
    [
        "not a certificate",
        "-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----%0A",
        "%ff%fe",
        "x" * 20000,
    ],
    ids=["garbage", "broken-pem", "bad-utf8", "oversized"],
)
def test_malformed_certificate_is_denied_not_crashed(stage: IdentityStage, certificate: str) -> None:
    assert denied(stage, BOT, certificate) is Reason.INVALID_CLIENT_CERTIFICATE


def test_two_certificates_in_one_pem_are_refused(world: World, stage: IdentityStage) -> None:
    both = envoy_cert(world.svid(BOT)) + envoy_cert(world.svid(BOT))
    assert denied(stage, BOT, both) is Reason.INVALID_CLIENT_CERTIFICATE


def test_invalid_spiffe_id_in_san(world: World, stage: IdentityStage) -> None:
    svid = world.svid(f"spiffe://{TRUST_DOMAIN}/agent/../admin")
    assert denied(stage, f"spiffe://{TRUST_DOMAIN}/agent/../admin", envoy_cert(svid)) is (
        Reason.INVALID_CLIENT_CERTIFICATE
    )


def test_cached_certificate_still_expires(world: World, stage: IdentityStage) -> None:
    svid = world.svid(BOT, not_before=NOW - dt.timedelta(minutes=1), not_after=NOW + dt.timedelta(minutes=1))
    cert = envoy_cert(svid)
    assert stage.verify(BOT, cert, NOW).agent.spiffe_id == BOT  # verified and cached
    assert denied(stage, BOT, cert, NOW + dt.timedelta(minutes=2)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_cached_certificate_is_still_checked_against_the_principal(
    world: World, stage: IdentityStage
) -> None:
    cert = envoy_cert(world.svid(BOT))
    stage.verify(BOT, cert, NOW)
    assert denied(stage, ROGUE, cert) is Reason.INVALID_CLIENT_CERTIFICATE


def test_registry_is_read_on_every_request(world: World, stage: IdentityStage) -> None:
    cert = envoy_cert(world.svid(SUSPENDED))
    assert denied(stage, SUSPENDED, cert) is Reason.AGENT_SUSPENDED
    assert denied(stage, SUSPENDED, cert) is Reason.AGENT_SUSPENDED  # cache does not skip the registry


def test_kill_switch_takes_effect_on_the_next_request(
    world: World, stage: IdentityStage, store: SqliteStore
) -> None:
    cert = envoy_cert(world.svid(BOT))
    assert stage.verify(BOT, cert, NOW)
    store.set_agent_suspended(BOT, True, by="security")
    assert denied(stage, BOT, cert) is Reason.AGENT_SUSPENDED
    store.set_agent_suspended(BOT, False, by="security")
    assert stage.verify(BOT, cert, NOW)
