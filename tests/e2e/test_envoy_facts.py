"""``agent-authz envoy-config --from FACTS --validate``: a deployment's facts rendered into the same
validated config the tests use, for each way of getting the listener's certificate — files,
SPIRE's SDS socket, a watched SDS file — with TLS to the API and to a protected Check port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from authz.devkit.pki import DevPki
from authz.envoy.sds import sds_file

pytestmark = pytest.mark.e2e

CERTIFICATES = {
    "files": 'certificates = {{ cert = "{pki.server_cert}", key = "{pki.server_key}" }}\n',
    "spire": 'certificates = {{ spire_socket = "/run/spire/agent.sock", spiffe_id = "spiffe://prod/iam" }}\n',
    "sds-file": 'certificates = {{ sds_file = "{sds}" }}\n',
}


def envoy_config(folder: Path, facts: str) -> subprocess.CompletedProcess[str]:
    """``agent-authz envoy-config --from FACTS --validate`` on ``facts`` written in ``folder``."""
    (folder / "facts.toml").write_text(facts)
    argv = [sys.executable, "-m", "authz", "envoy-config", "--from", str(folder / "facts.toml"), "--validate"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("source", sorted(CERTIFICATES))
def test_facts_render_a_config_envoy_accepts(tmp_path: Path, source: str) -> None:
    pki = DevPki.create(tmp_path / "pki", "agents.example.org", ["sidecar"])
    sds = tmp_path / "sds" / "server.yaml"
    sds.parent.mkdir()
    sds.write_text(sds_file(str(pki.server_cert), str(pki.server_key)))
    sidecar = f'cert = "{pki.agent_cert("sidecar")}", key = "{pki.agent_key("sidecar")}", ca = "{pki.bundle}"'
    text = f"""[envoy]
listen = "0.0.0.0:8443"
upstream = "iam-api.internal:443"
upstream_tls = {{ ca = "{pki.bundle}", sni = "iam-api.internal" }}
authz = ["agent-authz.iam.svc:9001"]
authz_tls = {{ {sidecar} }}
"""  # fmt: skip
    text += CERTIFICATES[source].format(pki=pki, sds=sds)
    if source != "spire":
        text += f'[[envoy.trust_domains]]\nname = "agents.example.org"\nbundle = "{pki.bundle}"\n'
    result = envoy_config(tmp_path, text)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert clusters["agent_authz"]["transport_socket"]["typed_config"]["common_tls_context"][
        "alpn_protocols"
    ] == ["h2"]
    assert ("spire_agent" in clusters) is (source == "spire")


def test_a_config_envoy_refuses_is_not_printed(tmp_path: Path) -> None:
    pki = DevPki.create(tmp_path / "pki", "agents.example.org")
    text = f"""[envoy]
upstream = "iam-api.internal:443"
authz = ["agent-authz.iam.svc:9001"]
certificates = {{ cert = "{pki.server_cert}", key = "{tmp_path / 'no-such.key'}" }}
[[envoy.trust_domains]]
name = "agents.example.org"
bundle = "{pki.bundle}"
"""  # fmt: skip
    result = envoy_config(tmp_path, text)
    assert (
        result.returncode == 1 and "envoy --mode validate refused it" in result.stderr and not result.stdout
    )
