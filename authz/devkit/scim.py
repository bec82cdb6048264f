"""Two real third-party SCIM servers on loopback, for the e2e tests and ``agent-authz demo --api
scim``: scim2-server (``Scim2Server``, from this venv) and Canaille (``CanailleServer``, from its
own venv ``.venv-canaille``: it needs scim2-models 0.9, scim2-server 0.12).

Each is a child process, stopped by its PID, serving SCIM on one port and, on a second loopback
port only this harness is told of, what its storage holds. ``state()`` and ``check_password()``
read that storage, never a SCIM answer, so a test can prove what was executed and what was not.
Nothing here goes through Envoy: ``seed`` and ``request`` call the server directly.

How each is read:

- scim2-server never returns a password (not even for ``attributes=password``) and writes its
  ``--dump-resources`` only when it stops. So the child is scim2-server's own command line
  (``scim2_server.testserver.cli.main``: its options, its app, its ``Serving SCIM on`` line),
  run by ``python -m authz.devkit.scim``, which records the ``InMemoryStorage`` the command makes
  and serves it on the state port. The storage keeps passwords in the clear: the fingerprint is
  their SHA-256 and ``check_password`` compares them. (Its ``filter=password eq "…"`` would answer
  ``check_password`` too, but gives no fingerprint, and a stopped server no state.)
- Canaille: ``tests/e2e/canaille/serve.py``, run by the Canaille venv's python as a script, never
  imported. It lives in the repository beside that venv's requirements rather than in the
  package: like the venv (``make`` builds it), it exists only in a checkout, and both are found
  from the repository root as ``world.REPO_POLICIES`` is. Its memory backend keeps passwords in
  the clear (SHA-256 as above); with ``database`` its SQL backend keeps a salted hash, whose
  SHA-256 changes whenever the password is set.

``state()`` is ``{"users": {userName: {"id", "active", "password_fingerprint", "emails",
"phoneNumbers", "groups"}}, "groups": {displayName: {"id", "members"}}}``, lists sorted, members
and groups by name (a scim2-server member that is no user: ``group:<displayName>`` or
``unknown:<value>``). Two users or groups with one name (Canaille's memory backend takes them)
make it raise: a state keyed by name cannot show both, and must not hide one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from authz.demo.processes import free_port, stop_processes, wait_until
from authz.errors import AuthzError

REPO = Path(__file__).resolve().parents[2]
#: Canaille's venv: in the checkout, or beside this venv (so a copy of the tree, like mutmut's
#: mutants/, finds it too).
CANAILLE_VENVS = (REPO / ".venv-canaille", Path(sys.prefix).parent / ".venv-canaille")
CANAILLE_SERVE = REPO / "tests" / "e2e" / "canaille" / "serve.py"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


class ScimError(AuthzError, RuntimeError):
    pass


@dataclass(frozen=True)
class SeedUser:
    user_name: str
    password: str | None = None
    active: bool = True
    emails: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeedGroup:
    display_name: str
    members: tuple[str, ...] = ()  # userNames (Canaille refuses a group without members)


@dataclass(frozen=True)
class Seeded:
    users: dict[str, str]  # userName -> id
    groups: dict[str, str]  # displayName -> id


def fingerprint(password: str) -> str:
    """What ``state()`` shows for a password the server keeps in the clear."""
    return hashlib.sha256(password.encode()).hexdigest()


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One direct HTTP call: (status, the JSON answer, its text if not JSON, None if empty)."""
    headers = {"Accept": "application/scim+json, application/json"}
    if body is not None:
        headers["Content-Type"] = "application/scim+json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _DIRECT.open(request, timeout=HTTP_TIMEOUT) as resp:
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        with e:
            status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def user_body(user: SeedUser) -> dict[str, Any]:
    """A SCIM User both servers take (Canaille requires ``name.familyName``, ``name.formatted``
    and ``active``)."""
    given = user.user_name.capitalize()
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": user.user_name,
        "name": {"givenName": given, "familyName": "Example", "formatted": f"{given} Example"},
        "displayName": given,
        "active": user.active,
    }
    if user.password is not None:
        body["password"] = user.password
    if user.emails:
        body["emails"] = [{"value": e} for e in user.emails]  # Canaille refuses "primary"
    if user.phone_numbers:
        body["phoneNumbers"] = [{"value": p} for p in user.phone_numbers]
    return body


