"""Sample IAM/helpdesk API: the upstream agent-authz protects in the demo and the tests.

A small real HTTP server with human users (some privileged) and service accounts. It trusts
whatever reaches it — that is the point: everything it executes is appended to a record file,
so a test can prove that a request agent-authz denied never got here, and, for one it let
through, that the API acted on the operation and the account agent-authz decided on.

By default it reads requests strictly. ``Reading`` makes it read them the way lenient
frameworks do (``agent-authz sample-api --lenient keys,duplicates,override,names,paths``):

- ``keys``: JSON keys matched case-insensitively with Unicode folding (``User``, ``USER``,
  ``"uſer"``, fullwidth — Go's ``encoding/json``, Jackson with case-insensitive properties), the
  principal and group fields found nested anywhere in the body and in the query string, and
  form-encoded or UTF-16 bodies sniffed;
- ``duplicates``: of duplicate JSON keys the first wins (Python's ``json`` keeps the last);
- ``override``: the method taken from ``X-HTTP-Method-Override``, ``X-HTTP-Method``,
  ``X-Method-Override`` or ``_method`` (query or body), the path from ``X-Original-URL`` or
  ``X-Rewrite-URL`` (Rails, Laravel, Symfony, Express method-override, IIS);
- ``names``: account and group names compared case-insensitively (NFKC + case folding) — the
  API acts on ``carol`` when asked for ``CAROL``, and its directory lookups fold too;
- ``paths``: the path decoded before it is split, ``;`` parameters dropped, empty and dot
  segments resolved, a trailing ``/`` ignored, literals compared case-insensitively (Tomcat,
  Spring, ASP.NET routing).

Each record entry says what the API executed as it read the request: ``executed`` holds the
effective method and path, the operation, and the principal and group — as read, and the
directory entries they resolved to (``account``, ``group_account``; null when none).
"""

from __future__ import annotations

import json
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from authz.devkit.directory import Directory

LENIENCES = ("keys", "duplicates", "override", "names", "paths")
#: Every response of the API carries this header, naming its reading: a response without it
#: was written by Envoy or agent-authz.
READING_HEADER = "x-sample-api-reading"
METHOD_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")
PATH_OVERRIDES = ("x-original-url", "x-rewrite-url")


def fold(text: str) -> str:
    """How a lenient reader compares names and keys: NFKC, case folding, format characters
    dropped. Written apart from ``authz.names`` on purpose: the upstream is not agent-authz."""
    plain = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", plain.casefold())


@dataclass(frozen=True)
class Reading:
    """Which lenient readings the API applies (none: strict)."""

    lenient: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Reading:
        """``keys,names``, ``all``, or ``strict`` / empty."""
        names = {n.strip() for n in text.split(",") if n.strip()} - {"strict"}
        if names == {"all"}:
            return cls(frozenset(LENIENCES))
        if unknown := sorted(names - set(LENIENCES)):
            raise ValueError(f"unknown lenient reading(s) {unknown}; choose from {', '.join(LENIENCES)}")
        return cls(frozenset(names))

    def __str__(self) -> str:
        return ",".join(n for n in LENIENCES if n in self.lenient) or "strict"

    def same(self, a: str, b: str) -> bool:
        """Whether two account or group names are one to this API."""
        return fold(a) == fold(b) if "names" in self.lenient else a == b

    def key(self, key: str) -> str:
        return fold(key) if "keys" in self.lenient else key


@dataclass
class ReadingDirectory(Directory):
    """The sample directory, comparing names the way this API's reading does."""

    reading: Reading = Reading()

    def __post_init__(self) -> None:
        self.same = self.reading.same


@dataclass(frozen=True)
class Route:
    method: str
    template: tuple[str, ...]
    action: str
    operation: str | None  # agent-authz's name for it; None: a directory lookup, not recorded


def _route(method: str, path: str, action: str, operation: str | None = None) -> Route:
    return Route(method, tuple(path[1:].split("/")), action, operation)


