"""The configuration's dataclasses (``authz/config/model.py``): what a route says about itself —
gated, state-changing, taking a body or approvals — a body schema's fields, an approver's
identity, and ``ConfigError`` naming file and key."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.config import (
    GATED_CLASSES,
    OPERATION_CLASSES,
    READ_CLASSES,
    Approver,
    ConfigError,
    JsonType,
    Route,
)

READ = Route("GET", "/v1/users/{user}", "user.read", "read", "user", None, True)
RESET = Route(
    "POST",
    "/v1/users/{user}/password/reset",
    "user.password.reset",
    "credential_change",
    "user",
    "user",
    False,
)
GRANT = Route(
    "POST", "/v1/groups/{group}/members", "group.member.add", "privilege_change", None, "user", True
)
TOUCH = Route("POST", "/v1/users/{user}/touch", "user.touch", "write", "user", None, True)


@pytest.mark.parametrize(
    ("route", "takes_body"),
    [(READ, False), (RESET, True), (GRANT, True), (replace(READ, body=JsonType("object")), True)],
    ids=["read", "body-field", "body-field-group", "read-with-schema"],
)
def test_a_route_takes_a_body_when_it_reads_one(route: Route, takes_body: bool) -> None:
    assert route.takes_body is takes_body


def test_a_routes_path_segments_and_parameters() -> None:
    assert RESET.segments == ("v1", "users", "{user}", "password", "reset")
    assert (RESET.params, GRANT.params, Route("GET", "/", "o", "read", None, None, True).params) == (
        ("user",),
        ("group",),
        (),
    )
    assert RESET.describe() == "POST /v1/users/{user}/password/reset"


def test_where_a_route_is_written_does_not_make_it_another() -> None:
    assert replace(READ, line=12) == replace(READ, line=40)


def test_the_classes() -> None:
    assert READ_CLASSES | GATED_CLASSES | {"write"} == set(OPERATION_CLASSES)
    assert not READ_CLASSES & GATED_CLASSES


def test_a_body_schemas_fields_by_name() -> None:
    shape = JsonType(
        "object", fields=(("user", JsonType("string")), ("tags", JsonType("array", JsonType("string"))))
    )
    assert shape.field_map == {"user": JsonType("string"), "tags": JsonType("array", JsonType("string"))}
    assert JsonType("string").field_map == {}


@pytest.mark.parametrize(("principal", "identity"), [("", "dana"), ("dana@example.org", "dana@example.org")])
def test_an_approvers_identity_is_their_directory_name_else_their_id(principal: str, identity: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert Approver("dana", "Dana", key, frozenset({"credential_change"}), principal).identity == identity


def test_the_config_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        READ.path = "/v1/users/{who}"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "text"),
    [("routes[0].path", "agent-authz.toml: routes[0].path: is wrong"), ("", "agent-authz.toml: is wrong")],
)
def test_a_config_error_names_file_and_key(key: str, text: str) -> None:
    error = ConfigError("agent-authz.toml", key, "is wrong")
    assert (str(error), error.file, error.key, error.problem) == (text, "agent-authz.toml", key, "is wrong")