def _by_name(entries: list[dict[str, Any]], key: str, what: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name = entry.pop(key)
        if name in out:
            raise ScimError(f"two {what} named {name!r} ({out[name]['id']}, {entry['id']})")
        out[name] = entry
    return out


class ScimServer:
    """A SCIM server child process: its SCIM base URL, its token, and its storage read aside.

    Started by the constructor (stdout and stderr to ``log``); ``stop()`` (or leaving a ``with``)
    stops it by its PID.
    """

    name = "scim"
    ready_line = ""
    base_path = "/v2"

    def __init__(self, log: Path, bearer_token: str | None = None, timeout: float = START_TIMEOUT) -> None:
        self.log, self.bearer_token = log, bearer_token
        self.port = free_port()
        self.state_port = free_port()
        while self.state_port == self.port:
            self.state_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}{self.base_path}"
        self._ids: dict[str, str] = {}
        self._log_from = log.stat().st_size if log.exists() else 0  # a reused log's old lines
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            wait_until(self._ready, self.name, timeout)
        except BaseException:
            self.stop()
            raise

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _ready(self) -> bool:
        with self.log.open("rb") as f:
            f.seek(self._log_from)
            text = f.read().decode(errors="replace")
        if self._proc.poll() is not None:
            raise ScimError(f"{self.name} exited ({self._proc.returncode}) before serving:\n{text[-2000:]}")
        return self.ready_line in text

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``method`` on ``base_url + path``, directly (not through Envoy), with the token."""
        return http_json(method, self.base_url + path, body, self.bearer_token)

    def member(self, user_id: str) -> dict[str, str]:
        return {"value": user_id, "$ref": f"{self.base_url}/Users/{user_id}"}  # Canaille needs $ref

    def seed(self, users: Sequence[SeedUser], groups: Sequence[SeedGroup] = ()) -> Seeded:
        """Create ``users``, then ``groups`` (members: userNames seeded here, now or before)."""
        made = {u.user_name: self._create("/Users", user_body(u)) for u in users}
        self._ids.update(made)
        made_groups = {}
        for g in groups:
            unknown = [m for m in g.members if m not in self._ids]
            if unknown:
                raise ScimError(f"group {g.display_name!r}: members not seeded: {unknown}")
            body = {
                "schemas": [GROUP_SCHEMA],
                "displayName": g.display_name,
                "members": [self.member(self._ids[m]) for m in g.members],
            }
            made_groups[g.display_name] = self._create("/Groups", body)
        return Seeded(made, made_groups)

    def _create(self, path: str, body: dict[str, Any]) -> str:
        status, answer = self.request("POST", path, body)
        ident = answer.get("id") if isinstance(answer, dict) else None
        if status != 201 or not isinstance(ident, str):
            raise ScimError(f"{self.name}: POST {path} -> {status} {answer}")
        return ident

    def _side(self, path: str) -> Any:
        status, answer = http_json("GET", f"http://127.0.0.1:{self.state_port}{path}")
        if status != 200:
            raise ScimError(f"{self.name} state port: GET {path} -> {status} {answer}")
        return answer

    def state(self) -> dict[str, Any]:
        """What the server's storage holds now (the module docstring has the shape)."""
        raw = self._side("/state")
        return {
            "users": _by_name(raw["users"], "userName", "users"),
            "groups": _by_name(raw["groups"], "displayName", "groups"),
        }

    def check_password(self, user_name: str, password: str) -> bool:
        """The stored password of ``user_name`` is ``password`` (whether or not it is active)."""
        query = urllib.parse.urlencode({"user": user_name, "password": password})
        return self._side(f"/check?{query}")["ok"] is True

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it still runs 10 s later. Idempotent."""
        stop_processes([self._proc])

    def __enter__(self) -> ScimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Scim2Server(ScimServer):
    """scim2-server 0.8 (``scim2-server --port P``), open or behind ``--bearer-token``."""

    name = "scim2-server"
    ready_line = "Serving SCIM on"

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "authz.devkit.scim", "--state-port", str(self.state_port)]
        argv += ["--hostname", "127.0.0.1", "--port", str(self.port)]
        # `--opt=value`: a random token may begin with "-", which argparse reads as an option
        return argv + ([f"--bearer-token={self.bearer_token}"] if self.bearer_token else [])


def canaille_python() -> Path:
    for venv in CANAILLE_VENVS:
        if (venv / "bin" / "python").exists():
            return venv / "bin" / "python"
    raise ScimError(f"{CANAILLE_VENVS[0]} not found: `make .venv-canaille/.installed` builds it")


class CanailleServer(ScimServer):
    """Canaille 0.3.6 (``tests/e2e/canaille/serve.py``), behind a bearer token it always needs;
    ``database``: a SQLite file for its SQL backend instead of its memory one."""

    name = "canaille"
    ready_line = "READY http://"
    base_path = "/scim/v2"

    def __init__(
        self,
        log: Path,
        bearer_token: str | None = None,
        timeout: float = START_TIMEOUT,
        database: Path | None = None,
        python: Path | None = None,
    ) -> None:
        self.python, self.database = python or canaille_python(), database
        super().__init__(log, bearer_token or secrets.token_urlsafe(24), timeout)

    def command(self) -> list[str]:
        assert self.bearer_token is not None
        argv = [str(self.python), str(CANAILLE_SERVE), "--port", str(self.port)]
        argv += ["--state-port", str(self.state_port), f"--token={self.bearer_token}"]  # may begin with "-"
        return argv + (["--db", f"sqlite:///{self.database.resolve()}"] if self.database else [])


# -- the scim2-server child: `python -m authz.devkit.scim --state-port S [scim2-server options]` --


def serve_state(port: int, answer: Callable[[str, dict[str, str]], Any]) -> ThreadingHTTPServer:
    """A loopback JSON server in a thread: GET ``path?query`` -> ``answer(path, query)``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            try:
                status, out = 200, answer(url.path, dict(urllib.parse.parse_qsl(url.query)))
            except Exception as e:  # told to the harness, which raises
                status, out = 500, {"error": repr(e)}
            body = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def scim2_state(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The state port's ``/state`` from scim2-server's resources (``model_dump()``: SCIM JSON)."""
    users = [r for r in resources if USER_SCHEMA in r.get("schemas", ())]
    groups = [r for r in resources if GROUP_SCHEMA in r.get("schemas", ())]
    names = {u["id"]: u["userName"] for u in users}
    names |= {g["id"]: f"group:{g.get('displayName')}" for g in groups}
    members = {g["id"]: [m.get("value") for m in g.get("members") or []] for g in groups}
    return {
        "users": [
            {"id": u["id"], "userName": u["userName"], "active": u.get("active"),
             "password_fingerprint": None if u.get("password") is None else fingerprint(u["password"]),
             "emails": sorted(e.get("value") for e in u.get("emails") or []),
             "phoneNumbers": sorted(p.get("value") for p in u.get("phoneNumbers") or []),
             "groups": sorted(g["displayName"] for g in groups if u["id"] in members[g["id"]])}
            for u in users
        ],
        "groups": [
            {"id": g["id"], "displayName": g["displayName"],
             "members": sorted(names.get(v, f"unknown:{v}") for v in members[g["id"]])}
            for g in groups
        ],
    }  # fmt: skip


def _serve_scim2(argv: list[str]) -> None:
    """scim2-server's ``main()`` as its command runs it, its storage served on ``--state-port``."""
    from scim2_server.memory import InMemoryStorage
    from scim2_server.testserver import cli

    parser = argparse.ArgumentParser(prog="python -m authz.devkit.scim", add_help=False)
    parser.add_argument("--state-port", type=int, required=True)
    args, rest = parser.parse_known_args(argv)
    storages: list[InMemoryStorage] = []

    class Recorded(InMemoryStorage):
        def __init__(self) -> None:
            super().__init__()
            storages.append(self)

    def resources() -> list[dict[str, Any]]:
        (storage,) = storages  # one: no tenants
        with storage.lock:
            return [r.model_dump() for r in storage.resources]

    def answer(path: str, query: dict[str, str]) -> Any:
        if path == "/check":
            found = [r for r in resources() if r.get("userName") == query.get("user")]
            return {"ok": len(found) == 1 and found[0].get("password") == query.get("password")}
        return scim2_state(resources())

    vars(cli)["InMemoryStorage"] = Recorded  # the one name cli.main() makes its storage by
    server = serve_state(args.state_port, answer)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignored it
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # main() stops on KeyboardInterrupt
    sys.argv = ["scim2-server", *rest]
    try:
        cli.main()
    finally:
        server.server_close()  # its thread ends with the process (no shutdown(): a 0.5 s poll)


if __name__ == "__main__":
    _serve_scim2(sys.argv[1:])
