"""Stage 2 reads a request's method, path and query once (``authz/stages/operation.py``), the way
no upstream disagrees — or refuses it (malformed_request).

Each attack is a request some upstream would read differently from agent-authz: a method or
path override header, a second principal or a method in the query, a name spelt for a lenient
query parser, a matrix parameter.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import World

from authz.config import Route
from authz.stages.operation import OperationStage

from .reading import GRANT, JSON, refused


# -- method and path overrides ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    ["x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url",
     "x_http_method_override"],
)  # fmt: skip
def test_attack_method_override_header(stage: OperationStage, header: str) -> None:
    assert header in refused(stage, "GET", "/v1/users/alice", headers={header: "DELETE"})
    assert header in refused(stage, "GET", "/v1/users/alice", headers={header: "GET"})  # any value


# -- the query string -------------------------------------------------------------------------------
def _route(world: World, operation: str) -> Route:
    return next(r for r in world.config().routes if r.operation == operation)


@pytest.fixture(scope="module")
def queried(world: World) -> OperationStage:
    routes = tuple(replace(r, allow_query=True) for r in world.config().routes)
    return OperationStage(routes, 65536)


@pytest.mark.parametrize(
    "query",
    [
        "user=bob",
        "USER=bob",
        "%75ser=bob",  # percent-encoded name
        "u%C5%BFer=bob",
        "filter[user]=bob",  # qs / Rails nested parameters
        "user[]=bob",
        "a=1&user=bob",
        "_method=DELETE",
        "_METHOD=POST",
        "x=1;user=bob",  # ';' as a separator (older parsers)
        "group=it-admins",  # a path parameter from the query
    ],
)
def test_attack_second_principal_or_method_in_the_query(queried: OperationStage, query: str) -> None:
    refused(queried, "POST", f"{GRANT}?{query}", b'{"user": "bob"}')


def test_harmless_query_parameters_pass_where_the_route_allows(queried: OperationStage) -> None:
    assert queried.resolve("GET", "/v1/users/alice?attributes=emails&x=1", JSON, b"").target == "alice"


def test_a_query_on_a_route_that_takes_none(stage: OperationStage) -> None:
    assert "takes no query" in refused(stage, "GET", "/v1/users/alice?fields=all")


def test_a_list_of_query_names_is_exact(world: World) -> None:
    route = replace(_route(world, "user.read"), allow_query=True, query_names=frozenset({"attributes"}))
    stage = OperationStage((route,), 65536)
    assert stage.resolve("GET", "/v1/users/alice?attributes=x", JSON, b"").target == "alice"
    refused(stage, "GET", "/v1/users/alice?Attributes=x")
    refused(stage, "GET", "/v1/users/alice?fields=x")


def test_matrix_parameters_are_refused(stage: OperationStage) -> None:
    refused(stage, "GET", "/v1/users/alice;user=bob")
    refused(stage, "GET", "/v1/users/alice%3Buser=bob")


@pytest.mark.parametrize(
    "query",
    [
        "us+er=bob",  # '+' is a space in a form-encoded name: "us er" reads as "user"
        "user=bob=x",  # the name ends at the first '=': this is "user", valued "bob=x"
        "a=1#user=bob",  # a fragment in the query: parsers split it differently
    ],
)
def test_attack_query_name_spelt_for_a_lenient_reader(queried: OperationStage, query: str) -> None:
    refused(queried, "POST", f"{GRANT}?{query}", b'{"user": "bob"}')


def test_a_query_value_may_hold_equals_signs(world: World) -> None:
    route = replace(_route(world, "user.read"), allow_query=True, query_names=frozenset({"attributes"}))
    stage = OperationStage((route,), 65536)
    assert stage.resolve("GET", "/v1/users/alice?attributes=a=b", JSON, b"").target == "alice"


def test_attack_query_name_that_is_not_utf8_once_decoded(queried: OperationStage) -> None:
    assert "not valid UTF-8" in refused(queried, "GET", "/v1/users/alice?%FFuser=bob")


@pytest.mark.parametrize("name", ["X", "X.X", "a.", "%58"])
def test_a_segment_that_is_not_only_dots_is_a_name(stage: OperationStage, name: str) -> None:
    assert stage.resolve("GET", f"/v1/users/{name}", JSON, b"").target == name.replace("%58", "X")
