"""OpenTelemetry traces (``[tracing]``): a running server exports one span per decision over
OTLP/gRPC to a collector — here a real gRPC OTLP endpoint on loopback — continuing the agent's
W3C ``traceparent``, with the stages as events and no token anywhere in it."""

from __future__ import annotations

import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from factories import check_request, make_world
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from authz.config import ConfigError, load_config
from authz.demo.processes import free_port
from authz.reasons import STAGES
from authz.server.grpc_server import AuthzServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.spans: list[object] = []
        self.received = threading.Event()

    def Export(self, request: object, context: object) -> object:  # noqa: N802
        for resource in request.resource_spans:  # type: ignore[attr-defined]
            for scope in resource.scope_spans:
                self.spans.extend(scope.spans)
        self.received.set()
        return trace_service_pb2.ExportTraceServiceResponse()


def test_a_decision_becomes_a_span_of_the_agents_trace(tmp_path: Path) -> None:
    collector, port = Collector(), free_port()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    world = make_world(tmp_path)
    world.config_path.write_text(
        world.config_path.read_text() + f'\n[tracing]\notlp_endpoint = "http://127.0.0.1:{port}"\n'
    )
    authz = AuthzServer(load_config(world.config_path), listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
    authz.start()
    token = world.token(world.bot)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{authz.port}") as ch:
            headers = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
            answer = pb_grpc.AuthorizationStub(ch).Check(
                check_request(world.request(task=token, headers=headers)), timeout=5
            )
            assert answer.status.code == 0
    finally:
        authz.stop(grace=1)  # flushes the batch
        server.stop(0)
    assert collector.received.is_set()
    (span,) = collector.spans
    assert (span.trace_id.hex(), span.parent_span_id.hex()) == (TRACE_ID, PARENT)  # the agent's trace
    assert [e.name for e in span.events] == [f"stage {n} {s}" for n, s in enumerate(STAGES, 1)]
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes["authz.decision"] == "allow" and attributes["authz.operation"] == "user.read"
    assert token not in str(span)  # no token in a trace


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            'otlp_endpoint = "127.0.0.1:4317"',
            "tracing.otlp_endpoint: must be the collector's http(s)://host:port",
        ),
        (
            'otlp_endpoint = "http://c:4317"\nsample_ratio = 2',
            "tracing.sample_ratio: must be a number from 0 to 1",
        ),
        (
            'otlp_endpoint = "http://c:4317"\nsample_rate = 0.5',
            "unknown key(s): sample_rate (did you mean sample_ratio?)",
        ),
    ],
)
def test_a_broken_tracing_section_is_refused(tmp_path: Path, section: str, problem: str) -> None:
    world = make_world(tmp_path)
    world.config_path.write_text(world.config_path.read_text() + f"\n[tracing]\n{section}\n")
    with pytest.raises(ConfigError) as info:
        load_config(world.config_path)
    assert problem in str(info.value)


def test_tracing_is_off_by_default(tmp_path: Path) -> None:
    assert load_config(make_world(tmp_path).config_path).tracing is None
