"""Envoy ext_authz v3 ⇄ pipeline: CheckRequest → RequestContext, Decision → CheckResponse."""

from __future__ import annotations

import json
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2

from authz.model import CREDENTIAL_HEADERS, INJECTED_HEADERS, Decision, RequestContext
from authz.reasons import Reason, http_status

_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def to_request(check: pb.CheckRequest) -> RequestContext:
    attrs = check.attributes
    http = attrs.request.http
    if http.header_map.headers:
        headers: dict[str, str] = {}
        for h in http.header_map.headers:
            value = h.raw_value.decode("utf-8", "replace") if h.raw_value else h.value
            name = h.key.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    else:
        headers = {k.lower(): v for k, v in http.headers.items()}
    body = http.raw_body if http.raw_body else http.body.encode("utf-8")
    return RequestContext(
        method=http.method,
        path=http.path,
        headers=headers,
        body=body,
        principal=attrs.source.principal,
        certificate=attrs.source.certificate,
        request_id=http.id,
    )


def _header(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, value=value), append_action=_OVERWRITE
    )


def to_response(decision: Decision) -> pb.CheckResponse:
    if decision.allowed:
        return _ok(decision.upstream_headers)
    return denied_response(decision.reason, decision.message, decision.decision_id, decision.body_extra)


def _ok(upstream_headers: dict[str, str]) -> pb.CheckResponse:
    remove = [h for h in INJECTED_HEADERS if h not in upstream_headers] + list(CREDENTIAL_HEADERS)
    ok = pb.OkHttpResponse(
        headers=[_header(k, v) for k, v in upstream_headers.items()],
        headers_to_remove=remove,
    )
    return pb.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=ok)


def denied_response(
    reason: Reason, message: str, decision_id: str, extra: dict[str, Any] | None = None
) -> pb.CheckResponse:
    """Envoy answers with this itself; the request never reaches the upstream."""
    status = http_status(reason)
    body = json.dumps({"error": str(reason), "message": message, "decision_id": decision_id, **(extra or {})})
    denied = pb.DeniedHttpResponse(
        status=http_status_pb2.HttpStatus(code=status),
        headers=[
            _header("content-type", "application/json"),
            _header("x-authz-reason", str(reason)),
            _header("x-authz-decision-id", decision_id),
        ],
        body=body,
    )
    code = code_pb2.UNAUTHENTICATED if status == 401 else code_pb2.PERMISSION_DENIED
    return pb.CheckResponse(status=status_pb2.Status(code=code, message=str(reason)), denied_response=denied)