ROUTES = (
    _route("GET", "/v1/users/{user}", "read_user", "user.read"),
    _route("GET", "/v1/directory/principals/{name}", "lookup_principal"),
    _route("GET", "/v1/directory/groups/{name}", "lookup_group"),
    _route("POST", "/v1/users/{user}/password/reset", "reset_password", "user.password.reset"),
    _route("POST", "/v1/users/{user}/mfa/reset", "reset_mfa", "user.mfa.reset"),
    _route("POST", "/v1/users/{user}/api-keys/rotate", "rotate_api_key", "user.api_key.rotate"),
    _route("POST", "/v1/groups/{group}/members", "add_member", "group.member.add"),
    _route("DELETE", "/v1/groups/{group}/members/{user}", "remove_member", "group.member.remove"),
)


@dataclass
class Parsed:
    """A request as this API reads it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    document: dict[str, Any]


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        document.setdefault(key, value)
    return document


def parse(reading: Reading, method: str, target: str, headers: dict[str, str], body: bytes) -> Parsed:
    """Method, path, query and body as this API's reading makes them out."""
    lenient = reading.lenient
    if "override" in lenient:
        target = next((headers[h] for h in PATH_OVERRIDES if headers.get(h)), target)
    path, _, query_text = target.partition("?")
    query = parse_qsl(query_text, keep_blank_values=True)
    document = _document(reading, body)
    if "override" in lenient:
        overrides = [headers[h] for h in METHOD_OVERRIDES if headers.get(h)]
        overrides += [v for k, v in query if reading.key(k) == "_method"]
        overrides += [v for k, v in document.items() if reading.key(k) == "_method" and isinstance(v, str)]
        method = overrides[0].upper() if overrides else method
    return Parsed(method, path, query, document)


