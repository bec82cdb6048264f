"""SPIFFE ID syntax (``authz/svid/spiffe_id.py``, SPIFFE-ID §2): what is refused, with why, and
what is accepted at the limits."""

from __future__ import annotations

import pytest

from authz.svid.spiffe_id import MAX_ID_BYTES, MAX_TRUST_DOMAIN_BYTES, SpiffeIdError, parse_spiffe_id

TRUST_DOMAIN = "agents.example.org"


def _long_id(length: int) -> str:
    prefix = f"spiffe://{TRUST_DOMAIN}/agent/"
    return prefix + "a" * (length - len(prefix))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (_long_id(MAX_ID_BYTES + 1), "at most 2048 bytes"),
        (f"spiffe://{'a' * (MAX_TRUST_DOMAIN_BYTES + 1)}/agent", "at most 255 bytes"),
        ("SPIFFE://agents.example.org/agent", "must start with spiffe://"),
        ("https://agents.example.org/agent", "must start with spiffe://"),
        ("spiffe://Agents.example.org/agent", "lowercase"),
        ("spiffe://agents%2Eexample.org/agent", "trust domain must not be percent-encoded"),
        ("spiffe://agents.example.org/agent%2Fadmin", "path must not be percent-encoded"),
        ("spiffe://agents.example.org/agent?x=1", "query or fragment"),
        ("spiffe://agents.example.org/agent#x", "query or fragment"),
        ("spiffe://agents.example.org:8443/agent", "port"),
        ("spiffe://user@agents.example.org/agent", "userinfo"),
        ("spiffe:///agent", "lowercase"),
        ("spiffe://agents.example.org", "must have a path"),
        ("spiffe://agents.example.org/", "segments"),
        ("spiffe://agents.example.org/agent/", "segments"),
        ("spiffe://agents.example.org/agent//bot", "segments"),
        ("spiffe://agents.example.org/./bot", "segments"),
        ("spiffe://agents.example.org/agent/..", "segments"),
        ("spiffe://agents.example.org/agent/b*t", "segments"),
        ("spiffe://agents.example.org/agent/bøt", "ASCII"),
    ],
    ids=[
        "id-too-long",
        "trust-domain-too-long",
        "uppercase-scheme",
        "other-scheme",
        "uppercase-trust-domain",
        "percent-in-trust-domain",
        "percent-in-path",
        "query",
        "fragment",
        "port",
        "userinfo",
        "empty-trust-domain",
        "no-path",
        "root-path",
        "trailing-slash",
        "empty-segment",
        "dot-segment",
        "dot-dot-segment",
        "other-character",
        "non-ascii",
    ],
)
def test_invalid_spiffe_ids_are_refused(text: str, why: str) -> None:
    with pytest.raises(SpiffeIdError, match=why):
        parse_spiffe_id(text)


@pytest.mark.parametrize(
    "text",
    [
        _long_id(MAX_ID_BYTES),
        f"spiffe://{'a' * MAX_TRUST_DOMAIN_BYTES}/agent",
        "spiffe://10.0.0.1/agent",
        "spiffe://k8s_west.example-1.org/ns/Staging/sa/default.v2",
        "spiffe://agents.example.org/.../bot",
    ],
    ids=["longest-id", "longest-trust-domain", "dotted-quad", "every-character-class", "three-dots"],
)
def test_valid_spiffe_ids_are_accepted(text: str) -> None:
    assert parse_spiffe_id(text)[1].startswith("/")
