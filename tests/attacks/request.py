"""Requests an upstream could read differently from agent-authz: paths, headers and bodies.

Every change here carries a valid task and an approval bound to the request exactly as sent,
so the only thing standing between it and the API is how agent-authz (or Envoy) reads it.
"""

from __future__ import annotations

from typing import Any

from .model import (
    ALLOWED,
    BODY,
    HEADER,
    MALFORMED,
    PATH,
    Case,
    body,
    by_envoy,
    forbidden,
    grant,
    read,
    reset,
)


def on(category: str) -> Any:
    def case(id: str, attack: str, expect: Any, **kwargs: Any) -> Case:
        return Case(id, category, attack, expect, **kwargs)

    return case


path, header, body_case = on(PATH), on(HEADER), on(BODY)
FORM = (("content-type", "application/x-www-form-urlencoded"),)
SCIM = (("content-type", "application/scim+json; charset=utf-8"),)

PATH_CASES = [
    path("path-dot-segment", "baseline: `/v1/users/./alice` (Envoy normalises it)", ALLOWED,
         **read(path="/v1/users/./alice")),
    path("path-double-slash", "baseline: `//v1/users//alice` (Envoy merges the slashes)", ALLOWED,
         **read(path="//v1/users//alice")),
    path("path-encoded-unreserved", "baseline: `/v1/users/al%69ce` (Envoy decodes it)", ALLOWED,
         **read(path="/v1/users/al%69ce")),
    path("path-escaped-slash", "`%2F` in the path parameter of a reset", by_envoy(400),
         **reset(path="/v1/users/alice%2F..%2Fbob/password/reset")),
    path("path-escaped-backslash", "`%5C` in a path parameter", by_envoy(400),
         **read(path="/v1/users/alice%5C..%5Cbob")),
    path("path-encoded-dot-dot", "`/v1/users/alice/%2E%2E/bob` with a task naming alice: Envoy "
         "decodes and resolves it to bob", forbidden("principal_not_in_scope"),
         **read(path="/v1/users/alice/%2E%2E/bob")),
    path("path-encoded-dot-dot-only", "`/v1/users/%2e%2e`", MALFORMED, **read(path="/v1/users/%2e%2e")),
    path("path-matrix-parameter", "`;user=bob` matrix parameter on a read", MALFORMED,
         **read(path="/v1/users/alice;user=bob")),
    path("path-matrix-parameter-reset", "`;x=1` matrix parameter in a reset's path", MALFORMED,
         **reset(path="/v1/users/alice;x=1/password/reset")),
    path("path-encoded-semicolon", "`%3B` (an encoded `;`) in a path parameter", MALFORMED,
         **read(path="/v1/users/alice%3Buser=bob")),
    path("path-trailing-slash", "trailing slash on a read", MALFORMED, **read(path="/v1/users/alice/")),
    path("path-trailing-slash-reset", "trailing slash on a reset (approved as sent)", MALFORMED,
         **reset(path="/v1/users/alice/password/reset/")),
    path("path-case-variant-prefix", "`/V1/users/alice`", forbidden("unknown_route"),
         **read(path="/V1/users/alice")),
    path("path-case-variant-literal", "`/v1/users/alice/Password/reset`", forbidden("unknown_route"),
         **reset(path="/v1/users/alice/Password/reset")),
    path("path-fragment", "a fragment `#bob`", by_envoy(400), **read(path="/v1/users/alice#bob")),
    path("path-query-principal", "`?user=bob` on a read", MALFORMED, **read(path="/v1/users/alice?user=bob")),
    path("path-query-principal-reset", "`?user=bob` on alice's reset", MALFORMED,
         **reset(path="/v1/users/alice/password/reset?user=bob")),
    path("path-query-method", "`?_method=DELETE`", MALFORMED, **read(path="/v1/users/alice?_method=DELETE")),
    path("path-query-harmless", "any query on a route without one (`?fields=all`)", MALFORMED,
         **read(path="/v1/users/alice?fields=all")),
    path("path-unknown-route", "a route not in the table", forbidden("unknown_route"),
         **read(path="/v1/admin/export")),
]  # fmt: skip

FORGED = (("x-agent-id", "spiffe://agents.example.org/agent/admin-bot"), ("x-agent-owner", "mallory"),
          ("x-approved-by", "dana,erik"), ("x-authz-decision-id", "forged"), ("x-agent-task", "forged"),
          ("x-on-behalf-of", "carol"))  # fmt: skip

