"""How stage 2 reads a JSON body: one reading every upstream agrees on, or a refusal.

An upstream may read JSON more leniently than this server: keys case-insensitively (Go's
``encoding/json``, Jackson with case-insensitive properties, SCIM — RFC 7643 §2.1), with
Unicode folding (``"uſer"`` is ``user`` to Go), through naming aliases (``userName`` /
``user_name``), the first or the last of duplicate keys, a field found at any depth, or a
``_method`` key that overrides the HTTP method. So a body is accepted only when no such reader
could take it to mean something else:

- UTF-8 JSON (no byte-order mark), an object at the top, declared as JSON (``content-type``);
  no ``NaN``/``Infinity`` or numbers beyond a double, no unpaired surrogates, no control
  characters in keys (C parsers stop at NUL), at most ``MAX_DEPTH`` levels deep;
- in no object two keys that a lenient reader could take as one (same ``key_skeleton``);
- no key anywhere that reads as a ``_method`` override;
- the route's principal field only where the route declares it (top level, exact spelling),
  and no key anywhere that a lenient reader could take for it or for a path parameter;
- with a body schema (``[[routes]] body``), only the keys it declares, exactly spelled, with
  their types, at every depth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from authz import strict_json
from authz.config import JsonType, Route
from authz.names import fold, key_skeleton
from authz.reasons import Denied, Reason

MAX_DEPTH = 32
_CONTENT_TYPE = re.compile(r"application/(?:[a-z0-9.-]+\+)?json", re.I)
_CHARSET = re.compile(r"charset\s*=\s*\"?utf-8\"?", re.I)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_OVERRIDE_KEY = "_method"


def _malformed(message: str) -> Denied:
    return Denied(Reason.MALFORMED_REQUEST, message)


def check_content_type(headers: Mapping[str, str]) -> None:
    value = headers.get("content-type")
    if value is None:
        raise _malformed("a request body must be declared as JSON (content-type: application/json)")
    media, *params = (part.strip() for part in value.split(";"))
    if not _CONTENT_TYPE.fullmatch(media) or not all(_CHARSET.fullmatch(p) for p in params):
        raise _malformed("a request body must be JSON (content-type application/json, charset utf-8 only)")


def parse_json(body: bytes) -> Any:
    """Strict JSON (``authz/strict_json.py``): one reading or a refusal."""
    try:
        return strict_json.loads(body)
    except strict_json.JsonRefused as exc:
        raise _malformed(f"the body {exc}") from None


class BodyReader:
    """The reading rules of one route (built once per route at start)."""

    def __init__(self, route: Route) -> None:
        self._route = route
        self._field = route.principal_body_field
        # Names that bind the request: the principal field and every path parameter.
        self._binding = {key_skeleton(p): p for p in route.params}
        if self._field is not None:
            self._binding[key_skeleton(self._field)] = self._field

    def read(self, body: bytes) -> dict[str, Any]:
        document = parse_json(body)
        if not isinstance(document, dict):
            raise _malformed("the body must be a JSON object")
        self._walk(document, self._route.body, "", 0)
        return document

    def _walk(self, value: Any, shape: JsonType | None, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _malformed(f"the body nests deeper than {MAX_DEPTH} levels")
        if shape is not None:
            _check_type(value, shape, where or "the body")
        if isinstance(value, dict):
            self._object(value, shape, where, depth)
        elif isinstance(value, list):
            items = shape.items if shape is not None else None
            for i, item in enumerate(value):
                self._walk(item, items, f"{where}[{i}]", depth + 1)
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise _malformed(f"{where or 'the body'} holds an unpaired surrogate")

    def _object(self, document: dict[str, Any], shape: JsonType | None, where: str, depth: int) -> None:
        declared = shape.field_map if shape is not None else None
        skeletons: dict[str, str] = {}
        for key, value in document.items():
            at = f"{where}.{key}" if where else key
            if _SURROGATE.search(key) or _CONTROL.search(key):
                raise _malformed("a body key holds an unpaired surrogate or a control character")
            skeleton = key_skeleton(key)
            if skeleton in skeletons:
                raise _malformed(f"keys {skeletons[skeleton]!r} and {key!r} may be read as one key")
            skeletons[skeleton] = key
            if fold(key) == _OVERRIDE_KEY:
                raise _malformed("the body holds a _method override")
            bound = self._binding.get(skeleton)
            if bound is not None and not (depth == 0 and key == self._field):
                raise _malformed(f"{at!r} may be read as {bound!r}, which the route takes from elsewhere")
            if declared is not None and key not in declared:
                raise _malformed(_unknown_key(at, skeleton, declared))
            self._walk(value, declared[key] if declared is not None else None, at, depth + 1)


def _unknown_key(at: str, skeleton: str, declared: Mapping[str, JsonType]) -> str:
    near = next((k for k in declared if key_skeleton(k) == skeleton), None)
    if near is not None:
        return f"{at!r} is not the declared key {near!r} (keys are compared exactly)"
    return f"{at!r} is not a key the route's body schema declares"


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check_type(value: Any, shape: JsonType, where: str) -> None:
    if value is None and shape.nullable:
        return
    ok = isinstance(value, _PYTHON_TYPES[shape.kind]) and (
        shape.kind == "boolean" or not isinstance(value, bool)
    )
    if not ok:
        raise _malformed(f"{where} must be {'an' if shape.kind[0] in 'aeiou' else 'a'} {shape.kind}")
