"""The directory over HTTP (``authz/directory/http.py``): a JSON lookup per name with a cache, a
timeout and a cap on lookups in flight; concurrent lookups of one name share one request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from authz.demo import sample_api
from authz.directory import AmbiguousName, DirectoryUnavailable, Group, Principal
from authz.directory import lookups as lookups_module
from authz.directory.http import HttpDirectory
from authz.names import NameRule


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = sample_api.start("127.0.0.1", 0, None)
    yield f"http://127.0.0.1:{server.server_port}/v1/directory/principals/{{name}}"
    server.shutdown()
    server.server_close()


def test_http_directory_against_the_sample_api(api: str) -> None:
    d = HttpDirectory(api, group_url=api.replace("principals", "groups"))
    assert d.lookup("alice") == Principal(
        "alice", True, "human", False, frozenset({"staff"}), frozenset({"alice@example.org"})
    )
    assert d.lookup("bob@example.org").name == "bob"  # an alias names the same account
    assert d.lookup_group("it-admins") == Group("it-admins", True, True)
    assert d.lookup_group("staff").privileged is False
    with pytest.raises(AmbiguousName):
        d.lookup("CAROL")  # the sample API is exact; CAROL folds onto carol
    assert d.lookup("CAROL", NameRule.CASE_INSENSITIVE).name == "carol"
    with pytest.raises(AmbiguousName):
        d.lookup_group("IT-Admins")
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


def test_a_service_that_folds_is_refused_under_exact_comparison(fake: Fake) -> None:
    fake.answer = (200, {"name": "svc-payroll", "kind": "service_account"})
    d = HttpDirectory(fake.url)
    assert d.lookup("svc-payroll").machine
    with pytest.raises(AmbiguousName):
        d.lookup("SVC-Payroll")
    assert d.lookup("SVC-Payroll", NameRule.CASE_INSENSITIVE).name == "svc-payroll"


def test_a_service_answering_for_someone_else_is_unusable(fake: Fake) -> None:
    fake.answer = (200, {"name": "mallory", "kind": "human"})
    with pytest.raises(DirectoryUnavailable, match="answered for"):
        HttpDirectory(fake.url).lookup("alice")


def test_a_service_saying_ambiguous_is_ambiguous(fake: Fake) -> None:
    fake.answer = (409, {"error": "ambiguous"})
    with pytest.raises(AmbiguousName):
        HttpDirectory(fake.url).lookup("dana", NameRule.CASE_INSENSITIVE)


def test_without_a_group_url_groups_are_unknown(fake: Fake) -> None:
    assert HttpDirectory(fake.url).lookup_group("it-admins") == Group("it-admins", exists=False)
    assert fake.calls == 0


def test_an_unreachable_directory_is_unavailable() -> None:
    with pytest.raises(DirectoryUnavailable):
        HttpDirectory("http://127.0.0.1:9/p/{name}", timeout=1).lookup("alice")


class Counted(threading.Event):
    """An event that counts the threads waiting on it."""

    waiting = 0

    def wait(self, timeout: float | None = None) -> bool:
        Counted.waiting += 1
        return super().wait(timeout)


@pytest.fixture
def counted_flights(monkeypatch: pytest.MonkeyPatch) -> type[Counted]:
    class Flight(lookups_module._Flight):
        def __init__(self) -> None:
            super().__init__()
            self.done = Counted()

    Counted.waiting = 0
    monkeypatch.setattr(lookups_module, "_Flight", Flight)
    return Counted


def wait_for(check: Any) -> None:
    while not check():
        threading.Event().wait(0.01)


def test_concurrent_lookups_of_one_name_share_one_request(fake: Fake, counted_flights: type[Counted]) -> None:
    fake.release.clear()  # the directory holds the first lookup
    d = HttpDirectory(fake.url, timeout=30, max_concurrency=1)
    answers: list[Principal] = []
    threads = [threading.Thread(target=lambda: answers.append(d.lookup("bob"))) for _ in range(4)]
    threads[0].start()
    wait_for(lambda: fake.calls == 1)  # the first lookup holds the only slot
    for t in threads[1:]:
        t.start()
    wait_for(lambda: counted_flights.waiting == 3)  # they wait for it instead of failing for a slot
    fake.release.set()
    for t in threads:
        t.join(30)
    assert fake.calls == 1 and len(answers) == 4 and all(a.name == "bob" for a in answers)


def test_a_shared_lookup_that_fails_fails_for_every_waiter(
    fake: Fake, counted_flights: type[Counted]
) -> None:
    fake.answer = (500, {"error": "boom"})
    fake.release.clear()
    d = HttpDirectory(fake.url, timeout=30)
    errors: list[str] = []

    def look() -> None:
        try:
            d.lookup("bob")
        except DirectoryUnavailable as exc:
            errors.append(str(exc))

    first, second = threading.Thread(target=look), threading.Thread(target=look)
    first.start()
    wait_for(lambda: fake.calls == 1)
    second.start()
    wait_for(lambda: counted_flights.waiting == 1)
    fake.release.set()
    first.join(30)
    second.join(30)
    assert fake.calls == 1 and errors == ["directory answered 500"] * 2
