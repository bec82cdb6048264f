"""Envoy ⇄ pipeline conversion: what Envoy receives for an allow and for a deny."""

from __future__ import annotations

import json
from pathlib import Path

from envoy.service.auth.v3 import external_auth_pb2 as pb
from factories import check_request, make_world
from google.rpc import code_pb2

from authz.envoy.adapter import ResponseEncoder, to_request, to_response
from authz.headers import CREDENTIAL_HEADERS, INJECTED_HEADERS, METHOD_OVERRIDE_HEADERS, PATH_OVERRIDE_HEADERS
from authz.model import Decision, RequestContext
from authz.reasons import Reason


def test_check_request_round_trip(tmp_path: Path) -> None:
    ctx = make_world(tmp_path).request(
        "POST", "/v1/groups/staff/members?x=1", body=b'{"user":"bob"}', headers={"x-agent-intent": "a,b"}
    )
    assert to_request(check_request(ctx)) == ctx


def test_header_map_form_is_read_and_repeats_joined() -> None:
    req = pb.CheckRequest()
    http = req.attributes.request.http
    http.method, http.path = "GET", "/v1/users/alice"
    for key, value in [("X-Agent-Intent", "a"), ("x-agent-intent", "b")]:
        header = http.header_map.headers.add()
        header.key, header.raw_value = key, value.encode()
    http.body = "text body"
    ctx = to_request(req)
    assert ctx.headers == {"x-agent-intent": "a,b"}
    assert ctx.body == b"text body"


def decision(reason: Reason, message: str = "m") -> Decision:
    d = Decision("d1", RequestContext("GET", "/", {}, b"", "", ""))
    d.deny(reason, message)
    return d


def test_allow_sets_identity_headers_and_strips_the_rest() -> None:
    d = decision(Reason.ALLOWED)
    d.reason = Reason.ALLOWED
    d.upstream_headers = {"x-authz-decision-id": "d1", "x-agent-id": "spiffe://a/b", "x-agent-owner": "o"}
    resp = to_response(d)
    assert resp.status.code == code_pb2.OK
    set_headers = {h.header.key: h.header.value for h in resp.ok_response.headers}
    assert set_headers == d.upstream_headers
    removed = set(resp.ok_response.headers_to_remove)
    rewriting = set(METHOD_OVERRIDE_HEADERS) | set(PATH_OVERRIDE_HEADERS)
    assert removed == (set(INJECTED_HEADERS) - set(set_headers)) | set(CREDENTIAL_HEADERS) | rewriting


def test_deny_body_and_status() -> None:
    for reason, status, code in [
        (Reason.UNKNOWN_ROUTE, 403, code_pb2.PERMISSION_DENIED),
        (Reason.INVALID_CLIENT_CERTIFICATE, 401, code_pb2.UNAUTHENTICATED),
        (Reason.AUDIT_UNAVAILABLE, 503, code_pb2.PERMISSION_DENIED),
    ]:
        resp = to_response(decision(reason, "why"))
        assert resp.status.code == code
        assert resp.denied_response.status.code == status
        assert json.loads(resp.denied_response.body) == {
            "error": str(reason),
            "message": "why",
            "decision_id": "d1",
        }
        headers = {h.header.key: h.header.value for h in resp.denied_response.headers}
        assert headers["x-authz-reason"] == str(reason)
        assert headers["content-type"] == "application/json"


def allowed(decision_id: str, **headers: str) -> Decision:
    d = Decision(decision_id, RequestContext("GET", "/", {}, b"", "", ""))
    d.reason = Reason.ALLOWED
    d.upstream_headers = {"x-authz-decision-id": decision_id, "x-agent-id": "spiffe://a/b", **headers}
    return d


def test_encoded_allows_equal_the_built_message() -> None:
    encoder = ResponseEncoder()
    for i in range(3):  # the first builds the template, the others reuse it
        for task in ("t1", "t2"):
            d = allowed(f"{i:032x}", **{"x-agent-task": task})
            assert pb.CheckResponse.FromString(encoder.encode(d)) == to_response(d)


def test_a_header_holding_the_placeholder_gets_no_template() -> None:
    encoder = ResponseEncoder()
    placeholder = encoder._placeholder.decode()
    d = allowed("f" * 32, **{"x-agent-owner": placeholder})
    assert pb.CheckResponse.FromString(encoder.encode(d)) == to_response(d)
    assert len(encoder._templates) == 0


def test_short_ids_and_denies_are_encoded_in_full() -> None:
    encoder = ResponseEncoder()
    for d in (allowed("d1"), decision(Reason.UNKNOWN_ROUTE, "why")):
        assert pb.CheckResponse.FromString(encoder.encode(d)) == to_response(d)
    assert len(encoder._templates) == 0


def test_the_template_cache_is_bounded() -> None:
    encoder = ResponseEncoder(max_templates=4)
    for task in range(10):
        d = allowed("a" * 32, **{"x-agent-task": f"t{task}"})
        assert pb.CheckResponse.FromString(encoder.encode(d)) == to_response(d)
        assert len(encoder._templates) <= 4


def test_envoy_header_map_is_read_without_copying() -> None:
    req = pb.CheckRequest()
    req.attributes.request.http.headers.update({"x-agent-intent": "a,b", "x-agent-task-token": "t"})
    ctx = to_request(req)
    assert ctx.headers.get("x-agent-intent") == "a,b"  # Envoy joined two headers
    assert ctx.headers.get("X-Agent-Intent") is None  # names are Envoy's lower-case ones
