"""Stage 2: operation — route matching, target principal, and refusing ambiguous requests."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from factories import World, make_world

from authz.config.routes import read_routes
from authz.config.table import Table
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.binding import check_binding
from authz.stages.operation import OperationStage
from authz.tokens.task import Task


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> OperationStage:
    world: World = make_world(tmp_path_factory.mktemp("operation"))
    config = world.config()
    return OperationStage(config.routes, config.max_body_bytes)


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "payload", "operation", "target"),
    [
        ("GET", "/v1/users/alice", b"", "user.read", "alice"),
        ("GET", "/v1/users/alice%40example.org", b"", "user.read", "alice@example.org"),
        ("POST", "/v1/users/alice/password/reset", b"", "user.password.reset", "alice"),
        ("POST", "/v1/users/alice/password/reset", body(user="alice"), "user.password.reset", "alice"),
        ("POST", "/v1/users/bob/mfa/reset", body(reason="lost phone"), "user.mfa.reset", "bob"),
        ("POST", "/v1/groups/it-admins/members", body(user="bob"), "group.member.add", "bob"),
        ("DELETE", "/v1/groups/staff/members/alice", b"", "group.member.remove", "alice"),
    ],
)
def test_routes_resolve(
    stage: OperationStage, method: str, path: str, payload: bytes, operation: str, target: str
) -> None:
    op = stage.resolve(method, path, JSON, payload)
    assert (op.name, op.target) == (operation, target)


def test_class_and_reversibility_come_from_the_route(stage: OperationStage) -> None:
    op = stage.resolve("POST", "/v1/users/alice/password/reset", {}, b"")
    assert op.op_class == "credential_change"
    assert op.reversible is False and op.route.reversible is False
    assert op.state_changing


def reason_for(
    stage: OperationStage, method: str, path: str, payload: bytes = b"", headers: dict[str, str] | None = None
) -> Reason:
    with pytest.raises(Denied) as info:
        stage.resolve(method, path, JSON if headers is None else headers, payload)
    return info.value.reason


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/secrets"),
        ("GET", "/v1/users/alice/extra"),
        ("GET", "/v2/users/alice"),
        ("PUT", "/v1/users/alice"),
        ("PROPFIND", "/v1/users/alice"),
        ("POST", "/v1/users/alice"),
    ],
)
def test_unknown_routes_are_denied(stage: OperationStage, method: str, path: str) -> None:
    assert reason_for(stage, method, path) is Reason.UNKNOWN_ROUTE


@pytest.mark.parametrize(
    "path",
    [
        "/v1/users/alice%2F..%2Fbob/password/reset",  # attack: encoded traversal in a parameter
        "/v1/users/alice%2fbob",
        "/v1/users/alice%5Cbob",
        "/v1/users/%2E%2E",
        "/v1/users/%2e",
        "//v1/users/alice",  # attack: empty segment
        "/v1/users//alice",
        "/v1/users/alice/",
        "/v1/users/alice;x/password/reset",  # attack: path parameter
        "/v1/users/alice;x",
        "/v1/users/./alice",  # attack: dot segments
        "/v1/users/../users/alice",
        "/v1/users/alice/..",
        "/v1/users/al%ice",
        "/v1/users/al%25ice",  # double encoding
        "/v1/users/alice%00",
        "/v1/users/alice%0d%0ax-injected:1",
        "/v1/users/ alice",
        "/v1/users/alice\\bob",
        "/v1/users/alice#frag",
        "v1/users/alice",
        "/v1/users/%ff",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_attack_ambiguous_paths_are_malformed(stage: OperationStage, method: str, path: str) -> None:
    assert reason_for(stage, method, path) is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize("method", ["get", "Get", "G-ET", "", "GET "])
def test_attack_lowercase_or_odd_methods(stage: OperationStage, method: str) -> None:
    assert reason_for(stage, method, "/v1/users/alice") is Reason.MALFORMED_REQUEST


def test_attack_query_string_repeating_the_path(stage: OperationStage) -> None:
    # The query is split off; a route that takes none refuses it rather than let the
    # upstream read a second principal out of it.
    assert reason_for(stage, "GET", "/v1/users/alice?/v1/users/bob") is Reason.MALFORMED_REQUEST
    assert reason_for(stage, "GET", "/v1/users/alice?user=bob") is Reason.MALFORMED_REQUEST


def test_attack_body_principal_disagreeing_with_path(stage: OperationStage) -> None:
    assert reason_for(stage, "POST", "/v1/users/alice/password/reset", body(user="bob")) is (
        Reason.MALFORMED_REQUEST
    )


def test_attack_duplicate_json_key(stage: OperationStage) -> None:
    payload = b'{"user": "alice", "user": "bob"}'
    assert reason_for(stage, "POST", "/v1/users/alice/password/reset", payload) is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"user": "alice"', b"[]", b'"alice"', b"\xff\xfe", b"[" * 100000],
    ids=["syntax", "truncated", "array", "string", "bad-utf8", "deep-nesting"],
)
def test_attack_malformed_json_body(stage: OperationStage, payload: bytes) -> None:
    assert reason_for(stage, "POST", "/v1/groups/staff/members", payload) is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "payload",
    [b"", body(role="viewer"), body(user=7), body(user=""), body(user="a/b"), body(user=["bob"])],
    ids=["empty", "no-field", "number", "empty-string", "slash", "list"],
)
def test_body_only_principal_must_be_present_and_a_name(stage: OperationStage, payload: bytes) -> None:
    assert reason_for(stage, "POST", "/v1/groups/staff/members", payload) is Reason.MALFORMED_REQUEST


def test_compressed_body_is_refused(stage: OperationStage) -> None:
    headers = {"content-encoding": "gzip"}
    assert reason_for(stage, "POST", "/v1/groups/staff/members", body(user="bob"), headers) is (
        Reason.MALFORMED_REQUEST
    )


def test_oversized_body_is_refused(stage: OperationStage) -> None:
    payload = body(user="bob", pad="x" * 70000)
    assert reason_for(stage, "POST", "/v1/groups/staff/members", payload) is Reason.MALFORMED_REQUEST


def test_principals_are_not_normalised(stage: OperationStage) -> None:
    assert stage.resolve("GET", "/v1/users/Alice", {}, b"").target == "Alice"
    assert stage.resolve("GET", "/v1/users/alice%E2%80%8B", {}, b"").target == "alice\u200b"


@pytest.fixture
def fresh(tmp_path_factory: pytest.TempPathFactory) -> OperationStage:
    config = make_world(tmp_path_factory.mktemp("memo")).config()
    return OperationStage(config.routes, config.max_body_bytes)


def test_body_less_requests_are_remembered_and_refusals_are_not(fresh: OperationStage) -> None:
    first = fresh.resolve("GET", "/v1/users/alice", {}, b"")
    assert fresh.resolve("GET", "/v1/users/alice", {}, b"") is first
    for _ in range(2):
        assert reason_for(fresh, "GET", "/v1/users/alice%2F..%2Fbob") is Reason.MALFORMED_REQUEST
        assert reason_for(fresh, "GET", "/v1/secrets") is Reason.UNKNOWN_ROUTE
    assert ("GET", "/v1/users/alice") in fresh._memo and len(fresh._memo) == 1


def test_a_remembered_path_still_checks_each_body(fresh: OperationStage) -> None:
    path = "/v1/users/alice/password/reset"
    assert fresh.resolve("POST", path, {}, b"").target == "alice"
    assert reason_for(fresh, "POST", path, body(user="bob")) is Reason.MALFORMED_REQUEST
    assert reason_for(fresh, "POST", path, b"{not json") is Reason.MALFORMED_REQUEST
    assert ("POST", path) in fresh._memo and len(fresh._memo) == 1


# -- routes that read their operations from the body (derive) ---------------------------------------
DERIVED = """
[[routes]]
method = "PUT"
path = "/v1/accounts/{user}"
operation = "user.replace"
class = "write"
principal = { path_param = "user", body_field = "username" }
derive = "attributes"
[[routes.attributes]]
name = "password"
operation = "user.password.set"
class = "credential_change"
reversible = false

