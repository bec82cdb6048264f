"""Stage 2 — operation: what the request does, and to whom — read once, the way no upstream disagrees.

The method and path are matched against the route table; the target principal comes from a
path parameter and/or a JSON body field (both present ⇒ they must agree). Wherever an upstream
could read the request differently from this server, the request is refused
(``malformed_request``) instead of guessed at:

- the path: encoded separators or dots, empty or dot segments, ``;`` (matrix) parameters,
  control characters, a fragment;
- the method: a method-override or URL-rewriting header (``X-HTTP-Method-Override`` …) or a
  ``_method`` parameter, which frameworks honour to turn a read into a change;
- the query string: none unless the route declares it (``allow_query``), never ``;``, and no
  parameter a lenient reader could take for the principal, a path parameter or ``_method``;
- the body (``authz/stages/body.py``): JSON only, and only one reading of it.

Without a body, the outcome depends on method and path alone (the route table is fixed for
the life of the process), so resolved body-less requests are remembered in a bounded cache.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard
from urllib.parse import unquote

from authz.cache import BoundedCache
from authz.config import Route
from authz.directory import Directory
from authz.headers import REWRITING_HEADERS
from authz.model import Operation
from authz.names import fold, key_skeleton
from authz.reasons import Denied, Reason
from authz.stages.body import BodyReader, check_content_type
from authz.stages.derive import Classifier, derive
from authz.stages.ids import AccountIds

_METHOD = re.compile(r"[A-Z]{1,16}")
# RFC 3986 pchar, minus ';' (path parameters) — anything else in a raw path is refused.
_RAW_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@%-]+")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORBIDDEN_DECODED = re.compile(r"[/\\;%\x00-\x1f\x7f]")
_QUERY_NAME_PARTS = re.compile(r"[\[\].]")  # user[name]=…, user.name=…: read as nested by some
_MEMO_LIMIT = 8192  # distinct (method, path) pairs


def _malformed(message: str) -> Denied:
    return Denied(Reason.MALFORMED_REQUEST, message)


def check_rewriting_headers(headers: Mapping[str, str]) -> None:
    """No header that makes a framework act on another method or path than Envoy routed."""
    for name in REWRITING_HEADERS:
        if headers.get(name) is not None:
            raise _malformed(f"{name} is refused: the request must mean what its method and path say")


class OperationStage:
    def __init__(
        self, routes: tuple[Route, ...], max_body_bytes: int, directory: Directory | None = None
    ) -> None:
        self._routes: dict[tuple[str, int], list[Route]] = {}
        for route in routes:
            self._routes.setdefault((route.method, len(route.segments)), []).append(route)
        self._readers = {route: BodyReader(route) for route in routes}
        self._classifiers = {route: Classifier(route) for route in routes if route.derive is not None}
        self._max_body_bytes = max_body_bytes
        self._memo: BoundedCache[tuple[str, str], Operation] = BoundedCache(_MEMO_LIMIT)
        self._ids = AccountIds(directory)

    def resolve(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Operation:
        """What the request does, to whom (by name: ``ids.py`` asks the directory about ids)."""
        check_rewriting_headers(headers)
        if body:
            return self._ids.named(self._resolve(method, path, headers, body))
        operation = self._memo.get((method, path))
        if operation is None:
            operation = self._resolve(method, path, headers, body)  # a refusal raises: not remembered
            self._memo.put((method, path), operation)
        return self._ids.named(operation)  # after the memo: the directory's answers expire

    def _resolve(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Operation:
        if not _METHOD.fullmatch(method):
            raise _malformed("the method is not an upper-case HTTP method token")
        path, has_query, query = path.partition("?")
        segments = _split_path(path)
        route, params = self._match(method, segments)
        if route.refuse is not None:
            raise _malformed(f"{route.describe()} is refused: {route.refuse}")
        if has_query:
            _check_query(route, query)
        target = params.get(route.principal_param) if route.principal_param else None
        if route.derive is not None:
            return self._derived(route, params, target, headers, body)
        if body:
            target = self._body_principal(route, target, headers, body)
        elif target is None:
            raise _malformed(f"{route.operation} needs a JSON body with '{route.principal_body_field}'")
        return Operation(route, target, params)

    def _derived(
        self,
        route: Route,
        params: dict[str, str],
        target: str | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Operation:
        """A route that reads its operations from the body (``authz/stages/derive/``)."""
        if not body:
            raise _malformed(f"{route.describe()} needs a JSON body: what it does depends on it")
        document = self._document(route, headers, body)
        field = route.principal_body_field
        if field is not None and field in document:
            target = self._principal_value(document[field], field, target)
        if not target and (field is not None or route.principal_param is not None):
            # a SCIM POST without userName or displayName: whom it creates is nobody's to say
            raise _malformed(f"{route.describe()} names no principal: the body has no {field}")
        group = params.get(route.group_param) if route.group_param else None
        actions = derive(self._classifiers[route], document, target or "", group, self._inner)
        return Operation(route, actions[0].target, params, actions)

    def _inner(self, method: str, path: str, body: bytes) -> Operation:
        """One operation of a bulk request, read as if it came alone."""
        return self._resolve(method, path, {"content-type": "application/json"}, body)

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

    def _body_principal(
        self, route: Route, path_target: str | None, headers: Mapping[str, str], body: bytes
    ) -> str:
        document = self._document(route, headers, body)
        if not route.takes_body:
            if document:
                raise _malformed(f"{route.operation} takes no body (at most {{}})")
            assert path_target is not None  # a route without a body field has a path principal
            return path_target
        field = route.principal_body_field
        if field is None or field not in document:
            if path_target is None:
                raise _malformed(f"the JSON body lacks '{field}'")
            return path_target
        return self._principal_value(document[field], field, path_target)

    @staticmethod
    def _principal_value(value: object, field: str, path_target: str | None) -> str:
        if not _principal_name(value):
            raise _malformed(f"'{field}' in the body must be a principal name")
        if path_target is not None and value != path_target:
            raise _malformed("the body principal disagrees with the path principal")
        return value

    def _document(self, route: Route, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The body, read under the route's reading rules (``authz/stages/body.py``)."""
        if headers.get("content-encoding", "identity").lower() != "identity":
            raise _malformed("compressed request bodies are not accepted")
        if len(body) > self._max_body_bytes:
            raise _malformed("the request body is too large")
        check_content_type(headers)
        return self._readers[route].read(body)


