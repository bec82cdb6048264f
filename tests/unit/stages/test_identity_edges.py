"""Stage 1 at its edges: the certificate cache, the validity window to the second, the size cap,
strict URL-decoding (the trust bundle's edges: ``tests/unit/svid/test_bundle.py``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import pytest

from authz.config import Agent, AgentStatus, TrustDomain
from authz.devkit.pki import Issued, make_ca, make_svid
from authz.reasons import Denied, Reason
from authz.stages.identity import _MAX_CERT_CHARS, IdentityStage, VerifiedSvid

TRUST_DOMAIN = "agents.example.org"
BOT = f"spiffe://{TRUST_DOMAIN}/agent/helpdesk-bot"
CA = make_ca(TRUST_DOMAIN)  # valid for a day from a few minutes ago
T0 = CA.cert.not_valid_before_utc.replace(microsecond=0) + dt.timedelta(minutes=1)  # the leaf's window
T1 = T0 + dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


class Store:
    def agent_suspended(self, spiffe_id: str) -> bool:
        return False


@pytest.fixture(scope="module")
def ca() -> Issued:
    return CA


@pytest.fixture(scope="module")
def leaf(ca: Issued) -> Issued:
    return make_svid(ca, BOT, not_before=T0, not_after=T1)


def stage(ca: Issued) -> IdentityStage:
    domain = TrustDomain(TRUST_DOMAIN, Path("bundle.pem"), (ca.cert,))
    agents = {BOT: Agent(BOT, "it-helpdesk@example.org", AgentStatus.ACTIVE)}
    return IdentityStage((domain,), agents, Store())  # type: ignore[arg-type]


def envoy(issued: Issued) -> str:
    return quote(issued.cert_pem.decode(), safe="")


def test_a_certificate_is_verified_once_then_answered_from_the_cache(ca: Issued, leaf: Issued) -> None:
    s = stage(ca)
    verified: list[VerifiedSvid] = []
    real = s._verify_certificate

    def counting(certificate: str, now: dt.datetime) -> VerifiedSvid:
        verified.append(real(certificate, now))
        return verified[-1]

    s._verify_certificate = counting  # type: ignore[method-assign]
    first = s.verify(BOT, envoy(leaf), T0 + SECOND)
    second = s.verify(BOT, envoy(leaf), T0 + 2 * SECOND)
    assert first == second and len(verified) == 1


@pytest.mark.parametrize(
    ("now", "valid"),
    [(T0 - SECOND, False), (T0, True), (T1, True), (T1 + SECOND, False)],
    ids=["before", "not-before", "not-after", "after"],
)
def test_the_validity_window_includes_both_ends_on_every_request(
    ca: Issued, leaf: Issued, now: dt.datetime, valid: bool
) -> None:
    s = stage(ca)
    s.verify(BOT, envoy(leaf), T0 + SECOND)  # verified once, inside the window: cached
    if valid:
        assert s.verify(BOT, envoy(leaf), now).agent.spiffe_id == BOT
    else:
        with pytest.raises(Denied) as info:
            s.verify(BOT, envoy(leaf), now)
        assert info.value.reason is Reason.INVALID_CLIENT_CERTIFICATE


def test_a_certificate_of_exactly_the_size_cap_is_read(ca: Issued, leaf: Issued) -> None:
    certificate = envoy(leaf) + "\n" * (_MAX_CERT_CHARS - len(envoy(leaf)))
    assert len(certificate) == _MAX_CERT_CHARS
    assert stage(ca).verify(BOT, certificate, T0 + SECOND).agent.spiffe_id == BOT
    with pytest.raises(Denied, match="too large"):
        stage(ca).verify(BOT, certificate + "\n", T0 + SECOND)


def test_attack_escape_that_is_not_utf8_outside_the_pem_block(ca: Issued, leaf: Issued) -> None:
    with pytest.raises(Denied) as info:
        stage(ca).verify(BOT, envoy(leaf) + "%FF", T0 + SECOND)
    assert info.value.reason is Reason.INVALID_CLIENT_CERTIFICATE
