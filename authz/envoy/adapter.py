"""Envoy ext_authz v3 ⇄ pipeline: CheckRequest → RequestContext, Decision → CheckResponse."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2

from authz.cache import BoundedCache
from authz.headers import CREDENTIAL_HEADERS, INJECTED_HEADERS, METHOD_OVERRIDE_HEADERS, PATH_OVERRIDE_HEADERS
from authz.model import Decision, RequestContext
from authz.reasons import Reason, http_status

_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def to_request(check: pb.CheckRequest) -> RequestContext:
    attrs = check.attributes
    http = attrs.request.http
    headers: Mapping[str, str]
    if http.header_map.headers:  # encode_raw_headers: values as bytes, repeats as entries
        joined: dict[str, str] = {}
        for h in http.header_map.headers:
            value = h.raw_value.decode("utf-8", "replace") if h.raw_value else h.value
            name = h.key.lower()
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        headers = joined
    else:
        # Envoy's own map: names already lower-case (Envoy keeps them so), repeats already
        # joined with ','. Used as is: copying it into a dict costs more than the lookups.
        headers = http.headers
    body = http.raw_body if http.raw_body else http.body.encode("utf-8")
    return RequestContext(
        method=http.method,
        path=http.path,
        headers=headers,
        body=body,
        principal=attrs.source.principal,
        certificate=attrs.source.certificate,
        request_id=headers.get("x-request-id") or http.id,  # the id the API sees, not Envoy's stream id
    )


def _header(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, value=value), append_action=_OVERWRITE
    )


def to_response(decision: Decision) -> pb.CheckResponse:
    if decision.allowed:
        return _ok(decision.upstream_headers)
    return denied_response(decision.reason, decision.message, decision.decision_id, decision.body_extra)


class ResponseEncoder:
    """Decision → serialised CheckResponse, with allows served from templates.

    Building the allow message costs more than most of the pipeline, yet two allows for one
    agent and task differ only in the decision id, whose length is fixed. So each distinct set
    of upstream headers is serialised once with a placeholder id of that length, and an allow
    is that template with its own id swapped in: same length, so no length prefix changes.
    """

    ID_LENGTH = 32  # pipeline.DecisionIds
    MAX_TEMPLATES = 4096  # distinct (agent, task, on-behalf-of) sets, least recently used out first

    def __init__(self, max_templates: int = MAX_TEMPLATES) -> None:
        self._placeholder = secrets.token_hex(self.ID_LENGTH // 2).encode()
        self._templates: BoundedCache[tuple[tuple[str, str], ...], bytes] = BoundedCache(max_templates)

    def encode(self, decision: Decision) -> bytes:
        if not decision.allowed:
            return bytes(to_response(decision).SerializeToString())
        headers = decision.upstream_headers
        decision_id = headers.get("x-authz-decision-id", "")
        if len(decision_id) != self.ID_LENGTH:
            return bytes(to_response(decision).SerializeToString())
        key = tuple(item for item in headers.items() if item[0] != "x-authz-decision-id")
        template = self._templates.get(key) or self._template(key, headers)
        if template is None:
            return bytes(to_response(decision).SerializeToString())
        return template.replace(self._placeholder, decision_id.encode(), 1)

    def _template(self, key: tuple[tuple[str, str], ...], headers: dict[str, str]) -> bytes | None:
        ids = {"x-authz-decision-id": self._placeholder.decode()}
        template = bytes(_ok({**headers, **ids}).SerializeToString())
        if template.count(self._placeholder) != 1:
            return None  # another header's value holds the placeholder: no template for this set
        self._templates.put(key, template)
        return template


def _ok(upstream_headers: dict[str, str]) -> pb.CheckResponse:
    remove = [h for h in INJECTED_HEADERS if h not in upstream_headers]
    remove += [*CREDENTIAL_HEADERS, *METHOD_OVERRIDE_HEADERS, *PATH_OVERRIDE_HEADERS]
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
