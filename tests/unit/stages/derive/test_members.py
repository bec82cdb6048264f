"""Group membership changes: every member added or removed is a target principal."""

from __future__ import annotations

from typing import Any

import pytest

from authz.reasons import Denied, Reason
from authz.stages.derive.members import member_names

from .scim_pack import actions, patch, read

GROUP = "/Groups/g-admins"


def test_every_member_added_is_a_target() -> None:
    body = patch({"op": "add", "path": "members", "value": [{"value": "u-1"}, {"VALUE": "u-2", "$ref": "x"}]})
    assert actions(read("PATCH", GROUP, body)) == [
        ("group.member.add", "u-1", "g-admins"),
        ("group.member.add", "u-2", "g-admins"),
    ]


def test_attack_members_added_without_path_are_targets_too() -> None:
    body = patch({"op": "add", "value": {"Members": [{"value": "u-9"}], "displayName": "admins"}})
    assert actions(read("PATCH", GROUP, body)) == [
        ("group.member.add", "u-9", "g-admins"),
        ("group.update", "g-admins", "g-admins"),
    ]


def test_members_removed_by_filter_are_targets() -> None:
    body = patch({"op": "remove", "path": 'members[value eq "u-1" or VALUE EQ "u-2"]'})
    assert [a[1] for a in actions(read("PATCH", GROUP, body))] == ["u-1", "u-2"]


def test_members_removed_by_value_are_targets() -> None:
    body = patch({"op": "remove", "path": "members", "value": [{"value": "u-1"}, {"Value": "u-2"}]})
    assert actions(read("PATCH", GROUP, body)) == [
        ("group.member.remove", "u-1", "g-admins"),
        ("group.member.remove", "u-2", "g-admins"),
    ]


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ({"op": "remove", "path": "members"}, "removes all of them"),
        (
            {"op": "replace", "path": "members", "value": [{"value": "u-1"}]},
            "no rule of this route classifies",
        ),
        ({"op": "remove", "path": 'members[display eq "Bob"]'}, "only value eq"),
        (
            {"op": "remove", "path": 'members[value eq "u-1"]', "value": [{"value": "u-2"}]},
            "carries no value",
        ),
        ({"op": "add", "path": "members", "value": [{"display": "Bob"}]}, "must name one principal"),
        (
            {"op": "add", "path": "members", "value": [{"value": "u-1", "extra": 1}]},
            "must be an object with value",
        ),
        ({"op": "add", "path": "members", "value": []}, "names no member"),
    ],
)
def test_a_membership_change_that_names_no_exact_members_is_refused(
    operation: dict[str, Any], message: str
) -> None:
    with pytest.raises(Denied, match=message):
        read("PATCH", GROUP, patch(operation))


def test_a_group_created_with_members_names_them() -> None:
    body = {"displayName": "ops", "members": [{"value": "u-1"}]}
    assert actions(read("POST", "/Groups", body)) == [
        ("group.member.add", "u-1", None),
        ("group.create", "ops", None),
    ]


def test_a_member_with_every_key_scim_allows_is_one_principal() -> None:
    member = {"value": "u-1", "$ref": "https://scim.example/Users/u-1", "display": "Al", "type": "User"}
    body = patch({"op": "add", "path": "members", "value": [member]})
    assert actions(read("PATCH", GROUP, body)) == [("group.member.add", "u-1", "g-admins")]


@pytest.mark.parametrize(
    "path",
    [
        'members[value eq "u-1" OR value eq "u-2"]',
        'members[VALUE eq "u-1" Or value EQ "u-2"]',
        'members[ value eq "u-1"  or\tvalue eq "u-2" ]',
    ],
)
def test_members_removed_by_a_filter_in_any_case_are_each_a_target(path: str) -> None:
    body = patch({"op": "remove", "path": path})
    assert [a[1] for a in actions(read("PATCH", GROUP, body))] == ["u-1", "u-2"]


def test_a_member_id_holding_brackets_is_named_whole() -> None:
    body = patch({"op": "remove", "path": 'members[value eq "u[1]"]'})
    assert actions(read("PATCH", GROUP, body)) == [("group.member.remove", "u[1]", "g-admins")]


@pytest.mark.parametrize(
    "path",
    ['members[value eq "u-1"', 'members[value eq "u-1"].display', 'members[value eq "u-1"] ', "members["],
)
def test_attack_a_member_filter_that_does_not_close_the_path_is_refused(path: str) -> None:
    """What a removal by ``members[…]`` followed by more removes is not the members it names."""
    with pytest.raises(Denied, match="a member filter is") as denied:
        read("PATCH", GROUP, patch({"op": "remove", "path": path}))
    assert denied.value.reason is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "value",
    ["", " u-1", "u-1 ", "u-1\n", "../u-1", "Users/u-1", 7, None, ["u-1"], {"value": "u-1"}],
)
def test_attack_a_member_value_that_is_not_exactly_one_name_is_refused(value: object) -> None:
    """A member an upstream would trim, resolve as a path or read as several is not the one a
    task names: refused, in either member form that carries names."""
    body = patch({"op": "add", "path": "members", "value": [{"value": "u-2"}, {"value": value}]})
    with pytest.raises(Denied, match="must name one principal") as denied:
        read("PATCH", GROUP, body)
    assert denied.value.reason is Reason.MALFORMED_REQUEST
    with pytest.raises(Denied, match="must be a principal name"):
        member_names(["u-2", value], "string", "members")


def test_members_named_as_strings_are_each_a_principal() -> None:
    assert member_names(["u-1", "bob@example.org"], "string", "members") == ["u-1", "bob@example.org"]
    assert member_names("u-1", "string", "members") == ["u-1"]
    with pytest.raises(Denied, match="names no member"):
        member_names([], "string", "members")