def _principal_name(value: object) -> TypeGuard[str]:
    if not isinstance(value, str) or not value:
        return False
    return value == value.strip() and not _FORBIDDEN_DECODED.search(value)


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


def _check_query(route: Route, query: str) -> None:
    """The query string holds nothing an upstream could read as a second principal or method."""
    if not route.allow_query:
        raise _malformed(f"{route.operation} takes no query string")
    if ";" in query or "#" in query:
        raise _malformed("the query string holds ';' or '#', which parsers split differently")
    binding = {key_skeleton(p) for p in route.params}
    if route.principal_body_field is not None:
        binding.add(key_skeleton(route.principal_body_field))
    for part in query.split("&"):
        raw_name = part.partition("=")[0]
        try:
            name = unquote(raw_name.replace("+", " "), errors="strict")
        except UnicodeDecodeError:
            raise _malformed("a query parameter name is not valid UTF-8 once decoded") from None
        if route.query_names is not None and name not in route.query_names:
            raise _malformed(f"query parameter {name!r} is not one {route.operation} takes")
        for piece in _QUERY_NAME_PARTS.split(name):
            if fold(piece) == "_method":
                raise _malformed("the query string holds a _method override")
            if key_skeleton(piece) in binding:
                raise _malformed(f"query parameter {name!r} may be read as a principal or path parameter")
