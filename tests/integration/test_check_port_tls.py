"""A protected Check port (``[server.tls]``): TLS with client certificates, and only the SPIFFE
IDs in ``allowed_clients`` (the Envoy sidecars) get answers — on every service of the port.
``config check`` refuses a plaintext Check port off loopback unless ``allow_plaintext``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from factories import World, check_request, make_world
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.config import load_config
from authz.devkit.pki import DevPki
from authz.server.grpc_server import AUTHZ_SERVICE, AuthzServer


def with_server(world: World, extra: str) -> None:
    text = world.config_path.read_text()
    start = text.index("[server]\n")
    end = text.index("\n[", start)
    world.config_path.write_text(f"{text[:start]}[server]\n{extra.strip()}\n{text[end:]}")


@pytest.fixture
def sidecars(tmp_path: Path) -> DevPki:
    return DevPki.create(tmp_path / "mesh", "mesh.example.org", ["iam-sidecar", "other-workload"])


@pytest.fixture
def server(tmp_path: Path, sidecars: DevPki) -> Iterator[tuple[World, AuthzServer]]:
    world = make_world(tmp_path / "world")
    with_server(world, f"""
listen = "127.0.0.1:9001"
[server.tls]
cert = "{sidecars.server_cert}"
key = "{sidecars.server_key}"
client_ca = "{sidecars.bundle}"
allowed_clients = ["{sidecars.spiffe_id('iam-sidecar')}"]
""")  # fmt: skip
    running = AuthzServer(load_config(world.config_path), listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
    running.start()
    yield world, running
    running.stop(grace=1)


def channel(server: AuthzServer, pki: DevPki, client: str | None) -> grpc.Channel:
    key, cert = (
        (pki.agent_key(client).read_bytes(), pki.agent_cert(client).read_bytes()) if client else (None, None)
    )
    creds = grpc.ssl_channel_credentials(pki.bundle.read_bytes(), key, cert)
    options = [("grpc.ssl_target_name_override", "localhost")]
    return grpc.secure_channel(f"127.0.0.1:{server.port}", creds, options=options)


def health(ch: grpc.Channel) -> int:
    request = health_pb2.HealthCheckRequest(service=AUTHZ_SERVICE)
    return int(health_pb2_grpc.HealthStub(ch).Check(request, timeout=5).status)


def test_the_allowed_sidecar_gets_decisions(server: tuple[World, AuthzServer], sidecars: DevPki) -> None:
    world, running = server
    with channel(running, sidecars, "iam-sidecar") as ch:
        assert health(ch) == health_pb2.HealthCheckResponse.SERVING
        answer = pb_grpc.AuthorizationStub(ch).Check(
            check_request(world.request(task=world.token(world.bot))), timeout=5
        )
        assert answer.status.code == 0  # allowed: the sidecar asked, the agent's request is fine


@pytest.mark.parametrize("client", ["other-workload", None], ids=["another-spiffe-id", "no-certificate"])
def test_anyone_else_gets_nothing(
    server: tuple[World, AuthzServer], sidecars: DevPki, client: str | None
) -> None:
    _, running = server
    with channel(running, sidecars, client) as ch, pytest.raises(grpc.RpcError) as info:
        health(ch)
    expected = grpc.StatusCode.PERMISSION_DENIED if client else grpc.StatusCode.UNAVAILABLE  # refused in TLS
    assert info.value.code() is expected


def test_the_gate_covers_the_streaming_access_log_too(
    server: tuple[World, AuthzServer], sidecars: DevPki
) -> None:
    _, running = server
    messages = iter([als_pb2.StreamAccessLogsMessage()])
    with channel(running, sidecars, "other-workload") as ch, pytest.raises(grpc.RpcError) as info:
        als_pb2_grpc.AccessLogServiceStub(ch).StreamAccessLogs(messages, timeout=5)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with channel(running, sidecars, "iam-sidecar") as ch:  # the sidecar's stream is taken
        als_pb2_grpc.AccessLogServiceStub(ch).StreamAccessLogs(
            iter([als_pb2.StreamAccessLogsMessage()]), timeout=5
        )


def test_plaintext_gets_nothing(server: tuple[World, AuthzServer]) -> None:
    _, running = server
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch, pytest.raises(grpc.RpcError):
        health(ch)


def config_check(world: World) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "authz", "config", "check", "--config", str(world.config_path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_config_check_refuses_a_plaintext_check_port_off_loopback(tmp_path: Path, sidecars: DevPki) -> None:
    world = make_world(tmp_path / "world")
    with_server(world, 'listen = "0.0.0.0:9001"')
    refused = config_check(world)
    assert refused.returncode == 1 and "refused" in refused.stderr and "[server.tls]" in refused.stderr
    with_server(world, 'listen = "0.0.0.0:9001"\nallow_plaintext = true')
    allowed = config_check(world)
    assert allowed.returncode == 0 and "not a loopback address" in allowed.stderr  # still said
    tls = f'[server.tls]\ncert = "{sidecars.server_cert}"\nkey = "{sidecars.server_key}"\n'
    tls += f'client_ca = "{sidecars.bundle}"\nallowed_clients = ["{sidecars.spiffe_id("iam-sidecar")}"]'
    with_server(world, f'listen = "0.0.0.0:9001"\n{tls}')
    protected = config_check(world)
    assert protected.returncode == 0 and "warning" not in protected.stderr


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ('allowed_clients = ["not-spiffe"]', "server.tls.allowed_clients: 'not-spiffe' is not a SPIFFE ID"),
        ("allowed_clients = []", "server.tls.allowed_clients: must be a non-empty list of strings"),
        ('cert = "missing.crt"', "server.tls.cert:"),
    ],
)
def test_a_broken_tls_section_is_refused(tmp_path: Path, sidecars: DevPki, change: str, problem: str) -> None:
    world = make_world(tmp_path / "world")
    allowed = f'["{sidecars.spiffe_id("iam-sidecar")}"]'
    lines = {"cert": f'"{sidecars.server_cert}"', "key": f'"{sidecars.server_key}"',
             "client_ca": f'"{sidecars.bundle}"', "allowed_clients": allowed}  # fmt: skip
    key = change.split(" = ")[0]
    lines[key] = change.split(" = ", 1)[1]
    with_server(
        world, 'listen = "0.0.0.0:9001"\n[server.tls]\n' + "\n".join(f"{k} = {v}" for k, v in lines.items())
    )
    result = config_check(world)
    assert result.returncode == 2 and problem in result.stderr
