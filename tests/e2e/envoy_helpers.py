"""What the ``test_envoy_*`` modules share: where the configs live, ``envoy --mode validate``,
the benchmark's parameters, the PKI and rendered configs their fixtures build, and lookups into a
rendered config (listener, cluster, HTTP connection manager, HTTP filter, every key)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authz.demo.stack import Stack
from authz.devkit.pki import DevPki
from authz.devkit.world import DEMO_AGENTS, TRUST_DOMAIN
from authz.envoy.config import EnvoyParams, compose_config, render, to_yaml
from authz.envoy.validate import refusal

ROOT = Path(__file__).resolve().parents[2]
ENVOY_DIR = ROOT / "envoy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_PKI = "/etc/agent-authz/pki"
AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"
TIMEOUT = 60
#: The configs checked for DESIGN §6: docker-compose's, the demo's, the benchmark's.
CONFIGS = ["compose", "demo", "bench"]


def validate(path: Path) -> None:
    problem = refusal(path, TIMEOUT)
    assert problem is None, f"envoy rejected {path.name}:\n{problem}"


def validate_rendered(config: dict[str, Any], path: Path) -> None:
    path.write_text(to_yaml(config))
    validate(path)


def bench_params(pki: DevPki) -> EnvoyParams:
    """What the benchmark renders: a direct response behind a plain-HTTP front listener."""
    agent = DEMO_AGENTS[0]
    return EnvoyParams(
        server_cert=str(pki.server_cert),
        server_key=str(pki.server_key),
        trust_domains=[(TRUST_DOMAIN, str(pki.bundle))],
        listen=("127.0.0.1", 18443),
        admin=("127.0.0.1", 19901),
        authz=[("127.0.0.1", 19001), ("127.0.0.1", 19002)],
        direct_response=True,
        front=("127.0.0.1", 18080),
        front_client=(str(pki.agent_cert(agent)), str(pki.agent_key(agent))),
    )


def make_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A dev PKI with the demo's agents (for a module-scoped ``pki`` fixture)."""
    return DevPki.create(tmp_path_factory.mktemp("envoy-configs") / "pki", TRUST_DOMAIN, DEMO_AGENTS)


def render_all(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every config of ``CONFIGS``, rendered (for a module-scoped ``rendered`` fixture)."""
    demo = Stack.create(tmp_path_factory.mktemp("demo-params"))  # creates files only; starts nothing
    return {
        "compose": compose_config(),
        "demo": render(demo.envoy_params()),
        "bench": render(bench_params(pki)),
    }


def listener(config: dict[str, Any], name: str = "agents_mtls") -> dict[str, Any]:
    found = [x for x in config["static_resources"]["listeners"] if x["name"] == name]
    assert len(found) == 1, f"listener {name}"
    return found[0]


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    found = [x for x in config["static_resources"]["clusters"] if x["name"] == name]
    assert len(found) == 1, f"cluster {name}"
    return found[0]


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    (chain,) = listener(config)["filter_chains"]
    (network_filter,) = chain["filters"]
    assert network_filter["name"] == "envoy.filters.network.http_connection_manager"
    return dict(network_filter["typed_config"])


def downstream_tls(config: dict[str, Any]) -> dict[str, Any]:
    (chain,) = listener(config)["filter_chains"]
    assert chain["transport_socket"]["name"] == "envoy.transport_sockets.tls"
    return dict(chain["transport_socket"]["typed_config"])


def http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    found = [f["typed_config"] for f in hcm(config)["http_filters"] if f["name"] == name]
    assert len(found) == 1, f"http filter {name}"
    return dict(found[0])


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)
