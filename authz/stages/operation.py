"""Stage 2 — operation: what the request does, and to whom.

The method and path are matched against the route table; the target principal comes from a
path parameter and/or a JSON body field (both present ⇒ they must agree). Anything ambiguous
is refused rather than guessed at: encoded separators or dots, empty or dot segments, ``;``
parameters, a query string on a route that takes none, duplicate JSON keys, compressed bodies.

Without a body, the outcome depends on method and path alone (the route table is fixed for
the life of the process), so resolved body-less requests are remembered: an agent reading the
same account again does not pay for parsing the path again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from authz.config import Route
from authz.reasons import Denied, Reason

_METHOD = re.compile(r"[A-Z]{1,16}")
# RFC 3986 pchar, minus ';' (path parameters) — anything else in a raw path is refused.
_RAW_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@%-]+")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORBIDDEN_DECODED = re.compile(r"[/\\;%\x00-\x1f\x7f]")
_MEMO_LIMIT = 8192  # distinct (method, path) pairs; the memo starts over when full


@dataclass(frozen=True)
class Operation:
    route: Route
    target: str
    params: Mapping[str, str] = field(default_factory=dict)  # the path's {param}s, decoded

    @property
    def name(self) -> str:
        return self.route.operation

    @property
    def op_class(self) -> str:
        return self.route.op_class


def _malformed(message: str) -> Denied:
    return Denied(Reason.MALFORMED_REQUEST, message)


class OperationStage:
    def __init__(self, routes: tuple[Route, ...], max_body_bytes: int) -> None:
        self._routes: dict[tuple[str, int], list[Route]] = {}
        for route in routes:
            self._routes.setdefault((route.method, len(route.segments)), []).append(route)
        self._max_body_bytes = max_body_bytes
        self._memo: dict[tuple[str, str], Operation] = {}

    def resolve(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Operation:
        if body:
            return self._resolve(method, path, headers, body)
        operation = self._memo.get((method, path))
        if operation is None:
            operation = self._resolve(method, path, headers, body)  # a refusal raises: not remembered
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo = {}
            self._memo[(method, path)] = operation
        return operation

    def _resolve(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Operation:
        if not _METHOD.fullmatch(method):
            raise _malformed("the method is not an upper-case HTTP method token")
        path, has_query, _query = path.partition("?")
        segments = _split_path(path)
        route, params = self._match(method, segments)
        if has_query and not route.allow_query:
            raise _malformed(f"{route.operation} takes no query string")
        target = params.get(route.principal_param) if route.principal_param else None
        if route.principal_body_field is not None:
            target = _body_principal(route, target, headers, body, self._max_body_bytes)
        if target is None:
            raise _malformed(f"{route.operation} needs a target principal")
        return Operation(route, target, params)

    def _match(self, method: str, segments: list[str]) -> tuple[Route, dict[str, str]]:
        for route in self._routes.get((method, len(segments)), ()):
            params: dict[str, str] = {}
            for template, raw in zip(route.segments, segments, strict=True):
                if template.startswith("{"):
                    params[template[1:-1]] = _decode_segment(raw)
                elif template != raw:
                    break
            else:
                return route, params
        raise Denied(Reason.UNKNOWN_ROUTE, f"no route for {method} {'/' + '/'.join(segments)}")


def _split_path(path: str) -> list[str]:
    if not path.startswith("/"):
        raise _malformed("the path must start with '/'")
    if "#" in path:
        raise _malformed("the path must not carry a fragment")
    segments = path[1:].split("/")
    for segment in segments:
        if not segment:
            raise _malformed("the path has an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise _malformed("the path has a dot segment")
        if not _RAW_SEGMENT.fullmatch(segment) or _PERCENT.search(segment):
            raise _malformed("the path holds a character that is not allowed (e.g. ';' or '\\')")
        if "%" in segment:
            _decode_segment(segment)  # refuse encoded separators anywhere, not just in parameters
    return segments


def _decode_segment(raw: str) -> str:
    try:
        value = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise _malformed("a path segment is not valid UTF-8 once decoded") from None
    if _FORBIDDEN_DECODED.search(value) or value.strip(".") == "" or value != value.strip():
        raise _malformed("a path segment holds an encoded separator, dot segment or control")
    return value


def _body_principal(
    route: Route, path_target: str | None, headers: Mapping[str, str], body: bytes, max_bytes: int
) -> str | None:
    field = route.principal_body_field
    assert field is not None
    if not body:
        if path_target is None:
            raise _malformed(f"{route.operation} needs a JSON body with '{field}'")
        return path_target
    if headers.get("content-encoding", "identity").lower() != "identity":
        raise _malformed("compressed request bodies are not accepted")
    if len(body) > max_bytes:
        raise _malformed("the request body is too large")
    document = _parse_json_object(body)
    value = document.get(field)
    if value is None:
        if path_target is None:
            raise _malformed(f"the JSON body lacks '{field}'")
        return path_target
    if not isinstance(value, str) or not value or _FORBIDDEN_DECODED.search(value):
        raise _malformed(f"'{field}' in the body must be a principal name")
    if path_target is not None and value != path_target:
        raise _malformed("the body principal disagrees with the path principal")
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed("the body is not valid JSON (or repeats a key)") from None
    if not isinstance(document, dict):
        raise _malformed("the body must be a JSON object")
    return document
