"""Outcome records (``authz/server/outcomes.py``): an access-log entry as an audit record, and a
state-changing allow whose outcome never arrives flagged — never a read, never a deny."""

from __future__ import annotations

import json
from pathlib import Path

from envoy.config.core.v3 import base_pb2
from envoy.data.accesslog.v3 import accesslog_pb2 as entry_pb
from google.protobuf import duration_pb2, wrappers_pb2

from authz.audit import AuditLog, verify
from authz.metrics import Metrics
from authz.server.outcomes import Outcomes, outcome_record
from unit.decisions import READ, decision


def entry(
    status: int, *, decision_header: str = "request", upstream: str = "10.0.0.7"
) -> entry_pb.HTTPAccessLogEntry:
    e = entry_pb.HTTPAccessLogEntry()
    e.request.request_method = base_pb2.POST
    e.request.path = "/v1/users/alice/password/reset?secret=1"
    e.request.request_id = "rid-1"
    e.request.request_body_bytes = 17
    headers = e.request.request_headers if decision_header == "request" else e.response.response_headers
    headers["x-authz-decision-id"] = "d-1"
    e.response.response_code.CopyFrom(wrappers_pb2.UInt32Value(value=status))
    e.response.response_body_bytes = 42
    e.response.response_code_details = "via_upstream" if upstream else "ext_authz_denied"
    e.common_properties.duration.CopyFrom(duration_pb2.Duration(nanos=1_500_000))
    if upstream:
        e.common_properties.upstream_remote_address.socket_address.address = upstream
    else:
        e.common_properties.response_flags.unauthorized_details.reason = 1
    return e


def test_an_entry_becomes_a_record_with_the_ids_and_no_query_string() -> None:
    record = outcome_record(entry(200))
    assert {k: v for k, v in record.items() if k != "time"} == {
        "record": "outcome", "decision_id": "d-1", "request_id": "rid-1", "method": "POST",
        "path": "/v1/users/alice/password/reset", "status": 200, "details": "via_upstream", "upstream": True,
        "upstream_failure": None, "duration_ms": 1.5, "request_bytes": 17, "response_bytes": 42,
    }  # fmt: skip


def test_a_denys_decision_id_comes_from_its_response() -> None:
    record = outcome_record(entry(403, decision_header="response", upstream=""))
    assert (record["decision_id"], record["upstream"], record["status"]) == ("d-1", False, 403)


def test_upstream_failures_are_named_by_envoys_flags() -> None:
    e = entry(503, upstream="")
    e.common_properties.response_flags.upstream_connection_failure = True
    assert outcome_record(e)["upstream_failure"] == ["upstream_connection_failure"]


def outcomes(tmp_path: Path, timeout: float = 0.0) -> tuple[Outcomes, AuditLog, Metrics]:
    audit, metrics = AuditLog(tmp_path / "audit.jsonl"), Metrics()
    return Outcomes(audit, metrics, timeout=timeout), audit, metrics


def records(audit: AuditLog) -> list[dict[str, object]]:
    audit.close()
    return [json.loads(line) for line in audit.path.read_text().splitlines()]


def test_a_state_changing_allow_without_an_outcome_is_flagged(tmp_path: Path) -> None:
    o, audit, metrics = outcomes(tmp_path)
    change = decision()  # an allowed password reset (tests/unit/decisions.py)
    read, denied = decision(READ), decision(allowed=False)
    for d in (change, read, denied):
        o.expect(d)
    assert o.sweep() == [change.decision_id]  # only the change is awaited
    assert o.sweep() == []  # flagged once
    assert metrics.outcomes_missing._value.get() == 1
    (flag,) = records(audit)
    assert (flag["record"], flag["decision_id"]) == ("outcome_missing", change.decision_id)
    assert verify(audit.path).ok


def test_an_outcome_that_arrives_clears_the_wait_and_is_counted(tmp_path: Path) -> None:
    o, audit, metrics = outcomes(tmp_path, timeout=3600)
    change = decision()
    o.expect(change)
    e = entry(500)
    e.request.request_headers["x-authz-decision-id"] = change.decision_id
    o.record(e)
    assert (
        o.sweep() == [] and metrics.outcomes.labels(status_class="5xx", upstream="reached")._value.get() == 1
    )
    assert [r["status"] for r in records(audit)] == [500]


def test_one_broken_entry_does_not_end_the_stream(tmp_path: Path) -> None:
    o, audit, _ = outcomes(tmp_path)
    broken = entry(200)
    broken.request.request_method = 999  # not a method Envoy knows
    message = type("M", (), {})()
    batch = type("B", (), {"log_entry": [broken, entry(201)]})()
    message.http_logs = batch  # type: ignore[attr-defined]
    o.StreamAccessLogs(iter([message]), None)
    assert [r["status"] for r in records(audit)] == [201]