HEADER_CASES = [
    header("header-forged-identity", "baseline: client-supplied `x-agent-id`, `x-approved-by`, "
           "`x-agent-owner`…: the API sees agent-authz's values only", ALLOWED, headers=FORGED),
    header("header-forged-approved-by", "client-supplied `x-approved-by: dana` on an unapproved reset",
           forbidden("approval_required"), **reset(approvers=(), headers=(("x-approved-by", "dana"),))),
    header("header-method-override", "`X-HTTP-Method-Override: DELETE` on a read", MALFORMED,
           headers=(("X-HTTP-Method-Override", "DELETE"),)),
    header("header-x-http-method", "`X-HTTP-Method: DELETE`", MALFORMED,
           headers=(("X-HTTP-Method", "DELETE"),)),
    header("header-x-method-override", "`X-Method-Override: POST`", MALFORMED,
           headers=(("X-Method-Override", "POST"),)),
    header("header-override-same-method", "`X-HTTP-Method-Override: GET` (any value)", MALFORMED,
           headers=(("X-HTTP-Method-Override", "GET"),)),
    header("header-override-on-change", "`X-HTTP-Method-Override: DELETE` on an approved reset",
           MALFORMED, **reset(headers=(("X-HTTP-Method-Override", "DELETE"),))),
    header("header-override-underscore", "`X_HTTP_METHOD_OVERRIDE: DELETE`", by_envoy(400),
           headers=(("X_HTTP_METHOD_OVERRIDE", "DELETE"),)),
    header("header-original-url", "`X-Original-URL: /v1/users/bob/password/reset`", MALFORMED,
           headers=(("X-Original-URL", "/v1/users/bob/password/reset"),)),
    header("header-rewrite-url", "`X-Rewrite-URL: /v1/users/carol`", MALFORMED,
           headers=(("X-Rewrite-URL", "/v1/users/carol"),)),
    header("header-intent-twice", "the intent header twice (Envoy joins them with `,`)",
           forbidden("intent_mismatch"), intent=None,
           repeated=(("x-agent-intent", "account_support"), ("x-agent-intent", "account_support"))),
    header("header-intent-joined", "`x-agent-intent: account_support,credential_recovery`",
           forbidden("intent_mismatch"), intent="account_support,credential_recovery"),
    header("header-intent-missing", "no `x-agent-intent`", forbidden("intent_missing"), intent=None),
    header("header-intent-other", "an intent other than the task's", forbidden("intent_mismatch"),
           intent="credential_recovery"),
    header("header-lower-case-method", "method `get`", by_envoy(400), method="get"),
    header("header-unknown-method", "method `FOO`", by_envoy(400), method="FOO"),
]  # fmt: skip


def payload(value: bytes, **kwargs: Any) -> dict[str, Any]:
    """Alice's approved reset with this body."""
    return reset(payload=value, **kwargs)


