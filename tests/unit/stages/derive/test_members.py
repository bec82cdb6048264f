"""Group membership changes: every member added or removed is a target principal."""

from __future__ import annotations

from typing import Any

import pytest

from authz.reasons import Denied

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
