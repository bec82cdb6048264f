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
from authz.directory import AmbiguousName, DirectoryUnavailable, Group, Principal
from authz.directory import http as http_module
from authz.directory.file import DirectoryFileError, FileDirectory
from authz.directory.http import HttpDirectory
from authz.names import NameRule

EXACT, FOLDED = NameRule.EXACT, NameRule.CASE_INSENSITIVE


@pytest.fixture
def directory_file(tmp_path: Path) -> FileDirectory:
    path = tmp_path / "directory.json"
    principals = {
        "svc-payroll": {"kind": "service_account", "privileged": True, "groups": ["payroll-admins"]},
        "bob": {"kind": "human", "aliases": ["bob@example.org"]},
        "Dana": {"kind": "human"},
        "dana": {"kind": "human"},  # another account, told apart only by an exact upstream
    }
    groups = {"payroll-admins": {"privileged": True}, "staff": {"aliases": ["all-staff"]}}
    path.write_text(json.dumps({"principals": principals, "groups": groups}))
    return FileDirectory(path)


def test_file_directory(directory_file: FileDirectory) -> None:
    assert directory_file.lookup("svc-payroll") == Principal(
        "svc-payroll", True, "service_account", True, frozenset({"payroll-admins"})
    )
    assert directory_file.lookup("nobody") == Principal("nobody", exists=False)
    assert directory_file.lookup_group("payroll-admins") == Group("payroll-admins", True, True)
    assert directory_file.lookup_group("nobody") == Group("nobody", exists=False)


@pytest.mark.parametrize("rule", [EXACT, FOLDED])
def test_an_alias_names_the_same_entry(directory_file: FileDirectory, rule: NameRule) -> None:
    bob = directory_file.lookup("bob@example.org", rule)
    assert bob.name == "bob" and bob.names == {"bob", "bob@example.org"}
    assert directory_file.lookup_group("all-staff", rule).name == "staff"


@pytest.mark.parametrize(
    "name",
    ["SVC-PAYROLL", "Svc-Payroll", "\uff53\uff56\uff43-payroll", "svc-pay\u200broll", "svc-pay\u00adroll"],
)
def test_attack_name_that_folds_onto_a_known_principal(directory_file: FileDirectory, name: str) -> None:
    with pytest.raises(AmbiguousName):
        directory_file.lookup(name, EXACT)  # an upstream that folds would act on svc-payroll
    assert directory_file.lookup(name, FOLDED).name == "svc-payroll"


def test_a_look_alike_that_no_folding_maps_is_another_name(directory_file: FileDirectory) -> None:
    assert directory_file.lookup("svc\u2010payroll", FOLDED).exists is False  # U+2010 HYPHEN


def test_attack_group_name_that_folds_onto_a_privileged_group(directory_file: FileDirectory) -> None:
    with pytest.raises(AmbiguousName):
        directory_file.lookup_group("PAYROLL-ADMINS", EXACT)
    assert directory_file.lookup_group("PAYROLL-ADMINS", FOLDED).privileged


def test_names_that_fold_onto_two_entries_are_ambiguous(directory_file: FileDirectory) -> None:
    assert directory_file.lookup("dana", EXACT).name == "dana"  # exact: two accounts, told apart
    assert directory_file.lookup("Dana", EXACT).name == "Dana"
    for rule in (EXACT, FOLDED):
        with pytest.raises(AmbiguousName):
            directory_file.lookup("DANA", rule)
    with pytest.raises(AmbiguousName):
        directory_file.lookup("dana", FOLDED)  # a folding upstream cannot tell them apart


def test_two_entries_answering_to_one_name_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    principals = {"bob": {"kind": "human", "aliases": ["b"]}, "bert": {"kind": "human", "aliases": ["b"]}}
    path.write_text(json.dumps({"principals": principals}))
    with pytest.raises(DirectoryFileError, match="both answer to 'b'"):
        FileDirectory(path)


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"principals": []}', '{"principals": {"a": {"kind": "robot"}}}',
     '{"principals": {"a": {"kind": "human", "privileged": "yes"}}}',
     '{"principals": {"a": {"kind": "human", "groups": "staff"}}}',
     '{"principals": {"a": {"kind": "human", "aliases": "a2"}}}',
     '{"principals": {}, "groups": []}', '{"principals": {}, "groups": {"g": {"privileged": 1}}}'],
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
    class Flight(http_module._Flight):
        def __init__(self) -> None:
            super().__init__()
            self.done = Counted()

    Counted.waiting = 0
    monkeypatch.setattr(http_module, "_Flight", Flight)
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