BODY_CASES = [
    body_case("body-valid-reset", "baseline: a reset with every field of its schema", ALLOWED,
              **payload(body({"user": "alice", "notify": True, "reason": "locked out"}))),
    body_case("body-valid-grant", "baseline: a grant into staff with a role", ALLOWED,
              **grant("staff", payload=body({"user": "bob", "role": "viewer", "reason": "ticket 42"}))),
    body_case("body-escaped-key", 'baseline: `{"\\u0075ser": "alice"}` (an escaped `user`)', ALLOWED,
              **payload(b'{"\\u0075ser": "alice"}')),
    body_case("body-scim-json", "baseline: `content-type: application/scim+json; charset=utf-8`", ALLOWED,
              **payload(body({"user": "alice"}), headers=SCIM)),
    body_case("body-none-on-a-reset", "baseline: a reset without a body (the path names alice)", ALLOWED,
              **payload(b"")),
    body_case("body-empty-object-on-a-read", "baseline: `{}` on a read, which takes no body", ALLOWED,
              body=b"{}"),
    body_case("body-key-capitalised", '`{"User": "bob"}` on alice\'s reset', MALFORMED,
              **payload(b'{"User": "bob"}')),
    body_case("body-key-upper-case", '`{"USER": "bob"}`', MALFORMED, **payload(b'{"USER": "bob"}')),
    body_case("body-key-long-s", '`{"uſer": "bob"}` (Go folds the long s)', MALFORMED,
              **payload('{"u\u017fer": "bob"}'.encode())),
    body_case("body-key-fullwidth", '`{"ｕｓｅｒ": "bob"}` (fullwidth, NFKC `user`)', MALFORMED,
              **payload('{"\uff55\uff53\uff45\uff52": "bob"}'.encode())),
    body_case("body-key-underscore", '`{"_user": "bob"}`', MALFORMED, **payload(b'{"_user": "bob"}')),
    body_case("body-nested-principal", '`{"data": {"user": "bob"}}` on alice\'s reset', MALFORMED,
              **payload(b'{"data": {"user": "bob"}}')),
    body_case("body-nested-principal-grant", '`{"data": {"user": "bob"}}` as a grant\'s only principal',
              MALFORMED, **grant("staff", payload=b'{"data": {"user": "bob"}}')),
    body_case("body-duplicate-key", '`{"user": "alice", "user": "bob"}`', MALFORMED,
              **payload(b'{"user": "alice", "user": "bob"}')),
    body_case("body-duplicate-folded", '`{"user": "alice", "USER": "bob"}`', MALFORMED,
              **payload(b'{"user": "alice", "USER": "bob"}')),
    body_case("body-duplicate-role", '`{"user": "bob", "role": "viewer", "role": "admin"}`', MALFORMED,
              **grant("staff", payload=b'{"user": "bob", "role": "viewer", "role": "admin"}')),
    body_case("body-method-field", '`"_method": "DELETE"` in the body', MALFORMED,
              **payload(b'{"user": "alice", "_method": "DELETE"}')),
    body_case("body-not-json", "`user=bob` declared as JSON", MALFORMED, **payload(b"user=bob")),
    body_case("body-form-encoded", "`user=bob` as `application/x-www-form-urlencoded`", MALFORMED,
              **payload(b"user=bob", headers=FORM)),
    body_case("body-json-as-form", "a JSON body declared as a form", MALFORMED,
              **payload(body({"user": "alice"}), headers=FORM)),
    body_case("body-utf16", "a UTF-16 JSON body", MALFORMED, **payload('{"user": "bob"}'.encode("utf-16"))),
    body_case("body-bom", "a UTF-8 byte-order mark before the JSON", MALFORMED,
              **payload(b'\xef\xbb\xbf{"user": "alice"}')),
    body_case("body-nan", "`NaN` in the body", MALFORMED, **payload(b'{"user": "alice", "notify": NaN}')),
    body_case("body-no-content-type", "a JSON body without `content-type`", MALFORMED,
              **payload(body({"user": "alice"}), headers=(("content-type", None),))),
    body_case("body-text-plain", "a JSON body as `text/plain`", MALFORMED,
              **payload(body({"user": "alice"}), headers=(("content-type", "text/plain"),))),
    body_case("body-gzip", "`content-encoding: gzip`", MALFORMED,
              **payload(body({"user": "alice"}), headers=(("content-encoding", "gzip"),))),
    body_case("body-outside-schema", "a key the route's schema does not declare (`scope`)", MALFORMED,
              **payload(body({"user": "alice", "scope": "all"}))),
    body_case("body-wrong-type", '`"notify": "yes"` where the schema says boolean', MALFORMED,
              **payload(body({"user": "alice", "notify": "yes"}))),
    body_case("body-principal-not-a-string", '`{"user": ["alice"]}`', MALFORMED,
              **payload(body({"user": ["alice"]}))),
    body_case("body-on-a-read", '`{"user": "bob"}` on a read, which takes no body', MALFORMED,
              body=body({"user": "bob"})),
    body_case("body-group-in-body", '`"group": "it-admins"` on a grant whose group is the path\'s',
              MALFORMED, **grant("staff", payload=body({"user": "bob", "group": "it-admins"}))),
    body_case("body-disagrees-with-path", '`{"user": "bob"}` on alice\'s reset', MALFORMED,
              **payload(body({"user": "bob"}))),
    body_case("body-trailing-data", "a second JSON document after the first", MALFORMED,
              **payload(b'{"user": "alice"} {"user": "bob"}')),
    body_case("body-not-an-object", "a JSON array at the top", MALFORMED, **payload(b'[{"user": "alice"}]')),
]  # fmt: skip
