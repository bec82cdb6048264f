"""What the API then did: Envoy's gRPC access-log service (``envoy.service.accesslog.v3``),
served beside ``Check``. Envoy streams one entry per request through the agents' listener; each
becomes an ``outcome`` record in the same hash chain as the decisions, linked to its decision
by ``decision_id`` (the ``x-authz-decision-id`` header agent-authz set on the upstream request,
or on its own deny) and carrying Envoy's ``x-request-id`` (the id the API sees).

A state-changing allow whose outcome has not arrived ``timeout`` seconds later is flagged: an
``outcome_missing`` record, a metric, a warning. Tracked per process: the decision and its
access-log entry must reach the same agent-authz process (one replica, or Envoy's access-log
stream pinned to the deciding one); across replicas a missing outcome may be a false alarm.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from envoy.data.accesslog.v3 import accesslog_pb2 as entry_pb
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from authz.audit import AuditLog, AuditUnavailable
from authz.metrics import Metrics
from authz.model import Decision

log = logging.getLogger(__name__)
DECISION_HEADER = "x-authz-decision-id"
_METHODS = entry_pb.HTTPRequestProperties.DESCRIPTOR.fields_by_name["request_method"].enum_type
MAX_PENDING = 100_000  # state-changing allows awaiting their outcome; beyond, the oldest are flagged


class Outcomes(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    def __init__(
        self, audit: AuditLog, metrics: Metrics, timeout: float = 30.0, max_streams: int = 32
    ) -> None:
        self._audit, self._metrics, self._timeout = audit, metrics, timeout
        self._streams = threading.BoundedSemaphore(max_streams)  # each open stream holds a thread
        self._pending: dict[str, float] = {}  # decision id -> when its outcome is overdue (monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_forever, name="outcomes", daemon=True)

    def start(self) -> Outcomes:
        self._sweeper.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sweeper.ident is not None:
            self._sweeper.join(timeout=5)

    def expect(self, decision: Decision) -> None:
        """A decision was answered: a state-changing allow must be followed by its outcome."""
        if decision.allowed and decision.state_changing:
            with self._lock:
                if len(self._pending) >= MAX_PENDING:
                    self._flag([next(iter(self._pending))])
                self._pending[decision.decision_id] = time.monotonic() + self._timeout

    def StreamAccessLogs(self, requests: Iterator[Any], context: Any) -> Any:  # noqa: N802
        if not self._streams.acquire(blocking=False):  # never a thread the decisions need
            log.warning("access-log stream refused: server.outcome_streams are all open")
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many access-log streams")
        try:
            self._stream(requests)
        finally:
            self._streams.release()
        return als_pb2.StreamAccessLogsResponse()

    def _stream(self, requests: Iterator[Any]) -> None:
        for message in requests:
            for entry in message.http_logs.log_entry:
                try:
                    self.record(entry)
                except Exception:  # one odd entry must not end the stream (Envoy would drop the rest)
                    log.exception("an access-log entry could not be recorded")

    def record(self, entry: entry_pb.HTTPAccessLogEntry) -> dict[str, Any]:
        record = outcome_record(entry)
        with self._lock:
            self._pending.pop(str(record["decision_id"]), None)
        self._append(record)
        upstream = (
            "reached" if record["upstream"] else ("failed" if record["upstream_failure"] else "not_sent")
        )
        self._metrics.outcomes.labels(status_class=_status_class(record["status"]), upstream=upstream).inc()
        return record

    def sweep(self) -> list[str]:
        """Flag every state-changing allow whose outcome is overdue; their decision ids."""
        now = time.monotonic()
        with self._lock:
            overdue = [d for d, deadline in self._pending.items() if deadline <= now]
            self._flag(overdue)
        return overdue

    def _flag(self, decision_ids: list[str]) -> None:
        for decision_id in decision_ids:
            self._pending.pop(decision_id, None)
            log.warning("no outcome arrived for state-changing allow %s", decision_id)
            self._metrics.outcomes_missing.inc()
            self._append({"record": "outcome_missing", "decision_id": decision_id, "time": _now(),
                          "waited_s": self._timeout})  # fmt: skip

    def _append(self, record: dict[str, Any]) -> None:
        try:
            self._audit.append(record, durable=False)
        except AuditUnavailable:
            self._metrics.audit_failures.inc()  # the decisions are denied already; nothing more to do

    def _sweep_forever(self) -> None:
        while not self._stop.wait(1.0):
            self.sweep()


def outcome_record(entry: entry_pb.HTTPAccessLogEntry) -> dict[str, Any]:
    """An access-log entry as an audit record: no headers but the two ids, no query string."""
    request, response, common = entry.request, entry.response, entry.common_properties
    decision_id = request.request_headers.get(DECISION_HEADER) or response.response_headers.get(
        DECISION_HEADER
    )
    flags = [f.name for f, value in common.response_flags.ListFields() if value is True]
    upstream = common.upstream_remote_address.socket_address.address
    return {
        "record": "outcome",
        "decision_id": decision_id or None,
        "request_id": request.request_id[:128] or None,
        "time": _now(),
        "method": _METHODS.values_by_number[request.request_method].name if request.request_method else None,
        "path": request.path.partition("?")[0][:2048],
        "status": response.response_code.value if response.HasField("response_code") else None,
        "details": response.response_code_details[:256] or None,
        "upstream": bool(upstream),
        "upstream_failure": flags or None,
        "duration_ms": round(common.duration.ToTimedelta().total_seconds() * 1000, 3),
        "request_bytes": request.request_body_bytes,
        "response_bytes": response.response_body_bytes,
    }


def _status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "none"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def add_to_server(servicer: Outcomes, server: Any) -> None:
    als_pb2_grpc.add_AccessLogServiceServicer_to_server(servicer, server)