def _document(reading: Reading, body: bytes) -> dict[str, Any]:
    """The body as a JSON object ({} when it is none), as Python reads bytes: UTF-8 with or
    without a byte-order mark, UTF-16 or UTF-32. ``keys`` also takes a form."""
    hook = _first_wins if "duplicates" in reading.lenient else dict
    try:
        document = json.loads(body, object_pairs_hook=hook) if body else {}
    except ValueError:
        document = None
    if document is None and "keys" in reading.lenient:
        document = hook(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return document if isinstance(document, dict) else {}


def segments(reading: Reading, path: str) -> list[str]:
    if "paths" not in reading.lenient:
        return path[1:].split("/")
    resolved: list[str] = []
    for segment in unquote(path).split("/"):
        segment = segment.partition(";")[0]
        if segment == "..":
            resolved = resolved[:-1]
        elif segment not in ("", "."):
            resolved.append(segment)
    return resolved


def match(reading: Reading, parsed: Parsed) -> tuple[Route, dict[str, str]] | None:
    """The route and its parameters; the directory lookups (agent-authz's, not the agents') are
    always read strictly."""
    lenient, strict = segments(reading, parsed.path), parsed.path[1:].split("/")
    folded = "paths" in reading.lenient

    def literal(template: str, part: str) -> bool:
        return template.lower() == part.lower() if folded else template == part

    for route in ROUTES:
        parts = lenient if route.operation else strict
        if route.method != parsed.method or len(route.template) != len(parts):
            continue
        params = {}
        for template, part in zip(route.template, parts, strict=True):
            if template.startswith("{"):
                params[template[1:-1]] = unquote(part)
            elif not literal(template, part):
                break
        else:
            return route, params
    return None


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of a JSON document, outer objects first."""
    if isinstance(value, dict):
        yield from value.items()
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def read_field(reading: Reading, parsed: Parsed, name: str, from_path: str | None) -> str | None:
    """Where this API finds a principal or group: the query (``keys``), then the body, then the
    path. Strictly: the top-level body key exactly so spelled, else the path."""
    found: list[Any] = []
    if "keys" in reading.lenient:
        found += [v for k, v in parsed.query if fold(k) == name]
        found += [v for k, v in _walk(parsed.document) if fold(k) == name]
    elif name in parsed.document:
        found.append(parsed.document[name])
    found = [v for v in found if isinstance(v, str)]
    return found[0] if found else from_path


class SampleApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], record: Path | None, reading: Reading = Reading()) -> None:
        if record is not None:  # before listening: once the API answers, its (empty) record exists
            record.touch()
        super().__init__(address, _Handler)
        self.reading = reading
        self.directory = ReadingDirectory(reading=reading)
        self.record_path = record
        self.lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        if self.record_path is None:
            return
        with self.lock, self.record_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


@dataclass
class Call:
    """What one request asks the API to do, as it read it."""

    operation: str | None = None
    user: str | None = None
    group: str | None = None
    account: str | None = None  # the directory's user ``user`` resolved to
    group_account: str | None = None


Result = tuple[int, dict[str, Any]]
#: ``500`` here: the API does the call, then answers 500 (what the audit's outcomes must show).
FAIL_HEADER = "x-sample-fail"


def _on_user(call: Call, **result: Any) -> Result:
    return (200, {"user": call.account, **result}) if call.account else (404, {"error": "no such user"})


def read_call(
    directory: ReadingDirectory, method: str, target: str, headers: dict[str, str], body: bytes
) -> tuple[Parsed, Route | None, Call]:
    """What a request asks the API to do, as the directory's reading makes it out."""
    reading = directory.reading
    parsed = parse(reading, method, target, headers, body)
    found, call = match(reading, parsed), Call()
    if found is None:
        return parsed, None, call
    route, params = found
    call.operation = route.operation
    if "name" in params:  # a directory lookup: the name as given
        call.user = params["name"]
    else:
        call.user = read_field(reading, parsed, "user", params.get("user"))
        call.group = read_field(reading, parsed, "group", params.get("group"))
    call.account = directory.canonical(call.user) if call.user else None
    call.group_account = directory.group(call.group) if call.group else None
    return parsed, route, call


class _Handler(BaseHTTPRequestHandler):
    server: SampleApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        parsed, route, call = read_call(self.server.directory, self.command, self.path, headers, body)
        status, payload = 404, {"error": "no such endpoint"}
        if route is not None:
            action: Callable[[Call], Result] = getattr(self, route.action)
            status, payload = action(call)
            if headers.get(FAIL_HEADER) == "500":  # a test's way to see an upstream failure
                status, payload = 500, {"error": f"failure injected by {FAIL_HEADER}"}
        if route is None or route.operation is not None:  # what the API executed, not lookups
            executed = {"method": parsed.method, "path": parsed.path, **vars(call)}
            text = body.decode("utf-8", "replace")
            self.server.record(
                {"method": self.command, "path": self.path, "status": status, "headers": headers,
                 "body": text, "executed": executed}
            )  # fmt: skip
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header(READING_HEADER, str(self.server.reading))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle  # noqa: N815

    def read_user(self, call: Call) -> Result:
        return _on_user(call, **self.server.directory.users.get(call.account or "", {}))

    def lookup_principal(self, call: Call) -> Result:
        """The directory lookup agent-authz's HTTP provider makes (stage 7); not for agents."""
        entry = self.server.directory.entry(call.user or "")
        return (200, entry) if entry else (404, {"error": "no such principal"})

    def lookup_group(self, call: Call) -> Result:
        entry = self.server.directory.group_entry(call.user or "")
        return (200, entry) if entry else (404, {"error": "no such group"})

    def reset_password(self, call: Call) -> Result:
        return _on_user(call, temporary_password=secrets.token_urlsafe(12))

    def reset_mfa(self, call: Call) -> Result:
        return _on_user(call, mfa="reset")

    def rotate_api_key(self, call: Call) -> Result:
        return _on_user(call, api_key_id=secrets.token_hex(4))

    def add_member(self, call: Call) -> Result:
        if call.user is None:
            return 400, {"error": 'body must be {"user": ...}'}
        if call.group_account is None or call.account is None:
            return 404, {"error": "no such group or user"}
        self.server.directory.groups[call.group_account].add(call.account)
        return 200, {"group": call.group_account, "added": call.account}

    def remove_member(self, call: Call) -> Result:
        members = self.server.directory.groups.get(call.group_account or "")
        if members is None or call.account not in members:
            return 404, {"error": "no such membership"}
        members.discard(call.account)
        return 200, {"group": call.group_account, "removed": call.account}


def start(host: str, port: int, record: Path | None, reading: Reading = Reading()) -> SampleApi:
    """Start in a background thread (tests); ``server.shutdown()`` stops it."""
    server = SampleApi((host, port), record, reading)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(host: str, port: int, record: Path | None, reading: Reading = Reading()) -> None:
    server = SampleApi((host, port), record, reading)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
