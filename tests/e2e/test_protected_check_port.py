"""A protected Check port through a real Envoy: agent-authz with ``[server.tls]``, Envoy calling
it over mTLS as the one allowed SPIFFE ID (``authz_tls`` in the rendered config). Agents get
their decisions as before; anyone else reaching the port directly gets nothing."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from conftest import E2E, running_stack
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.demo.stack import Stack
from authz.server.grpc_server import AUTHZ_SERVICE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    with running_stack(tmp_path_factory.mktemp("protected"), protected=True) as env:
        yield env


@pytest.fixture(scope="module")
def stack(protected: E2E) -> Stack:
    return protected.stack


def test_agents_get_decisions_through_envoy(protected: E2E) -> None:
    agent = protected.agent()
    allowed = agent.request("GET", "/v1/users/alice")
    assert allowed.status == 200
    protected.reached_once(allowed)
    denied = agent.request("GET", "/v1/users/alice", token=None)
    assert (denied.status, denied.reason) == (401, "task_token_missing")


def direct(stack: Stack, name: str) -> grpc.Channel:
    pki = stack.pki
    creds = grpc.ssl_channel_credentials(pki.bundle.read_bytes(), pki.agent_key(name).read_bytes(),
                                         pki.agent_cert(name).read_bytes())  # fmt: skip
    return grpc.secure_channel(f"127.0.0.1:{stack.ports['authz']}", creds,
                               options=[("grpc.ssl_target_name_override", "localhost")])  # fmt: skip


def test_an_agent_cannot_ask_the_check_port_itself(stack: Stack) -> None:
    request = health_pb2.HealthCheckRequest(service=AUTHZ_SERVICE)
    with (
        direct(stack, "helpdesk-bot") as ch,
        pytest.raises(grpc.RpcError) as info,
    ):  # a valid SVID, not Envoy's
        health_pb2_grpc.HealthStub(ch).Check(request, timeout=5)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports['authz']}") as ch, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(ch).Check(request, timeout=5)
