"""The lenient reading of a request: every operation and principal an upstream that decodes,
folds and overrides generously could take it to mean (``read_request``), and the ``req`` hash
of DESIGN §3.2 (``request_hash``)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from fuzz.oracle.facts import Facts, Request, Route, fold

_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")
METHOD_OVERRIDE_HEADERS = _OVERRIDES + tuple(h.replace("-", "_") for h in _OVERRIDES)
UNROUTED = "<no route>"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def request_hash(method: str, path: str, body: bytes) -> str:
    """DESIGN §3.2 ``req``: base64url(SHA-256(method ⏎ path ⏎ base64url(SHA-256(body))))."""
    inner = b64url(hashlib.sha256(body).digest())
    return b64url(hashlib.sha256(f"{method}\n{path}\n{inner}".encode()).digest())


class _Object(list[tuple[str, Any]]):
    """A JSON object as the list of its members, duplicates kept in order."""


def _texts(body: bytes) -> Iterator[str]:
    """Every way a lenient reader might decode the body."""
    for encoding in ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"):
        try:
            yield body.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" and b"\x00" not in body:
            return


def _json_members(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, _Object):
        for key, member in value:
            yield key, member
            yield from _json_members(member)
    elif isinstance(value, list):
        for item in value:
            yield from _json_members(item)


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None and not isinstance(value, _Object):
        yield json.dumps(value)


def _body_members(body: bytes, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(key, value) of every member a lenient reader could find: JSON at any depth, form fields."""
    if not body:
        return []
    members: list[tuple[str, str]] = []
    form_declared = "form" in headers.get("content-type", "form").lower()
    for text in _texts(body):
        try:
            document = json.loads(text, object_pairs_hook=_Object, parse_constant=str, strict=False)
        except (ValueError, RecursionError):
            document = None
        if document is not None:
            members += [(k, s) for k, v in _json_members(document) for s in _scalars(v)]
        if document is None or form_declared:
            members += _query_members(text)
    return members


def _query_members(query: str) -> list[tuple[str, str]]:
    members = []
    for separator in ("&", ";"):
        for name, value in parse_qsl(query, keep_blank_values=True, separator=separator):
            members.append((name, value))
            members += [(piece, value) for piece in re.split(r"[\[\].]", name) if piece and piece != name]
    return members


def _path_readings(path: str) -> set[tuple[str, ...]]:
    """The segments a lenient server could route on: decoded per segment or before splitting
    (once or twice), backslashes as slashes, ``;`` parameters dropped, dot segments resolved."""
    raw = path.partition("?")[0].partition("#")[0]
    splits: list[list[str]] = [[unquote(s, errors="replace") for s in raw.split("/")]]
    once = unquote(raw, errors="replace")
    for text in (once, unquote(once, errors="replace")):
        splits += [text.split("/"), text.replace("\\", "/").split("/")]
    readings = set()
    for segments in splits:
        for plain in (segments, [s.partition(";")[0] for s in segments]):
            readings.add(tuple(plain[1:] if plain and plain[0] == "" else plain))
            resolved: list[str] = []
            for s in plain:
                if s == "..":
                    resolved = resolved[:-1]
                elif s not in ("", "."):
                    resolved.append(s)
            readings.add(tuple(resolved))
    return readings


@dataclass(frozen=True)
class Reading:
    operations: frozenset[str]  # UNROUTED among them if some reading matches no route
    principals: frozenset[str]
    routes: tuple[Route, ...]


def read_request(facts: Facts, r: Request) -> Reading:
    query = r.path.partition("?")[2].partition("#")[0]
    query_members = _query_members(query)
    body_members = _body_members(r.body, r.headers)
    methods = {r.method, r.method.upper()}
    for name in METHOD_OVERRIDE_HEADERS:
        if (value := r.headers.get(name)) is not None:
            methods |= {v.strip().upper() for v in value.split(",")}
    methods |= {v.strip().upper() for k, v in query_members + body_members if fold(k) == "_method"}
    if "HEAD" in methods:
        methods.add("GET")
    operations, principals, routes = set(), set(), []
    for segments in _path_readings(r.path):
        for method in methods:
            matched = [
                (rt, p)
                for rt in facts.routes
                if rt.method == method and (p := rt.match(segments)) is not None
            ]
            if not matched:
                operations.add(UNROUTED)
            for route, params in matched:
                operations.add(route.operation)
                routes.append(route)
                if route.path_param is not None:
                    principals.add(params[route.path_param])
    fields = {fold(f) for rt in routes for f in (rt.path_param, rt.body_field) if f}
    principals |= {v for k, v in query_members + body_members if fold(k) in fields}
    return Reading(frozenset(operations), frozenset(principals), tuple(dict.fromkeys(routes)))
