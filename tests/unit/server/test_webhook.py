"""The approval webhook: delivered, retried, dropped when full — and never in a decision's way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from authz.server.webhook import NotifyingQueue, Webhook
from authz.store.queue import NewRequest
from authz.store.sqlite import SqliteStore
from authz.store.sqlite_queue import SqliteQueue

NEW = NewRequest(
    "spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", "t1", None,
    "credential_recovery", "T-42", None, "user.password.reset", "credential_change", "alice",
    "POST", "/v1/users/alice/password/reset?x=1", b'{"secret": "no"}', "req", 1, 4e9,
)  # fmt: skip


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that fails the first ``failures`` POSTs."""

    failures: int = 0
    hold: threading.Event | None = None  # when set, answers only once released
    received: list[dict[str, Any]] = field(default_factory=list)
    delivered: threading.Event = field(default_factory=threading.Event)
    attempts: int = 0

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                receiver.attempts += 1
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                if receiver.attempts <= receiver.failures:
                    self.send_response(503)
                else:
                    receiver.received.append(json.loads(body))
                    receiver.delivered.set()
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    server = r.serve()
    r.url = f"http://127.0.0.1:{server.server_port}/hook"  # type: ignore[attr-defined]
    yield r
    if r.hold is not None:
        r.hold.set()
    server.shutdown()
    server.server_close()


def test_a_new_request_is_posted_once_without_secrets(receiver: Receiver, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    hook = Webhook(receiver.url, backoff=())  # type: ignore[attr-defined]
    queue = NotifyingQueue(SqliteQueue(store), hook)
    try:
        request_id, created = queue.file(NEW, now=1_800_000_000, per_agent=10, window=60) or ("", False)
        assert created
        assert queue.file(NEW, now=1_800_000_001, per_agent=10, window=60) == (request_id, False)
        assert receiver.delivered.wait(30)
    finally:
        hook.close()
        store.close()
    [event] = receiver.received
    assert event["event"] == "approval_request.created" and event["request_id"] == request_id
    assert (event["operation"], event["principal"], event["path"]) == (
        "user.password.reset",
        "alice",
        "/v1/users/alice/password/reset",
    )
    assert "secret" not in json.dumps(event) and "body" not in event


def test_failed_deliveries_are_retried(receiver: Receiver) -> None:
    receiver.failures = 2
    failures: list[int] = []
    hook = Webhook(receiver.url, backoff=(0, 0, 0), on_failure=lambda: failures.append(1))  # type: ignore[attr-defined]
    hook.notify({"request_id": "apr-1"})
    assert receiver.delivered.wait(30)
    hook.close()
    assert receiver.attempts == 3 and receiver.received == [{"request_id": "apr-1"}] and not failures


def test_a_receiver_that_never_answers_blocks_nothing(receiver: Receiver) -> None:
    receiver.hold = threading.Event()
    dropped: list[int] = []
    hook = Webhook(receiver.url, capacity=2, backoff=(), on_failure=lambda: dropped.append(1))  # type: ignore[attr-defined]
    for i in range(10):  # returns at once although the receiver holds the first POST
        hook.notify({"request_id": f"apr-{i}"})
    assert len(dropped) >= 7  # one in flight, two queued, the rest dropped and counted
    receiver.hold.set()
    hook.close()


def test_an_unreachable_receiver_is_given_up_and_counted() -> None:
    failures: list[int] = []
    hook = Webhook("http://127.0.0.1:9/nothing", backoff=(0, 0), on_failure=lambda: failures.append(1))
    hook.notify({"request_id": "apr-1"})
    hook.close(timeout=30)
    assert failures == [1]