[[packs]]
name = "scim2"
prefix = "/scim/v2"
ids = "names"
"""


@pytest.fixture(scope="module")
def derived() -> OperationStage:
    table = Table(Path("agent-authz.toml"), "", tomllib.loads(DERIVED))
    return OperationStage(read_routes(table, DERIVED, NameRule.EXACT), 65536)


def test_attack_a_body_principal_other_than_the_paths_is_refused_on_a_derived_route(
    derived: OperationStage,
) -> None:
    """The path names alice, the body bob: whichever the upstream acts on, the other was checked."""
    for named in ({"username": "bob"}, {"username": "Alice"}, {"username": "alice "}):
        with pytest.raises(Denied) as info:
            derived.resolve("PUT", "/v1/accounts/alice", JSON, body(**named, password="x"))
        assert info.value.reason is Reason.MALFORMED_REQUEST
    for fields in ({"username": "alice", "password": "x"}, {"password": "x"}):
        op = derived.resolve("PUT", "/v1/accounts/alice", JSON, body(**fields))
        assert op.actions[0].name == "user.password.set" and {a.target for a in op.actions} == {"alice"}


def test_a_create_whose_body_names_no_account_is_refused(derived: OperationStage) -> None:
    """SCIM ``POST /Users`` takes its principal from ``userName`` (``POST /Groups`` from
    ``displayName``): without it nobody can say whom the request creates, and a lenient server
    may still create one — refused at stage 2, not left for the empty name to miss a task."""
    for path, document in (("/scim/v2/Users", body(password="x", title="y")),
                           ("/scim/v2/Groups", body(members=[{"value": "u-1"}]))):  # fmt: skip
        with pytest.raises(Denied) as info:
            derived.resolve("POST", path, JSON, document)
        assert info.value.reason is Reason.MALFORMED_REQUEST and "names no principal" in str(info.value)




NO_PRINCIPAL = """
[[routes]]
method = "PATCH"
path = "/v1/groups/{gid}/settings"
operation = "group.settings.update"
class = "write"
group = "gid"
derive = "attributes"
[[routes.attributes]]
name = "securityEnabled"
operation = "group.security.change"
class = "privilege_change"
"""


def test_attack_a_derived_route_that_names_no_principal_acts_on_a_name_no_task_holds() -> None:
    """A rule's action on a route with neither path_param nor body_field names the empty
    principal: no task can name it (principals are non-empty strings), so stage 4 refuses it."""
    table = Table(Path("agent-authz.toml"), "", tomllib.loads(NO_PRINCIPAL))
    stage = OperationStage(read_routes(table, NO_PRINCIPAL, NameRule.EXACT), 65536)
    op = stage.resolve("PATCH", "/v1/groups/g-1/settings", JSON, body(securityEnabled=True))
    assert [(a.name, a.target, a.group) for a in op.actions] == [("group.security.change", "", "g-1")]
    task = Task(
        "t-1", "task-issuer", "bob", ("spiffe://agents.example.org/agent/a",), "x", "access_change",
        frozenset({"group.security.change"}), frozenset({"g-1", "bob"}), None, 100, 100, 700,
    )  # fmt: skip
    with pytest.raises(Denied) as info:
        check_binding(task, op)
    assert info.value.reason is Reason.PRINCIPAL_NOT_IN_SCOPE
