"""Stage 2 reads a JSON body once (``authz/stages/body.py``), the way no upstream disagrees — or
refuses it (malformed_request).

Each attack is a body some upstream would read differently from agent-authz: keys in another
case or Unicode form, the principal field where the route does not put it, duplicate keys, a
method override, bodies that are not plainly JSON, too large or too deep.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from factories import World

from authz.config import JsonType, Route
from authz.stages.operation import OperationStage

from .reading import GRANT, JSON, RESET, refused


def _route(world: World, operation: str) -> Route:
    return next(r for r in world.config().routes if r.operation == operation)


# -- JSON keys an upstream reads differently ------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b'{"User": "bob"}',  # Jackson ACCEPT_CASE_INSENSITIVE_PROPERTIES, SCIM (RFC 7643 2.1)
        b'{"USER": "bob"}',
        '{"u\u017fer": "bob"}'.encode(),  # long s: Go's encoding/json folds it to "user"
        b'{"user ": "bob"}',  # a reader that strips whitespace in keys (scim2-server)
        b'{"_user": "bob"}',
        '{"\uff55\uff53\uff45\uff52": "bob"}'.encode(),  # fullwidth, NFKC "user"
        b'{"data": {"user": "bob"}}',  # the declared field nested somewhere else
        b'{"users": [{"user": "bob"}]}',
        b'{"user": "bob", "User": "alice"}',  # two readings in one body
    ],
)
def test_attack_body_key_an_upstream_reads_as_the_principal(stage: OperationStage, body: bytes) -> None:
    refused(stage, "POST", GRANT, body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"user": "bob", "user": "alice"}',
        b'{"user": "bob", "reason": "a", "reason": "b"}',
        b'{"user": "bob", "role": "viewer", "Role": "admin"}',  # a duplicate under folding
        b'{"user": "bob", "role": "viewer", "ROLE": "admin"}',
    ],
)
def test_attack_duplicate_keys_first_or_last_wins(stage: OperationStage, body: bytes) -> None:
    refused(stage, "POST", GRANT, body)


def test_attack_duplicate_keys_at_depth(world: World) -> None:
    route = _route(world, "group.member.add")
    nested = replace(route, body=None)  # no schema: the reading rules alone
    stage = OperationStage((nested,), 65536)
    refused(stage, "POST", GRANT, b'{"user": "bob", "meta": {"a": 1, "a": 2}}')
    refused(stage, "POST", GRANT, b'{"user": "bob", "meta": [{"tag": 1, "Tag": 2}]}')
    assert stage.resolve("POST", GRANT, JSON, b'{"user": "bob", "meta": {"a": 1, "b": 2}}').target == "bob"


@pytest.mark.parametrize(
    "body",
    [
        b'{"user": "bob", "_method": "DELETE"}',
        b'{"user": "bob", "_METHOD": "DELETE"}',
        b'{"user": "bob", "x": {"_method": "DELETE"}}',
    ],
)
def test_attack_method_override_in_the_body(world: World, body: bytes) -> None:
    stage = OperationStage((replace(_route(world, "group.member.add"), body=None),), 65536)
    assert "_method" in refused(stage, "POST", GRANT, body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"user": "alice", "group": "it-admins"}',  # the group comes from the path
        b'{"user": "alice", "meta": {"Group": "it-admins"}}',
    ],
)
def test_attack_path_parameter_repeated_in_the_body(world: World, body: bytes) -> None:
    stage = OperationStage((replace(_route(world, "group.member.add"), body=None),), 65536)
    refused(stage, "POST", GRANT, body)


# -- the body schema --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "why"),
    [
        (GRANT, b'{"user": "alice", "role": "admin", "scope": "all"}', "not a key the route's body schema"),
        (RESET, b'{"user": "alice", "Reason": "x"}', "not the declared key 'reason'"),
        (RESET, b'{"user": "alice", "reason": 5}', "must be a string"),
        (RESET, b'{"user": "alice", "notify": "yes"}', "must be a boolean"),
        (RESET, b'{"user": "alice", "notify": null}', "must be a boolean"),
        (GRANT, b'{"user": ["alice"]}', "must be a string"),
        (GRANT, b'{"user": null}', "must be a string"),
    ],
)
def test_attack_body_outside_the_schema(stage: OperationStage, path: str, body: bytes, why: str) -> None:
    assert why in refused(stage, "POST", path, body)


def test_the_schema_admits_what_it_declares(stage: OperationStage) -> None:
    body = b'{"user": "alice", "notify": true, "reason": "locked out"}'
    assert stage.resolve("POST", RESET, JSON, body).target == "alice"
    assert stage.resolve("POST", RESET, JSON, b"{}").target == "alice"  # every key is optional


def test_nested_schemas_and_arrays(world: World) -> None:
    shape = JsonType(
        "object",
        fields=(
            ("user", JsonType("string")),
            ("profile", JsonType("object", fields=(("title", JsonType("string", nullable=True)),))),
            ("tags", JsonType("array", items=JsonType("string"))),
            ("emails", JsonType("array", items=JsonType("object", fields=(("value", JsonType("string")),)))),
        ),
    )
    stage = OperationStage((replace(_route(world, "group.member.add"), body=shape),), 65536)
    ok = {"user": "bob", "profile": {"title": None}, "tags": ["a"], "emails": [{"value": "b@x"}]}
    assert stage.resolve("POST", GRANT, JSON, json.dumps(ok).encode()).target == "bob"
    for bad in (
        {"user": "bob", "profile": {"title": "x", "admin": True}},
        {"user": "bob", "tags": ["a", 1]},
        {"user": "bob", "emails": [{"value": "b@x", "primary": True}]},
        {"user": "bob", "emails": {"value": "b@x"}},
        {"user": "bob", "profile": "x"},
    ):
        refused(stage, "POST", GRANT, json.dumps(bad).encode())


# -- bodies that are not plainly JSON ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"user": "bob"}', {}),  # no content-type: a lenient framework may sniff a form
        (b'{"user": "bob"}', {"content-type": "application/x-www-form-urlencoded"}),
        (b"user=bob", {"content-type": "application/x-www-form-urlencoded"}),
        (b'{"user": "bob"}', {"content-type": "text/plain"}),
        (b'{"user": "bob"}', {"content-type": "application/json; charset=utf-16"}),
        (b'{"user": "bob"}', {"content-type": "application/json", "content-encoding": "gzip"}),
        ('{"user": "bob"}'.encode("utf-16"), JSON),
        (b'\xef\xbb\xbf{"user": "bob"}', JSON),  # a byte-order mark
        (b'{"user": "bob", "n": NaN}', JSON),
        (b'{"user": "bob", "n": Infinity}', JSON),
        (b'{"user": "bob", "x": "\\ud800"}', JSON),  # an unpaired surrogate
        (b'{"user": "bob", "n": 1e400}', JSON),  # infinite to Python, an error or a decimal elsewhere
        (b'{"user": "bob", "us\\u0000er": "alice"}', JSON),  # a C parser stops at the NUL
        (b'{"user": "bob", "a\\u0085": 1}', JSON),
        (b'{"user": "bob"} {"user": "alice"}', JSON),
        (b'["user", "bob"]', JSON),
        (b"", JSON),  # the principal is only in the body here
        (b"{}", JSON),
    ],
)
def test_attack_body_that_is_not_plain_json(world: World, body: bytes, headers: dict[str, str]) -> None:
    stage = OperationStage((replace(_route(world, "group.member.add"), body=None),), 65536)
    refused(stage, "POST", GRANT, body, headers)


def test_json_media_types_are_accepted(stage: OperationStage) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", "application/scim+json",
                         "Application/JSON; Charset=\"UTF-8\""):  # fmt: skip
        assert (
            stage.resolve("POST", GRANT, {"content-type": content_type}, b'{"user": "bob"}').target == "bob"
        )


def test_attack_deep_nesting(world: World) -> None:
    stage = OperationStage((replace(_route(world, "group.member.add"), body=None),), 65536)
    deep = b'{"user": "bob", "x": ' + b"[" * 40 + b"]" * 40 + b"}"
    assert "deeper" in refused(stage, "POST", GRANT, deep)
    recursion = b'{"user": "bob", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused(
        OperationStage((replace(_route(world, "group.member.add"), body=None),), 10**6),
        "POST",
        GRANT,
        recursion,
    )


@pytest.mark.parametrize("body", [b'{"user": "bob"}', b'{"reason": "x"}', b"[]", b"x"])
def test_attack_body_on_a_route_that_takes_none(world: World, body: bytes) -> None:
    read = _route(world, "user.read")
    stage = OperationStage((read,), 65536)
    refused(stage, "GET", "/v1/users/alice", body)
    assert stage.resolve("GET", "/v1/users/alice", JSON, b"{}").target == "alice"  # nothing to read


# -- how much and how deep a body may be ---------------------------------------------------------
def test_a_body_of_exactly_max_body_bytes_is_read_and_one_byte_more_is_refused(world: World) -> None:
    stage = OperationStage((_route(world, "user.password.reset"),), 64)
    payload = b'{"user": "alice", "reason": "' + b"x" * 30 + b'"}'
    payload += b" " * (64 - len(payload))  # JSON allows trailing whitespace
    assert stage.resolve("POST", RESET, JSON, payload).target == "alice"
    assert "too large" in refused(stage, "POST", RESET, payload + b" ")


def nested(levels: int, opener: str) -> bytes:
    """A body whose innermost value is ``levels`` levels below the top object."""
    inner = "1"
    for _ in range(levels - 1):
        inner = ('{"a": ' + inner + "}") if opener == "{" else f"[{inner}]"
    return f'{{"user": "bob", "x": {inner}}}'.encode()


@pytest.mark.parametrize("opener", ["{", "["])
def test_a_body_nested_max_depth_levels_is_read_and_one_level_more_is_refused(
    world: World, opener: str
) -> None:
    route = replace(_route(world, "group.member.add"), body=None)
    stage = OperationStage((route,), 65536)
    assert stage.resolve("POST", GRANT, JSON, nested(32, opener)).target == "bob"
    assert "deeper than 32" in refused(stage, "POST", GRANT, nested(33, opener))


@pytest.mark.parametrize(
    "body",
    [
        b'{"user": "bob", "a": {"": {"user": "carol"}}}',  # under an empty key, one level down
        b'{"user": "bob", "a": [{"user": "carol"}]}',
        b'{"user": "bob", "a": [{"": {"user": "carol"}}]}',  # an empty key inside an array
    ],
)
def test_attack_principal_field_nested_under_empty_or_array_keys(world: World, body: bytes) -> None:
    route = replace(_route(world, "group.member.add"), body=None)
    refused(OperationStage((route,), 65536), "POST", GRANT, body)


@pytest.mark.parametrize(
    ("operation", "path", "body"),
    [
        ("group.member.add", GRANT, b'{"user": "bob", "": {"user": "carol"}}'),
        ("user.password.reset", RESET, b'{"": {"user": "carol"}}'),
    ],
)
def test_attack_principal_field_nested_under_a_top_level_empty_key(
    world: World, operation: str, path: str, body: bytes
) -> None:
    route = replace(_route(world, operation), body=None)  # no schema: any key, within the rules
    refused(OperationStage((route,), 65536), "POST", path, body)
