"""OpenTelemetry traces (``[tracing]``, off by default): one span per decision, continuing the
caller's W3C ``traceparent`` (Envoy forwards the agent's), with the pipeline's stages as events
and the decision's facts as attributes — never a token or a body — exported over OTLP/gRPC in
batches from a background thread, so a slow collector never slows a decision."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from authz.config.model import TracingConfig
from authz.model import Decision
from authz.reasons import NOT_DENIES, STAGES

_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    def __init__(self, cfg: TracingConfig, exporter: SpanExporter | None = None) -> None:
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": cfg.service_name}),
            sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)),
        )
        exporter = exporter or OTLPSpanExporter(endpoint=cfg.otlp_endpoint, insecure=cfg.insecure, timeout=2)
        self._provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self._tracer = self._provider.get_tracer("agent-authz")

    def record(self, decision: Decision, started_ns: int, ended_ns: int) -> None:
        parent = _PROPAGATOR.extract(
            {k: v for k, v in decision.request.headers.items() if k in ("traceparent", "tracestate")}
        )
        span = self._tracer.start_span(
            "agent-authz decision", context=parent, kind=SpanKind.SERVER, start_time=started_ns,
            attributes=_attributes(decision),
        )  # fmt: skip
        for number, name, verdict in stages(decision):
            span.add_event(f"stage {number} {name}", {"verdict": verdict}, timestamp=ended_ns)
        if not decision.allowed and decision.reason not in NOT_DENIES:
            span.set_status(Status(StatusCode.ERROR, str(decision.reason)))
        span.end(end_time=ended_ns)

    def shutdown(self) -> None:
        """Export what is buffered, then stop (at the server's stop)."""
        self._provider.shutdown()


def stages(decision: Decision) -> list[tuple[int, str, str]]:
    """Each stage the decision went through, and how it left it."""
    failing = decision.failing_stage
    out = []
    for number, name in enumerate(STAGES, start=1):
        if failing is not None and number > failing:
            break
        out.append((number, name, "pass" if number != failing else f"deny {decision.reason}"))
    return out


def _attributes(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {
        "authz.decision_id": d.decision_id,
        "authz.decision": "allow" if d.allowed else "deny",
        "authz.reason": str(d.reason),
        "http.request.method": d.request.method[:16],
        "url.path": d.request.path.partition("?")[0][:2048],
    }
    if d.agent is not None:
        out["authz.agent"] = d.agent.spiffe_id
    if d.operation is not None:
        out |= {"authz.operation": d.operation.name, "authz.class": d.operation.op_class}
    if d.task is not None:
        out["authz.task"] = d.task.task_id
    if d.request.request_id:
        out["authz.request_id"] = d.request.request_id[:128]
    return out
