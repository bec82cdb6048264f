"""Sample IAM/helpdesk API: the upstream agent-authz protects in the demo and the tests.

A small real HTTP server with human users (some privileged) and service accounts. It trusts
whatever reaches it — that is the point: everything it executes is appended to a record file,
so a test can prove that a request agent-authz denied never got here.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote


def _human(*aliases: str, privileged: bool = False) -> dict[str, Any]:
    return {"kind": "human", "privileged": privileged, "aliases": list(aliases)}


@dataclass
class Directory:
    """Users (with the other names each answers to) and groups (with whether membership is
    privileged) — what the directory lookups answer, and what the API acts on."""

    users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "alice": _human("alice@example.org"),
            "bob": _human("bob@example.org", "Bob.Builder"),
            "carol": _human("carol@example.org", privileged=True),
            "dana": _human("dana@example.org"),
            "erik": _human("erik@example.org"),
            "svc-backup": {"kind": "service_account", "privileged": False, "aliases": []},
            "svc-payroll": {"kind": "service_account", "privileged": True, "aliases": []},
        }
    )
    groups: dict[str, set[str]] = field(
        default_factory=lambda: {
            "staff": {"alice", "bob", "carol", "dana", "erik"},
            "it-admins": {"carol"},
            "backup": {"svc-backup"},
            "payroll-admins": {"svc-payroll"},
            "helpdesk": set(),
        }
    )
    privileged_groups: frozenset[str] = frozenset({"it-admins", "payroll-admins"})

    def canonical(self, name: str) -> str | None:
        """The user ``name`` names: itself, or the user it is an alias of."""
        if name in self.users:
            return name
        return next((u for u, entry in self.users.items() if name in entry["aliases"]), None)

    def entry(self, name: str) -> dict[str, Any] | None:
        """A principal as the directory lookup answers: canonical name, kind, privileged,
        current groups, aliases."""
        canonical = self.canonical(name)
        if canonical is None:
            return None
        user = self.users[canonical]
        groups = sorted(g for g, members in self.groups.items() if canonical in members)
        return {
            "name": canonical,
            "kind": user["kind"],
            "privileged": user["privileged"],
            "groups": groups,
            "aliases": list(user["aliases"]),
        }

    def group_entry(self, name: str) -> dict[str, Any] | None:
        if name not in self.groups:
            return None
        return {"name": name, "privileged": name in self.privileged_groups}


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/v1/users/([^/]+)"), "read_user"),
    ("GET", re.compile(r"/v1/directory/principals/([^/]+)"), "lookup_principal"),
    ("GET", re.compile(r"/v1/directory/groups/([^/]+)"), "lookup_group"),
    ("POST", re.compile(r"/v1/users/([^/]+)/password/reset"), "reset_password"),
    ("POST", re.compile(r"/v1/users/([^/]+)/mfa/reset"), "reset_mfa"),
    ("POST", re.compile(r"/v1/users/([^/]+)/api-keys/rotate"), "rotate_api_key"),
    ("POST", re.compile(r"/v1/groups/([^/]+)/members"), "add_member"),
    ("DELETE", re.compile(r"/v1/groups/([^/]+)/members/([^/]+)"), "remove_member"),
]


class SampleApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], record: Path | None) -> None:
        if record is not None:  # before listening: once the API answers, its (empty) record exists
            record.touch()
        super().__init__(address, _Handler)
        self.directory = Directory()
        self.record_path = record
        self.lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        if self.record_path is None:
            return
        with self.lock, self.record_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


class _Handler(BaseHTTPRequestHandler):
    server: SampleApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.partition("?")[0]
        executed = None
        status, payload = 404, {"error": "no such endpoint"}
        for method, pattern, action in _ROUTES:
            match = pattern.fullmatch(path)
            if method == self.command and match:
                executed = action
                status, payload = getattr(self, action)(*match.groups(), body=body)
                break
        if executed not in ("lookup_principal", "lookup_group"):  # what the API executed, not lookups
            self.server.record(
                {
                    "method": self.command,
                    "path": self.path,
                    "status": status,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                }
            )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle  # noqa: N815

    def _user(self, name: str) -> dict[str, Any] | None:
        return self.server.directory.users.get(name)

    def read_user(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        user = self._user(name)
        return (200, {"user": name, **user}) if user else (404, {"error": "no such user"})

    def lookup_principal(self, quoted: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The directory lookup agent-authz's HTTP provider makes (stage 7); not for agents."""
        name = unquote(quoted)
        entry = self.server.directory.entry(name)
        return (200, entry) if entry else (404, {"error": "no such principal"})

    def lookup_group(self, quoted: str, body: bytes) -> tuple[int, dict[str, Any]]:
        entry = self.server.directory.group_entry(unquote(quoted))
        return (200, entry) if entry else (404, {"error": "no such group"})

    def reset_password(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not self._user(name):
            return 404, {"error": "no such user"}
        return 200, {"user": name, "temporary_password": secrets.token_urlsafe(12)}

    def reset_mfa(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return (200, {"user": name, "mfa": "reset"}) if self._user(name) else (404, {"error": "no such user"})

    def rotate_api_key(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not self._user(name):
            return 404, {"error": "no such user"}
        return 200, {"user": name, "api_key_id": secrets.token_hex(4)}

    def add_member(self, group: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            user = json.loads(body)["user"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'body must be {"user": ...}'}
        if group not in self.server.directory.groups or not self._user(user):
            return 404, {"error": "no such group or user"}
        self.server.directory.groups[group].add(user)
        return 200, {"group": group, "added": user}

    def remove_member(self, group: str, user: str, body: bytes) -> tuple[int, dict[str, Any]]:
        members = self.server.directory.groups.get(group)
        if members is None or user not in members:
            return 404, {"error": "no such membership"}
        members.discard(user)
        return 200, {"group": group, "removed": user}


def start(host: str, port: int, record: Path | None) -> SampleApi:
    """Start in a background thread (tests); ``server.shutdown()`` stops it."""
    server = SampleApi((host, port), record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(host: str, port: int, record: Path | None) -> None:
    server = SampleApi((host, port), record)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
