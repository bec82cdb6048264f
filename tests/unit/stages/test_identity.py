"""Stage 1: identity. Attack tests are named after the attack.

No test depends on when it runs: ``now`` is read per test (the ``now`` fixture), and the
certificates are made at run time, valid from five minutes before they are made for a day.
Refusals by an X.509-SVID rule are checked by their message too, so each test fails if its
rule is removed even where ``cryptography``'s verifier would refuse the certificate later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from factories import BOT, ROGUE, SUSPENDED, TRUST_DOMAIN, World, envoy_cert, make_world

from authz.devkit.pki import CLIENT_AUTH, SERVER_AUTH, Issued, make_ca, make_svid
from authz.reasons import Denied, Reason
from authz.stages.identity import IdentityStage
from authz.store.sqlite import SqliteStore
from authz.svid.spiffe_id import MAX_ID_BYTES
from authz.tokens.task import thumbprint

UNKNOWN_EXTENSION = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("identity"))


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def stage(world: World, store: SqliteStore) -> IdentityStage:
    config = world.config()
    return IdentityStage(config.trust_domains, config.agents, store)


def denied(stage: IdentityStage, principal: str, certificate: str, now: dt.datetime) -> Reason:
    with pytest.raises(Denied) as info:
        stage.verify(principal, certificate, now)
    return info.value.reason


def refusal(stage: IdentityStage, svid: Issued, now: dt.datetime, principal: str = BOT) -> str:
    """The message of the ``invalid_client_certificate`` deny of ``svid``."""
    with pytest.raises(Denied) as info:
        stage.verify(principal, envoy_cert(svid), now)
    assert info.value.reason is Reason.INVALID_CLIENT_CERTIFICATE
    return info.value.message


def test_registered_agent_is_identified(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT)
    caller = stage.verify(BOT, envoy_cert(svid), now)
    assert caller.agent.spiffe_id == BOT
    assert caller.agent.owner == "it-helpdesk@example.org"
    assert caller.thumbprint == thumbprint(svid.cert)


def test_missing_certificate(stage: IdentityStage, now: dt.datetime) -> None:
    assert denied(stage, BOT, "", now) is Reason.MISSING_CLIENT_IDENTITY


def test_unregistered_agent_with_valid_svid(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    assert denied(stage, ROGUE, envoy_cert(world.svid(ROGUE)), now) is Reason.UNKNOWN_AGENT


def test_suspended_agent(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    assert denied(stage, SUSPENDED, envoy_cert(world.svid(SUSPENDED)), now) is Reason.AGENT_SUSPENDED


def test_attack_two_uri_sans(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid([BOT, f"spiffe://{TRUST_DOMAIN}/agent/admin-bot"])  # type: ignore[arg-type]
    assert "exactly one URI SAN" in refusal(stage, svid, now)


def test_attack_svid_from_another_trust_domain_ca_with_forged_principal(
    stage: IdentityStage, now: dt.datetime
) -> None:
    # A CA the attacker controls issues an SVID naming our agent; sent straight to the
    # authorizer with source.principal forged to match.
    forged = make_svid(make_ca(TRUST_DOMAIN), BOT)
    assert "does not chain" in refusal(stage, forged, now)


def test_attack_svid_of_an_untrusted_trust_domain(stage: IdentityStage, now: dt.datetime) -> None:
    evil = "spiffe://evil.example.com/agent/helpdesk-bot"
    svid = make_svid(make_ca("evil.example.com"), evil)
    assert "not trusted" in refusal(stage, svid, now, principal=evil)


def test_attack_source_principal_not_matching_certificate(
    world: World, stage: IdentityStage, now: dt.datetime
) -> None:
    assert "does not match" in refusal(stage, world.svid(ROGUE), now)


def test_attack_expired_svid(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    expired = world.svid(BOT, not_before=now - dt.timedelta(days=2), not_after=now - dt.timedelta(days=1))
    assert denied(stage, BOT, envoy_cert(expired), now) is Reason.INVALID_CLIENT_CERTIFICATE


def test_attack_ca_certificate_as_client(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    # Its SPIFFE ID has no path (X509-SVID §3.1): refused before its cA flag is looked at.
    assert "must have a path" in refusal(stage, world.ca, now, principal=f"spiffe://{TRUST_DOMAIN}")


def test_attack_leaf_with_ca_flag(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    assert "CA certificate" in refusal(stage, world.svid(BOT, is_ca=True), now)


# Key usage (X509-SVID §4.3, §5.2): present, critical, digitalSignature, no signing bits.


def test_attack_leaf_with_crl_sign(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, key_usage=("digital_signature", "crl_sign"))
    assert "cRLSign" in refusal(stage, svid, now)


def test_attack_leaf_with_key_cert_sign(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, key_usage=("digital_signature", "key_cert_sign"))
    assert "keyCertSign" in refusal(stage, svid, now)


def test_attack_leaf_without_digital_signature(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, key_usage=("key_encipherment", "key_agreement"))
    assert "lacks digitalSignature" in refusal(stage, svid, now)


def test_attack_key_usage_not_critical(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, key_usage_critical=False)
    assert "not critical" in refusal(stage, svid, now)


def test_attack_no_key_usage(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, omit=(x509.KeyUsage,))
    assert "no key usage" in refusal(stage, svid, now)


# Extended key usage (X509-SVID §4.4): required here, with both clientAuth and serverAuth.


def test_attack_client_auth_only_eku(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, usages=(CLIENT_AUTH,))
    assert "lacks serverAuth" in refusal(stage, svid, now)


def test_attack_server_auth_only_eku(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, usages=(SERVER_AUTH,))
    assert "lacks clientAuth" in refusal(stage, svid, now)


def test_attack_svid_without_extended_key_usage(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    assert "no extended key usage" in refusal(stage, world.svid(BOT, usages=()), now)


def test_attack_empty_subject_with_non_critical_san(
    world: World, stage: IdentityStage, now: dt.datetime
) -> None:
    # X509-SVID §3.1, RFC 5280 §4.1.2.6: without a Subject the URI SAN must be critical.
    svid = world.svid(BOT, subject="", san_critical=False)
    assert "empty subject" in refusal(stage, svid, now)


def test_attack_unknown_critical_extension(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    # RFC 5280 §4.2: refused by cryptography's verifier (the stage's docstring says so), not by
    # a check of ours; this test pins that.
    svid = world.svid(BOT, extra_extensions=[(UNKNOWN_EXTENSION, True)])
    assert denied(stage, BOT, envoy_cert(svid), now) is Reason.INVALID_CLIENT_CERTIFICATE


@pytest.mark.parametrize(
    "options",
    [
        {"key_usage": ("digital_signature",)},
        {"key_usage": ("digital_signature", "key_encipherment", "key_agreement")},
        {"usages": (SERVER_AUTH, CLIENT_AUTH)},
        {"subject": "", "san_critical": True},
        {"extra_extensions": [(UNKNOWN_EXTENSION, False)]},
        {"omit": (x509.BasicConstraints,)},  # not a CA either (RFC 5280 §4.2.1.9)
    ],
    ids=[
        "digital-signature-only",
        "with-key-agreement",
        "usages-in-other-order",
        "empty-subject-critical-san",
        "unknown-non-critical-extension",
        "no-basic-constraints",
    ],
)
def test_proper_svid_variants_are_accepted(
    world: World, stage: IdentityStage, now: dt.datetime, options: dict[str, object]
) -> None:
    assert stage.verify(BOT, envoy_cert(world.svid(BOT, **options)), now).agent.spiffe_id == BOT


# SPIFFE ID syntax (SPIFFE-ID §2).


def _long_id(length: int) -> str:
    prefix = f"spiffe://{TRUST_DOMAIN}/agent/"
    return prefix + "a" * (length - len(prefix))


def test_attack_spiffe_id_too_long(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    too_long = _long_id(MAX_ID_BYTES + 1)
    assert "at most 2048 bytes" in refusal(
        stage, world.svid(too_long, subject="bot"), now, principal=too_long
    )
    longest = _long_id(MAX_ID_BYTES)  # valid, merely unregistered
    assert denied(stage, longest, envoy_cert(world.svid(longest, subject="bot")), now) is Reason.UNKNOWN_AGENT


def test_attack_leaf_with_the_trust_domain_id(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    # X509-SVID §3.1: a leaf's SPIFFE ID has a path; the bare trust domain is a CA's.
    root_id = f"spiffe://{TRUST_DOMAIN}"
    assert "must have a path" in refusal(stage, world.svid(root_id), now, principal=root_id)


def test_invalid_spiffe_id_in_san(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    dotted = f"spiffe://{TRUST_DOMAIN}/agent/../admin"
    assert "not a valid SPIFFE ID" in refusal(stage, world.svid(dotted), now, principal=dotted)


def test_deny_messages_do_not_echo_the_certificate(stage: IdentityStage, now: dt.datetime) -> None:
    marked = "spiffe://marker-td.example.com/agent/marker-bot"
    message = refusal(stage, make_svid(make_ca("marker-td.example.com"), marked), now, principal=marked)
    assert "marker" not in message


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
def test_malformed_certificate_is_denied_not_crashed(
    stage: IdentityStage, now: dt.datetime, certificate: str
) -> None:
    assert denied(stage, BOT, certificate, now) is Reason.INVALID_CLIENT_CERTIFICATE


def test_two_certificates_in_one_pem_are_refused(
    world: World, stage: IdentityStage, now: dt.datetime
) -> None:
    both = envoy_cert(world.svid(BOT)) + envoy_cert(world.svid(BOT))
    assert denied(stage, BOT, both, now) is Reason.INVALID_CLIENT_CERTIFICATE


def test_cached_certificate_still_expires(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    svid = world.svid(BOT, not_before=now - dt.timedelta(minutes=1), not_after=now + dt.timedelta(minutes=1))
    cert = envoy_cert(svid)
    assert stage.verify(BOT, cert, now).agent.spiffe_id == BOT  # verified and cached
    assert denied(stage, BOT, cert, now + dt.timedelta(minutes=2)) is Reason.INVALID_CLIENT_CERTIFICATE


def test_cached_certificate_is_still_checked_against_the_principal(
    world: World, stage: IdentityStage, now: dt.datetime
) -> None:
    cert = envoy_cert(world.svid(BOT))
    stage.verify(BOT, cert, now)
    assert denied(stage, ROGUE, cert, now) is Reason.INVALID_CLIENT_CERTIFICATE


def test_registry_is_read_on_every_request(world: World, stage: IdentityStage, now: dt.datetime) -> None:
    cert = envoy_cert(world.svid(SUSPENDED))
    assert denied(stage, SUSPENDED, cert, now) is Reason.AGENT_SUSPENDED
    assert denied(stage, SUSPENDED, cert, now) is Reason.AGENT_SUSPENDED  # cache does not skip the registry


def test_kill_switch_takes_effect_on_the_next_request(
    world: World, stage: IdentityStage, store: SqliteStore, now: dt.datetime
) -> None:
    cert = envoy_cert(world.svid(BOT))
    assert stage.verify(BOT, cert, now)
    store.set_agent_suspended(BOT, True, by="security")
    assert denied(stage, BOT, cert, now) is Reason.AGENT_SUSPENDED
    store.set_agent_suspended(BOT, False, by="security")
    assert stage.verify(BOT, cert, now)
