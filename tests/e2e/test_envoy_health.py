"""Health checks and the panic threshold: a real Envoy asks no authorizer that answers
NOT_SERVING, even one that would allow everything."""

from __future__ import annotations

import ssl
import subprocess
import urllib.request
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from envoy_helpers import AUTHZ_SERVICE, make_pki
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from authz.demo.client import AgentClient
from authz.demo.processes import envoy_binary, free_port, wait_until
from authz.devkit.pki import DevPki
from authz.devkit.world import DEMO_AGENTS, TRUST_DOMAIN
from authz.envoy.config import EnvoyParams, render, to_yaml

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_pki(tmp_path_factory)


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
