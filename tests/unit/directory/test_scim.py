"""The SCIM directory (``authz/directory/scim.py``) against two real SCIM servers on loopback,
scim2-server and Canaille (``authz/devkit/scim.py``), and against a stub for the answers no real
server gives (fault injection)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authz.devkit.scim import (
    CanailleServer,
    Scim2Server,
    ScimServer,
    Seeded,
    SeedGroup,
    SeedUser,
    user_body,
)
from authz.directory import AmbiguousName, DirectoryUnavailable, Group, Principal
from authz.directory.scim import ScimDirectory, ScimRules
from authz.names import NameRule

SERVERS: dict[str, type[ScimServer]] = {"scim2-server": Scim2Server, "canaille": CanailleServer}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USERS = (
    SeedUser("alice", emails=("alice@example.org",)),
    SeedUser("bob"),
    SeedUser("carol", active=False),  # in no group
    SeedUser("dave"),
    SeedUser("erin"),  # changed by the cache test, read by no other
)
GROUPS = (SeedGroup("helpdesk", ("alice", "bob")), SeedGroup("it-admins", ("dave",)))
IT_ADMINS = ScimRules(privileged_groups=("IT-*",))  # globs compare folded names


@dataclass(frozen=True)
class Scim:
    server: ScimServer
    ids: Seeded

    def directory(self, **kwargs: Any) -> ScimDirectory:
        return ScimDirectory(self.server.base_url, token=self.server.bearer_token, timeout=5, **kwargs)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def scim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scim]:
    with SERVERS[request.param](tmp_path_factory.mktemp(request.param) / "scim.log") as server:
        yield Scim(server, server.seed(USERS, GROUPS))


def test_a_user_is_found_by_id_and_by_user_name(scim: Scim) -> None:
    d, alice = scim.directory(), scim.ids.users["alice"]
    expected = Principal(
        "alice", True, "human", False, frozenset({"helpdesk"}), frozenset({alice, "alice@example.org"})
    )
    assert d.lookup(alice) == d.lookup("alice") == expected
    assert d.lookup(alice).names == {"alice", alice, "alice@example.org"}  # all compared by SoD


def test_a_case_variant_names_the_user_only_under_a_folding_rule(scim: Scim) -> None:
    d = scim.directory()
    with pytest.raises(AmbiguousName) as info:
        d.lookup("ALICE")  # an upstream that folds would act on alice, whom ALICE does not name
    assert info.value.candidates == ["alice"]
    assert d.lookup("ALICE", NameRule.CASE_INSENSITIVE).name == "alice"
    assert d.lookup("Alice", NameRule.CASE_INSENSITIVE).aliases == d.lookup("alice").aliases


def test_an_email_address_finds_its_user(scim: Scim) -> None:
    d = scim.directory()
    assert "alice@example.org" in d.lookup("alice").aliases
    # Approvers and on-behalf-of users are often named by e-mail: the userName is its name.
    assert d.lookup("alice@example.org") == d.lookup("alice")
    assert d.lookup("ALICE@Example.org") == d.lookup("alice")  # emails.value is not caseExact
    assert d.lookup("nobody@example.org") == Principal("nobody@example.org", exists=False)


def test_unknown_names_are_not_in_the_directory(scim: Scim) -> None:
    d = scim.directory()
    assert d.lookup("nobody") == Principal("nobody", exists=False)
    assert d.lookup("nobody", NameRule.CASE_INSENSITIVE).exists is False
    assert d.lookup_group("nobody") == Group("nobody", exists=False)


def test_an_inactive_user_in_no_group(scim: Scim) -> None:
    carol = scim.directory().lookup("carol")
    assert (carol.exists, carol.active, carol.groups, carol.privileged) == (True, False, frozenset(), False)
    assert scim.directory().lookup("bob").active is True


def test_groups_come_from_the_server_and_privileged_groups_from_the_rules(scim: Scim) -> None:
    assert scim.directory().lookup("bob").groups == {"helpdesk"}
    dave = scim.directory().lookup("dave")
    assert dave.groups == {"it-admins"} and dave.privileged is False  # no privileged_groups by default
    d = scim.directory(rules=IT_ADMINS)
    assert d.lookup("dave").privileged is True
    assert d.lookup("alice").privileged is False
    assert d.lookup_group("it-admins").privileged is True
    assert d.lookup_group("helpdesk").privileged is False


def test_a_group_is_found_by_id_and_by_display_name(scim: Scim) -> None:
    d, helpdesk = scim.directory(), scim.ids.groups["helpdesk"]
    assert (
        d.lookup_group(helpdesk)
        == d.lookup_group("helpdesk")
        == Group("helpdesk", True, False, frozenset({helpdesk}))
    )
    with pytest.raises(AmbiguousName):
        d.lookup_group("HelpDesk")
    assert d.lookup_group("HelpDesk", NameRule.CASE_INSENSITIVE).name == "helpdesk"


def test_user_type_makes_service_accounts_and_roles_make_privileged_ones(scim: Scim) -> None:
    svc = user_body(SeedUser("svc-payroll")) | {"userType": "Service", "externalId": "ext-42"}
    admin = user_body(SeedUser("root-ops")) | {"roles": [{"value": "auditor"}, {"value": "admin"}]}
    (svc_status, svc_answer), (admin_status, admin_answer) = (
        scim.server.request("POST", "/Users", body) for body in (svc, admin)
    )
    if isinstance(scim.server, CanailleServer):  # Canaille's User has neither attribute
        assert (svc_status, admin_status) == (400, 400)
        assert "userType" in svc_answer["detail"] and "roles" in admin_answer["detail"]
        assert scim.directory().lookup("svc-payroll").exists is False
        return
    assert (svc_status, admin_status) == (201, 201), (svc_answer, admin_answer)
    d = scim.directory()
    payroll, ops = d.lookup("svc-payroll"), d.lookup("root-ops")
    assert (payroll.kind, payroll.machine, payroll.privileged, payroll.roles) == (
        "service_account", True, False, frozenset(),
    )  # fmt: skip
    assert payroll.aliases == {svc_answer["id"], "ext-42"}
    assert (ops.kind, ops.privileged, ops.roles) == (
        "human",
        True,
        {"auditor", "admin"},
    )  # any role, by default
    strict = scim.directory(rules=ScimRules(service_types=("robot",), privileged_roles=("ADMIN*",)))
    assert strict.lookup("svc-payroll").kind == "human"
    assert strict.lookup("root-ops").privileged is True
    assert scim.directory(rules=ScimRules(privileged_roles=("owner",))).lookup("root-ops").privileged is False


def test_answers_are_cached_until_the_ttl(scim: Scim) -> None:
    now = [0.0]
    d = scim.directory(ttl=30, clock=lambda: now[0])
    assert d.lookup("erin").active is True and d.lookup("frank").exists is False
    erin = scim.ids.users["erin"]
    operation = {"op": "replace", "path": "active", "value": False}
    status, answer = scim.server.request(
        "PATCH", f"/Users/{erin}", {"schemas": [PATCH_OP], "Operations": [operation]}
    )
    assert status in (200, 204), answer
    scim.server.seed([SeedUser("frank")])
    assert scim.server.state()["users"]["erin"]["active"] is False  # the server changed...
    now[0] = 29.9
    assert d.lookup("erin").active is True  # ...but within the ttl nothing was asked
    assert d.lookup("frank").exists is False  # "not in the directory" is an answer, cached too
    now[0] = 30.0
    assert d.lookup("erin").active is False
    assert d.lookup("frank").exists is True


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_refused_token_or_a_stopped_server_is_unavailable(kind: str, tmp_path: Path) -> None:
    with SERVERS[kind](tmp_path / "scim.log", bearer_token="right-token") as server:
        server.seed(USERS[:1])
        assert ScimDirectory(server.base_url, token="right-token", timeout=5).lookup("alice").exists
        for token in (None, "wrong-token"):
            with pytest.raises(DirectoryUnavailable, match="answered 401"):
                ScimDirectory(server.base_url, token=token, timeout=5).lookup("alice")
        server.stop()
        with pytest.raises(DirectoryUnavailable, match="unreachable"):
            ScimDirectory(server.base_url, token="right-token", timeout=5).lookup("alice")


# -- fault injection: answers no real server gives, from a stub on 127.0.0.1 --------------------


class Stub:
    """A "SCIM server" answering GET ``path`` (the query ignored) with ``answers[path]``, 404 for
    any other, and recording each request's path and query."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, Any]] = {"/scim/v2/Users": listing(), "/scim/v2/Groups": listing()}
        self.asked: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                stub.asked.append(self.path)
                status, body = stub.answers.get(urlsplit(self.path).path, (404, {"status": "404"}))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/scim/v2"

    def answer(self, path: str, status: int, body: Any) -> None:
        self.answers[f"/scim/v2{path}"] = (status, body)

    def filters(self) -> list[str]:
        return [parse_qs(urlsplit(p).query)["filter"][0] for p in self.asked if "?" in p]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


