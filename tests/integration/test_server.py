"""The gRPC server in-process on an ephemeral port, spoken to as Envoy would."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from factories import BOT, TRUST_DOMAIN, World, check_request, envoy_cert, make_world
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.config import load_config
from authz.devkit.pki import make_ca, make_svid
from authz.model import RequestContext
from authz.server.grpc_server import AUTHZ_SERVICE, AuthzServer


class Running:
    def __init__(self, world: World, audit_path: Path | None = None) -> None:
        config = load_config(world.config_path)
        if audit_path is not None:
            from dataclasses import replace

            config = replace(config, audit=replace(config.audit, path=audit_path))
        self.server = AuthzServer(config, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.authz = pb_grpc.AuthorizationStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def check(self, ctx: RequestContext) -> pb.CheckResponse:
        return self.authz.Check(check_request(ctx), timeout=5)

    def status(self) -> int:
        req = health_pb2.HealthCheckRequest(service=AUTHZ_SERVICE)
        return int(self.health.Check(req, timeout=5).status)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def close(self) -> None:
        self.channel.close()
        self.server.stop(grace=1)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


@pytest.fixture
def running(world: World) -> Iterator[Running]:
    r = Running(world)
    yield r
    r.close()


def reason(resp: pb.CheckResponse) -> str:
    return {h.header.key: h.header.value for h in resp.denied_response.headers}["x-authz-reason"]


def allowed(world: World) -> RequestContext:
    return world.request(task=world.token(world.bot))


def test_allowed_check(world: World, running: Running) -> None:
    resp = running.check(allowed(world))
    assert resp.status.code == code_pb2.OK
    headers = {h.header.key: h.header.value for h in resp.ok_response.headers}
    assert headers["x-agent-id"] == BOT
    assert "x-agent-task-token" in resp.ok_response.headers_to_remove


def test_health_is_serving(running: Running) -> None:
    assert running.status() == health_pb2.HealthCheckResponse.SERVING


def test_metrics_are_served(world: World, running: Running) -> None:
    running.check(allowed(world))
    running.check(world.request(path="/v1/nope"))
    text = running.metrics()
    assert 'authz_decisions_total{class="read",decision="allow",reason="allowed"} 1.0' in text
    assert 'authz_decisions_total{class="unknown",decision="deny",reason="unknown_route"} 1.0' in text
    assert "authz_check_duration_seconds_count 2.0" in text
    assert "authz_serving 1.0" in text


def test_empty_check_request_is_denied_not_an_error(running: Running) -> None:
    resp = running.authz.Check(pb.CheckRequest(), timeout=5)
    assert resp.status.code == code_pb2.UNAUTHENTICATED
    assert reason(resp) == "missing_client_identity"


def test_attack_foreign_ca_svid_straight_to_the_authorizer_with_forged_principal(
    world: World, running: Running
) -> None:
    forged = make_svid(make_ca(TRUST_DOMAIN), BOT)
    ctx = RequestContext("GET", "/v1/users/alice", {}, b"", BOT, envoy_cert(forged))
    resp = running.check(ctx)
    assert resp.denied_response.status.code == 401
    assert reason(resp) == "invalid_client_certificate"


def test_attack_unwritable_audit_log(world: World) -> None:
    running = Running(world, audit_path=Path("/dev/full"))
    try:
        assert running.status() == health_pb2.HealthCheckResponse.SERVING
        for _ in range(2):
            resp = running.check(world.request())
            assert resp.denied_response.status.code == 503
            assert reason(resp) == "audit_unavailable"
        assert running.status() == health_pb2.HealthCheckResponse.NOT_SERVING
        assert "authz_serving 0.0" in running.metrics()
        assert "authz_audit_failures_total 2.0" in running.metrics()
    finally:
        running.close()


def test_stop_closes_the_port_and_keeps_the_audit_log(world: World) -> None:
    running = Running(world)
    running.check(world.request())
    running.server.stop(grace=1)
    with pytest.raises(grpc.RpcError):
        running.check(world.request())
    running.channel.close()
    assert (world.root / "audit.jsonl").read_text().count("\n") == 1


def test_failure_outside_the_pipeline_is_a_deny_not_a_grpc_error(
    world: World, running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    import authz.server.grpc_server as server_module

    def explode(request: object) -> None:
        raise ValueError("cannot convert")

    monkeypatch.setattr(server_module, "to_request", explode)
    resp = running.check(world.request())
    assert resp.status.code == code_pb2.PERMISSION_DENIED
    assert resp.denied_response.status.code == 503
    assert reason(resp) == "internal_error"


def test_a_new_approval_request_reaches_the_webhook(world: World) -> None:
    from dataclasses import replace
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Event, Thread

    received: list[bytes] = []
    got = Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(self.rfile.read(int(self.headers["content-length"])))
            got.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=hook.serve_forever, daemon=True).start()
    config = load_config(world.config_path)
    url = f"http://127.0.0.1:{hook.server_port}/approvals"
    config = replace(config, approvals=replace(config.approvals, webhook_url=url))
    server = AuthzServer(config, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
    server.start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        task = world.token(world.bot, intent="credential_recovery", actions=("user.password.reset",))
        ctx = world.request(
            "POST",
            "/v1/users/alice/password/reset",
            task=task,
            headers={"x-agent-intent": "credential_recovery"},
        )
        resp = pb_grpc.AuthorizationStub(channel).Check(check_request(ctx), timeout=5)
        assert resp.denied_response.headers[1].header.value == "approval_required"
        assert got.wait(30)
        channel.close()
    finally:
        server.stop(grace=1)
        hook.shutdown()
        hook.server_close()
    assert b'"event": "approval_request.created"' in received[0] and b"alice" in received[0]


def test_healthz_and_readyz_say_whether_to_send_traffic(world: World) -> None:
    running = Running(world)
    base = f"http://127.0.0.1:{running.server.metrics_port}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    try:
        assert get("/healthz") == (200, "ok\n") and get("/readyz") == (200, "ready\n")
        assert get("/metrics")[0] == 200 and get("/nope")[0] == 404
        running.server.audit.close()  # as a full disk would: the next write fails
        running.check(world.request(task=world.token(world.bot)))
        assert get("/readyz") == (503, "the audit log cannot be written\n")
        assert get("/healthz") == (200, "ok\n")  # alive: restart is for a stuck process
    finally:
        running.close()


def test_open_access_log_streams_never_take_the_threads_that_decide(world: World) -> None:
    # Each Envoy worker keeps an access-log stream open, holding a server thread for its life:
    # beyond server.outcome_streams they are refused, and Check always has its own threads.
    text = world.config_path.read_text().replace("workers = 4", "workers = 1\noutcome_streams = 2")
    world.config_path.write_text(text)
    running, release = Running(world), threading.Event()

    def held_open() -> Iterator[als_pb2.StreamAccessLogsMessage]:
        yield als_pb2.StreamAccessLogsMessage()
        release.wait(timeout=30)

    try:
        stub = als_pb2_grpc.AccessLogServiceStub(running.channel)
        streams = [stub.StreamAccessLogs.future(held_open(), timeout=30) for _ in range(3)]
        deadline = time.monotonic() + 10
        while not any(f.done() for f in streams):  # the third is answered at once; two stay open
            assert time.monotonic() < deadline, "no stream was refused"
            time.sleep(0.01)
        (refused,) = [f for f in streams if f.done()]
        assert refused.exception().code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[union-attr]
        for _ in range(3):  # two streams open, one worker: decisions still come
            assert running.check(allowed(world)).status.code == code_pb2.OK
    finally:
        release.set()
        running.close()
