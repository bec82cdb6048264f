"""A deployment's facts (``authz/envoy/facts.py``): the ``[envoy]`` table read strictly into the
parameters ``render`` takes — each certificate source, TLS to the API and to agent-authz."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz.config import ConfigError
from authz.envoy.config import render
from authz.envoy.facts import read_facts
from authz.envoy.sds import Sds

BASE = """[envoy]
listen = "0.0.0.0:8443"
upstream = "iam-api.internal:443"
upstream_tls = { ca = "iam-ca.pem", sni = "iam-api.internal" }
authz = ["agent-authz.iam.svc:9001", "agent-authz-2.iam.svc:9001"]
"""
FILES = 'certificates = { cert = "server.crt", key = "server.key" }\n'
TRUST = '[[envoy.trust_domains]]\nname = "agents.example.org"\nbundle = "bundle.pem"\n'


def facts(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "facts.toml"
    path.write_text(text)
    return path


def test_files_and_trust_domains(tmp_path: Path) -> None:
    p = read_facts(facts(tmp_path, BASE + FILES + TRUST))
    assert (p.listen, p.upstream, p.dns) == (("0.0.0.0", 8443), ("iam-api.internal", 443), True)
    assert p.authz == [("agent-authz.iam.svc", 9001), ("agent-authz-2.iam.svc", 9001)]
    assert (p.server_cert, p.server_key, p.sds) == (
        str(tmp_path / "server.crt"),
        str(tmp_path / "server.key"),
        None,
    )
    assert p.trust_domains == [("agents.example.org", str(tmp_path / "bundle.pem"))]
    assert p.upstream_tls == (str(tmp_path / "iam-ca.pem"), "iam-api.internal")
    assert (p.authz_tls, p.approvals_descriptor) == (None, None)
    iam = [c for c in render(p)["static_resources"]["clusters"] if c["name"] == "iam_api"][0]
    assert iam["transport_socket"]["typed_config"]["sni"] == "iam-api.internal"


def test_certificates_from_spire_need_no_trust_domains(tmp_path: Path) -> None:
    spire = 'certificates = { spire_socket = "/run/spire/agent.sock", spiffe_id = "spiffe://prod/iam" }\n'
    p = read_facts(facts(tmp_path, BASE + spire))
    assert p.sds == Sds("spire", "/run/spire/agent.sock", cert_name="spiffe://prod/iam")
    config = render(p)
    assert "spire_agent" in [c["name"] for c in config["static_resources"]["clusters"]]
    assert config["node"] == {"id": "agent-authz-sidecar", "cluster": "iam-api"}  # SDS needs a node


def test_a_watched_sds_file(tmp_path: Path) -> None:
    p = read_facts(facts(tmp_path, BASE + 'certificates = { sds_file = "sds/server.yaml" }\n' + TRUST))
    assert p.sds == Sds("file", str(tmp_path / "sds" / "server.yaml"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BASE + FILES, "trust_domains: at least one"),
        (BASE + 'certificates = { cert = "c" }\n' + TRUST, "give cert and key, or spire_socket"),
        (BASE.replace(":443", "") + FILES + TRUST, "envoy.upstream: must be HOST:PORT"),
        (
            BASE.replace("listen =", "lisen =") + FILES + TRUST,
            "envoy: unknown key(s): lisen (did you mean listen?)",
        ),
        (BASE + FILES + TRUST.replace('name = "agents.example.org"', 'nme = "x"'), "envoy.trust_domains[0]"),
        ("[envoy\n", "cannot be read"),
    ],
    ids=["no-trust", "cert-without-key", "no-port", "misspelt", "bad-trust-domain", "not-toml"],
)
def test_broken_facts_are_refused_with_where(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_facts(facts(tmp_path, text))
    assert problem in str(info.value)


def test_the_example_facts_file_reads() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "envoy" / "facts.toml"
    p = read_facts(example)
    assert p.sds is not None and p.sds.kind == "spire" and p.upstream_tls is not None
