"""Live identity context providers: a JSON file, and an HTTP lookup with cache, timeout and a cap."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from authz.demo import sample_api
from authz.directory import DirectoryUnavailable, Principal
from authz.directory.file import DirectoryFileError, FileDirectory
from authz.directory.http import HttpDirectory


def test_file_directory(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    entry = {"kind": "service_account", "privileged": True, "groups": ["payroll-admins"]}
    path.write_text(json.dumps({"principals": {"svc-payroll": entry}}))
    d = FileDirectory(path)
    assert d.lookup("svc-payroll") == Principal(
        "svc-payroll", True, "service_account", True, frozenset({"payroll-admins"})
    )
    assert d.lookup("SVC-PAYROLL") == Principal("SVC-PAYROLL", exists=False)  # exact names only


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"principals": []}', '{"principals": {"a": {"kind": "robot"}}}',
     '{"principals": {"a": {"kind": "human", "privileged": "yes"}}}',
     '{"principals": {"a": {"kind": "human", "groups": "staff"}}}'],
)  # fmt: skip
def test_a_broken_directory_file_is_refused_at_start(tmp_path: Path, text: str) -> None:
    path = tmp_path / "directory.json"
    path.write_text(text)
    with pytest.raises(DirectoryFileError):
        FileDirectory(path)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = sample_api.start("127.0.0.1", 0, None)
    yield f"http://127.0.0.1:{server.server_port}/v1/directory/principals/{{name}}"
    server.shutdown()
    server.server_close()


def test_http_directory_against_the_sample_api(api: str) -> None:
    d = HttpDirectory(api)
    assert d.lookup("alice") == Principal("alice", True, "human", False, frozenset({"staff"}))
    carol = d.lookup("carol")
    assert carol.privileged and carol.groups == {"staff", "it-admins"}
    assert d.lookup("svc-payroll").machine
    assert d.lookup("nobody") == Principal("nobody", exists=False)
    assert d.lookup("alice/../carol").exists is False  # one path segment, never a traversal


class Fake:
    """A directory endpoint on 127.0.0.1 answering whatever the test says, counting calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer: tuple[int, Any] = (200, {"kind": "human", "groups": []})
        self.release = threading.Event()
        self.release.set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.calls += 1
                fake.release.wait(30)
                status, body = fake.answer
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/p/{{name}}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[Fake]:
    f = Fake()
    yield f
    f.close()


def test_answers_are_cached_until_the_ttl(fake: Fake) -> None:
    now = [0.0]
    d = HttpDirectory(fake.url, ttl=30, clock=lambda: now[0])
    d.lookup("alice")
    d.lookup("alice")
    assert fake.calls == 1
    now[0] = 31
    d.lookup("alice")
    assert fake.calls == 2
    fake.answer = (404, {"error": "no such principal"})
    assert d.lookup("ghost").exists is False and d.lookup("ghost").exists is False
    assert fake.calls == 3  # "not in the directory" is cached too


@pytest.mark.parametrize(
    "answer",
    [(500, {"error": "boom"}), (200, b"not json"), (200, ["a", "list"]), (200, {"kind": "robot"}),
     (200, b"x" * 70_000)],
)  # fmt: skip
def test_unusable_answers_make_the_directory_unavailable(fake: Fake, answer: tuple[int, Any]) -> None:
    fake.answer = answer
    with pytest.raises(DirectoryUnavailable):
        HttpDirectory(fake.url).lookup("alice")


def test_a_slow_directory_times_out(fake: Fake) -> None:
    fake.release.clear()  # the directory hangs
    with pytest.raises(DirectoryUnavailable, match="unreachable"):
        HttpDirectory(fake.url, timeout=0.2).lookup("alice")


def test_lookups_beyond_the_cap_fail_at_once(fake: Fake) -> None:
    fake.release.clear()
    d = HttpDirectory(fake.url, timeout=30, max_concurrency=1)
    outcome: list[Principal] = []
    first = threading.Thread(target=lambda: outcome.append(d.lookup("bob")))
    first.start()
    while fake.calls < 1:  # wait until bob's lookup holds the only slot
        threading.Event().wait(0.01)
    with pytest.raises(DirectoryUnavailable, match="in flight"):
        d.lookup("carol")
    fake.release.set()
    first.join(30)
    assert outcome and outcome[0].exists  # the lookup in flight was not disturbed


def test_an_unreachable_directory_is_unavailable() -> None:
    with pytest.raises(DirectoryUnavailable):
        HttpDirectory("http://127.0.0.1:9/p/{name}", timeout=1).lookup("alice")