def user(name: str, ident: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": ident or f"id-{name}", "userName": name, **extra}


def group(name: str, members: tuple[str, ...] = (), ident: str | None = None) -> dict[str, Any]:
    return {"id": ident or f"gid-{name}", "displayName": name, "members": [{"value": m} for m in members]}


def listing(*resources: Any, total: int | None = None) -> tuple[int, dict[str, Any]]:
    count = len(resources) if total is None else total
    return 200, {"schemas": [LIST], "totalResults": count, "Resources": list(resources)}


def test_a_list_cut_short_without_the_name_cannot_say_unknown(stub: Stub) -> None:
    stub.answer("/Users", *listing(user("zed"), total=3))
    d = ScimDirectory(stub.url)
    with pytest.raises(DirectoryUnavailable, match="cut its Users list short: 'alice' undecided"):
        d.lookup("alice")
    assert d.lookup("zed").name == "zed"  # the name is in what it sent, exactly
    with pytest.raises(DirectoryUnavailable):  # but a second one folding onto it may not be
        d.lookup("ZED", NameRule.CASE_INSENSITIVE)
    stub.answer("/Users", *listing(user("zed"), total=1))
    assert ScimDirectory(stub.url).lookup("alice").exists is False  # the whole list: unknown


@pytest.mark.parametrize(
    ("path", "status", "body", "problem"),
    [
        ("/Users/alice", 200, ["not", "an", "object"], "not a SCIM resource"),
        ("/Users/alice", 200, b"<html>not json</html>", "unusable"),
        ("/Users/alice", 200, {"userName": "alice"}, "without id"),
        ("/Users/alice", 200, {"id": "alice", "userName": ""}, "without userName"),
        ("/Users/alice", 200, user("alice", roles="admin"), "multi-valued attribute"),
        ("/Users/alice", 200, user("alice", emails=["alice@example.org"]), "multi-valued attribute"),
        ("/Users/alice", 200, user("alice", groups={"display": "staff"}), "groups that are not"),
        ("/Users/alice", 409, {"status": "409"}, "answered 409 for Users/alice"),
        ("/Users/alice", 500, {"status": "500"}, "answered 500"),
        ("/Users", 200, "a string", "not a SCIM ListResponse"),
        ("/Users", 200, {"Resources": {"id": "1", "userName": "alice"}}, "not a SCIM ListResponse"),
        ("/Users", 200, {"totalResults": 2, "Resources": ["alice", "bob"]}, "not a SCIM resource"),
        ("/Users", 200, {"totalResults": 1, "Resources": [{"id": "1"}]}, "without userName"),
        ("/Users", 200, {"totalResults": "0", "Resources": []}, "totalResults must be an integer"),
        ("/Users", 200, {"totalResults": False, "Resources": []}, "totalResults must be an integer"),
        ("/Users", 409, {"status": "409"}, "cannot search"),
    ],
)  # fmt: skip
def test_unusable_answers_make_the_directory_unavailable(
    stub: Stub, path: str, status: int, body: Any, problem: str
) -> None:
    stub.answer(path, status, body)
    with pytest.raises(DirectoryUnavailable, match=problem):
        ScimDirectory(stub.url).lookup("alice")


def test_two_users_folding_to_one_name_are_ambiguous(stub: Stub) -> None:
    stub.answer("/Users", *listing(user("Dana"), user("dana"), user("dan")))
    d = ScimDirectory(stub.url)
    for name, rule in (
        ("DANA", NameRule.CASE_INSENSITIVE),
        ("DANA", NameRule.EXACT),
        ("dana", NameRule.EXACT),
    ):
        with pytest.raises(AmbiguousName) as info:
            d.lookup(name, rule)
        assert info.value.candidates == ["Dana", "dana"]
    assert d.lookup("dan").name == "dan"


def test_an_email_address_two_users_share_is_ambiguous(stub: Stub) -> None:
    # The stub ignores filters: the listing is matched here, by e-mail value only.
    shared = [{"value": "Help@example.org"}]
    stub.answer("/Users", *listing(user("ann", emails=shared), user("bo", emails=shared), user("cy")))
    with pytest.raises(AmbiguousName) as info:
        ScimDirectory(stub.url).lookup("help@example.org")
    assert info.value.candidates == ["ann", "bo"]
    assert 'emails.value eq "help@example.org"' in stub.filters()
    stub.answer("/Users", *listing(user("ann"), total=5))  # cut short without it: cannot say
    with pytest.raises(DirectoryUnavailable):
        ScimDirectory(stub.url).lookup("help@example.org")


def test_a_server_that_folds_ids_is_held_to_the_rule(stub: Stub) -> None:
    stub.answer("/Users/ALICE", 200, user("alice"))  # GET /Users/ALICE answers alice
    stub.answer("/Users", *listing(user("alice")))
    with pytest.raises(AmbiguousName):
        ScimDirectory(stub.url).lookup("ALICE")
    assert ScimDirectory(stub.url).lookup("ALICE", NameRule.CASE_INSENSITIVE).name == "alice"


def test_filter_values_are_escaped(stub: Stub) -> None:
    d = ScimDirectory(stub.url + "/")
    assert d.lookup('a"b\\c') == Principal('a"b\\c', exists=False)
    assert d.lookup_group('x" or "1" eq "1').exists is False
    stub.answer("/Users/odd", 200, user("odd", ident='i"d\\'))
    assert d.lookup("odd").groups == frozenset()
    assert stub.filters() == [
        'userName eq "a\\"b\\\\c"',
        'displayName eq "x\\" or \\"1\\" eq \\"1"',
        'members.value eq "i\\"d\\\\"',
    ]
    assert stub.asked[0] == "/scim/v2/Users/a%22b%5Cc"  # one path segment, encoded
    assert not any(c in p for p in stub.asked for c in ' "\\')


def test_groups_are_found_by_members_naming_the_user_by_id_or_user_name(stub: Stub) -> None:
    # A server that ignores the filter (as Canaille does) and names members by userName.
    stub.answer("/Users/ann", 200, user("ann", ident="u1"))
    stub.answer(
        "/Groups", *listing(group("staff", ("ann",)), group("ops", ("u1",)), group("it-admins", ("u2",)))
    )
    ann = ScimDirectory(stub.url, rules=IT_ADMINS).lookup("ann")
    assert ann.groups == {"staff", "ops"} and ann.privileged is False


def test_a_groups_list_cut_short_is_unavailable(stub: Stub) -> None:
    stub.answer("/Users/ann", 200, user("ann"))
    # ann's other group, it-admins, would be on a page the server did not send
    stub.answer("/Groups", *listing(group("staff", ("ann",)), total=2))
    with pytest.raises(DirectoryUnavailable, match="cut its Groups list short"):
        ScimDirectory(stub.url, rules=IT_ADMINS).lookup("ann")


def test_a_users_groups_without_display_names_are_read_from_the_groups(stub: Stub) -> None:
    # RFC 7643 §4.1.2: a User's groups' "display" is optional; their "value" is an id, which
    # no privileged_groups glob over displayNames matches.
    stub.answer("/Users/ann", 200, user("ann", ident="u1", groups=[{"value": "g1"}]))
    stub.answer("/Groups", *listing(group("it-admins", ("u1",), ident="g1")))
    ann = ScimDirectory(stub.url, rules=IT_ADMINS).lookup("ann")
    assert ann.groups == {"it-admins"} and ann.privileged is True


def test_a_group_answers_to_its_id_and_display_name(stub: Stub) -> None:
    stub.answer("/Groups/g1", 200, group("it-admins", ident="g1"))
    stub.answer("/Groups", *listing(group("it-admins", ident="g1")))
    d = ScimDirectory(stub.url, rules=IT_ADMINS)
    assert (
        d.lookup_group("g1")
        == d.lookup_group("it-admins")
        == Group("it-admins", True, True, frozenset({"g1"}))
    )
    stub.answer("/Groups", *listing(group("it-admins"), group("IT-Admins")))
    with pytest.raises(AmbiguousName):
        ScimDirectory(stub.url).lookup_group("it-admins", NameRule.CASE_INSENSITIVE)
