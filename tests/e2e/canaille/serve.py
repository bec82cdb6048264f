"""Canaille's SCIM server on a loopback port, and its state on a second one.

Run by the Canaille venv's python (``.venv-canaille``, from requirements.txt beside this file),
never imported — ``authz.devkit.scim.CanailleServer`` starts it:

    python serve.py --port P --state-port S --token T [--db sqlite:////abs/c.sqlite]

It prints ``READY http://127.0.0.1:P/scim/v2`` once both ports listen, and stops on SIGTERM or
SIGINT. SCIM calls carry ``Authorization: Bearer T``: a client token without a subject, so the
SCIM endpoints skip Canaille's permission checks. No user or group is made here: the harness
seeds them over SCIM.

The state port answers ``GET /state`` with every user and group as Canaille's backend holds them
(``password_fingerprint``: a SHA-256 of the stored password — in the clear with the default
memory backend, the salted hash with ``--db``) and ``GET /check?user=U&password=P`` with
``{"ok": bool}``: the stored password compared by the backend, whether or not the user is locked
(Canaille's own ``check_user_password`` refuses a locked user whatever the password).

No ``SERVER_NAME``: Canaille serves any Host and builds its URLs from the Host header (with one,
a request for another Host is redirected or refused).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import signal
import threading
import uuid
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from canaille import create_app  # noqa: E402  (after the environment it reads)
from canaille.app import models  # noqa: E402
from canaille.backends import Backend  # noqa: E402


class Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def build_app(db: str | None) -> Any:
    config: dict[str, Any] = {
        "TESTING": True,  # every optional section (SQL, LDAP, SCIM…) off unless given below
        "ENV_FILE": None,
        "SECRET_KEY": "scim-e2e-not-secret",
        "WTF_CSRF_ENABLED": False,
        "PREFERRED_URL_SCHEME": "http",
        "CANAILLE": {
            "DATABASE": "sql" if db else "memory",
            "JAVASCRIPT": False,
            "ACL": {"DEFAULT": {"PERMISSIONS": ["use_oidc"]}},
            "LOGGING": {"version": 1, "disable_existing_loggers": False,
                        "handlers": {"null": {"class": "logging.NullHandler"}},
                        "loggers": {"canaille": {"level": "INFO", "handlers": ["null"]}}},
        },
        "CANAILLE_OIDC": {},  # SCIM's client and token models live in canaille.oidc
        "CANAILLE_SCIM": {"ENABLE_SERVER": True},
    }  # fmt: skip
    if db:
        config["CANAILLE_SQL"] = {"DATABASE_URI": db, "AUTO_MIGRATE": True}
    return create_app(config=config)


def issue_token(app: Any, token: str) -> None:
    """A client and its access token without a subject: SCIM calls with it skip the ACL."""
    with app.test_request_context("/"):
        now = datetime.datetime.now(datetime.UTC)
        client = models.Client(
            client_id="scim-e2e", client_name="scim-e2e", client_id_issued_at=now,
            client_secret=uuid.uuid4().hex, grant_types=["client_credentials"],
            response_types=["code"], token_endpoint_auth_method="client_secret_basic",
            redirect_uris=["http://127.0.0.1/cb"], scope=["openid"],
        )  # fmt: skip
        Backend.instance.save(client)
        Backend.instance.save(models.Token(
            token_id=uuid.uuid4().hex, access_token=token, client=client, subject=None,
            type="access_token", refresh_token=uuid.uuid4().hex, scope=["openid"],
            issue_date=now, lifetime=24 * 3600, audience=[client],
        ))  # fmt: skip


def fingerprint(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def state(app: Any) -> dict[str, Any]:
    with app.test_request_context("/"):
        users = [
            {"id": u.id, "userName": u.user_name, "active": u.lock_date is None,
             "password_fingerprint": fingerprint(u.get_password_hash()),
             "emails": sorted(u.emails or []), "phoneNumbers": sorted(u.phone_numbers or []),
             "groups": sorted(g.display_name for g in u.groups or [])}
            for u in Backend.instance.query(models.User)
        ]  # fmt: skip
        groups = [
            {"id": g.id, "displayName": g.display_name,
             "members": sorted(m.user_name for m in g.members or [])}
            for g in Backend.instance.query(models.Group)
        ]  # fmt: skip
    return {"users": users, "groups": groups}


def check_password(app: Any, user_name: str, password: str) -> bool:
    with app.test_request_context("/"):
        user = Backend.instance.get(models.User, user_name=user_name)
        return bool(user is not None and user.password is not None and user.password == password)


def state_app(app: Any) -> Any:
    lock = threading.Lock()  # one backend, read from one thread at a time

    def serve(environ: dict[str, Any], start: Any) -> list[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with lock:
            if environ["PATH_INFO"] == "/check":
                out: Any = {"ok": check_password(app, query.get("user", ""), query.get("password", ""))}
            else:
                out = state(app)
        body = json.dumps(out).encode()
        start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--db", help="sqlite:////abs/path.sqlite (default: Canaille's memory backend)")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignored it
    signal.signal(signal.SIGTERM, interrupt)
    app = build_app(args.db)
    issue_token(app, args.token)
    httpd = make_server("127.0.0.1", args.port, app, server_class=ThreadingWSGIServer, handler_class=Quiet)
    side = make_server("127.0.0.1", args.state_port, state_app(app),
                       server_class=ThreadingWSGIServer, handler_class=Quiet)  # fmt: skip
    threading.Thread(target=side.serve_forever, daemon=True).start()
    print(f"READY http://127.0.0.1:{args.port}/scim/v2", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        side.server_close()  # its thread ends with the process (no shutdown(): a 0.5 s poll)
        httpd.server_close()


if __name__ == "__main__":
    main()
