"""SCIM PATCH, read operation by operation: every attribute it touches, however it is spelled."""

from __future__ import annotations

from typing import Any

import pytest

from authz.reasons import Denied, Reason

from .scim_pack import actions, patch, read

USER = "/Users/2819c223"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SET = ("user.password.set", "2819c223", None)


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "password", "value": "n3w"}],
        [{"op": "replace", "path": "PASSWORD", "value": "n3w"}],
        [{"op": "Replace", "path": f"{CORE}:password", "value": "n3w"}],
        [{"OP": "replace", "PATH": "Pass_Word", "VALUE": "n3w"}],
        [{"op": "replace", "value": {"PASSWORD": "n3w"}}],
        [{"op": "add", "value": {f"{CORE}:password": "n3w"}}],
        [
            {"op": "replace", "value": {"displayName": "A"}},
            {"op": "replace", "path": "password", "value": "x"},
        ],
        [{"op": "remove", "path": "password"}],
    ],
    ids=["path", "path-case", "urn-path", "keys-case", "pathless", "pathless-urn", "second-op", "remove"],
)
def test_attack_password_in_a_patch_is_a_credential_change(operations: list[dict[str, Any]]) -> None:
    operation = read("PATCH", USER, patch(*operations))
    assert actions(operation)[0] == SET
    assert operation.gated and not operation.reversible


def test_attack_password_and_active_together_are_both_actions() -> None:
    body = patch({"op": "replace", "value": {"PASSWORD": "x", "Active": False}})
    assert actions(read("PATCH", USER, body)) == [SET, ("user.disable", "2819c223", None)]


def test_a_profile_edit_is_the_routes_own_write() -> None:
    operation = read("PATCH", USER, patch({"op": "replace", "path": "name.givenName", "value": "Al"}))
    assert actions(operation) == [("user.update", "2819c223", None)]
    assert operation.state_changing and not operation.gated


@pytest.mark.parametrize(
    ("value", "expected"),
    [(False, "user.disable"), (True, "user.enable")],
)
def test_active_is_a_disable_or_an_enable(value: bool, expected: str) -> None:
    assert (
        actions(read("PATCH", USER, patch({"op": "replace", "path": "active", "value": value})))[0][0]
        == expected
    )


@pytest.mark.parametrize("value", ["false", "no", 0, None])
def test_attack_active_set_to_what_a_lenient_server_reads_as_false_is_refused(value: Any) -> None:
    with pytest.raises(Denied) as denied:
        read("PATCH", USER, patch({"op": "replace", "path": "active", "value": value}))
    assert denied.value.reason is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize("value", [{}, {"value": False}, {"value": True}], ids=["bare", "false", "true"])
def test_removing_active_is_refused_whatever_value_it_carries(value: dict[str, Any]) -> None:
    """What a server makes of an account whose ``active`` is removed is its own: neither a
    disable nor an enable can be told, even when the removal carries ``false`` or ``true``."""
    with pytest.raises(Denied, match="no rule of this route classifies"):
        read("PATCH", USER, patch({"op": "remove", "path": "active", **value}))


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ('emails[type eq "work"].value', "user.emails.change"),
        ("phoneNumbers", "user.phone_numbers.change"),
        ("X509CERTIFICATES", "user.x509_certificates.change"),
        ("userName", "user.username.change"),
        ("roles", "user.roles.change"),
    ],
)
def test_mfa_and_identity_attributes_are_credential_or_privilege_changes(path: str, operation: str) -> None:
    result = read("PATCH", USER, patch({"op": "add", "path": path, "value": [{"value": "x"}]}))
    assert actions(result)[0][0] == operation and result.gated


def test_an_extension_schema_is_opened() -> None:
    body = patch({"op": "replace", "value": {ENTERPRISE: {"employeeNumber": "7"}, "password": "x"}})
    assert [a[0] for a in actions(read("PATCH", USER, body))] == ["user.password.set", "user.update"]


@pytest.mark.parametrize(
    "value",
    [{"name": {"password": "x"}}, {ENTERPRISE: {"manager": {"active": False}}}],
    ids=["under-name", "under-extension-attribute"],
)
def test_attack_a_classified_attribute_nested_elsewhere_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(Denied, match="may be read as an attribute this route classifies"):
        read("PATCH", USER, patch({"op": "replace", "value": value}))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"schemas": ["urn:x"], "Operations": [{"op": "add", "path": "title", "value": "x"}]},
            "declares schemas",
        ),
        (
            {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []},
            "non-empty Operations",
        ),
        (patch({"op": "move", "path": "title"}), "op must be add, remove or replace"),
        (patch({"op": "add", "path": "title", "value": "x", "extra": 1}), "is not part of a PATCH operation"),
        (patch({"op": "remove"}), "a remove without path names nothing"),
        (patch({"op": "add", "value": "x"}), "carries an object of attributes"),
        (patch({"op": "add", "value": {}}), "names no attribute"),
        ({**patch({"op": "add", "path": "title", "value": "x"}), "id": "other"}, "may be read as"),
    ],
)
def test_what_the_rules_cannot_classify_is_malformed(body: dict[str, Any], message: str) -> None:
    with pytest.raises(Denied, match=message) as denied:
        read("PATCH", USER, body)
    assert denied.value.reason is Reason.MALFORMED_REQUEST


def test_a_patch_without_a_body_is_refused() -> None:
    with pytest.raises(Denied, match="what it does depends on it"):
        read("PATCH", USER)


CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
GROUP = "/Groups/g-admins"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": CORE, "value": {"password": "n3w"}},
        {"op": "add", "path": CORE.upper(), "value": {"displayName": "A", "Pass_Word": "n3w"}},
        {"op": "replace", "path": ENTERPRISE, "value": {CORE: {"password": "n3w"}}},
    ],
    ids=["core-path", "core-path-case", "urn-in-urn"],
)
def test_attack_password_under_a_schema_urn_path_is_a_credential_change(operation: dict[str, Any]) -> None:
    """A path that is a schema URN itself sets the attributes of its value object: each is read."""
    assert actions(read("PATCH", USER, patch(operation)))[0] == SET


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": CORE_GROUP, "value": {"members": [{"value": "u-1"}], "displayName": "ops"}},
        {"op": "Add", "value": {CORE_GROUP: {"members": [{"value": "u-1"}], "displayName": "ops"}}},
    ],
    ids=["urn-path", "urn-key"],
)
def test_attack_members_added_under_the_group_schema_urn_are_targets(operation: dict[str, Any]) -> None:
    assert actions(read("PATCH", GROUP, patch(operation))) == [
        ("group.member.add", "u-1", "g-admins"),
        ("group.update", "g-admins", "g-admins"),
    ]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (
            {"op": "replace", "path": 'emails[type eq "work"]', "value": {"value": "x@y"}},
            "user.emails.change",
        ),
        (
            {"op": "add", "path": "x509Certificates", "value": {"value": "MII"}},
            "user.x509_certificates.change",
        ),
        ({"op": "replace", "path": "roles", "value": {"value": "admin"}}, "user.roles.change"),
    ],
)
def test_attack_an_object_set_at_an_attribute_path_is_that_attributes_change(
    operation: dict[str, Any], expected: str
) -> None:
    """Only a schema URN's object is opened: ``{"value": …}`` at ``emails`` changes the recovery
    address, it is not a profile edit of an attribute called ``value``."""
    result = read("PATCH", USER, patch(operation))
    assert actions(result) == [(expected, "2819c223", None)] and result.gated


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "name", "value": {"givenName": "A", "password": "x"}},
        {"op": "add", "path": "addresses", "value": [{"ACTIVE": False}]},
        {"op": "replace", "path": ENTERPRISE + ":manager", "value": {f"{CORE}:password": "x"}},
    ],
    ids=["under-name", "in-a-list", "urn-qualified-inside-an-extension-attribute"],
)
def test_attack_a_classified_attribute_nested_under_a_path_is_refused(operation: dict[str, Any]) -> None:
    with pytest.raises(Denied, match="may be read as an attribute this route classifies") as denied:
        read("PATCH", USER, patch(operation))
    assert denied.value.reason is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize("path", ["", "   ", 5, ["password"], {"path": "password"}])
def test_attack_a_path_that_is_empty_or_not_a_string_is_refused(path: Any) -> None:
    """A blank path is no attribute a rule could be matched against: not read as a profile edit."""
    with pytest.raises(Denied) as denied:
        read("PATCH", USER, patch({"op": "replace", "path": path, "value": "x"}))
    assert denied.value.reason is Reason.MALFORMED_REQUEST


NESTED = {"password": "x"}  # a classified attribute inside another: refused where it is


@pytest.mark.parametrize(
    ("operations", "where"),
    [
        (
            [{"op": "add", "path": "title", "value": "x"}, {"op": "add", "path": "name", "value": NESTED}],
            "'password' inside 'Operations[1].value'",
        ),
        ([{"op": "add", "path": CORE, "value": {"name": NESTED}}], "'password' inside 'Operations[0].name'"),
        ([{"op": "replace", "value": {"name": NESTED}}], "'password' inside 'Operations[0].name'"),
        (
            [{"op": "replace", "value": {ENTERPRISE: {"manager": NESTED}}}],
            f"'password' inside 'Operations[0].{ENTERPRISE}.manager'",
        ),
        ([{"op": "replace", "value": {ENTERPRISE: {}}}], f"Operations[0].{ENTERPRISE}: the value names no"),
        ([{"op": "replace", "path": CORE, "value": {}}], "Operations[0]: the value names no attribute"),
    ],
    ids=["nested-under-a-path", "under-a-urn-path", "nested-pathless", "nested-in-an-extension",
         "empty-extension", "empty-urn-path"],  # fmt: skip
)
def test_a_refusal_says_where_in_the_patch_it_is(operations: list[dict[str, Any]], where: str) -> None:
    """The deny names the operation (its index) and the attribute path the refusal is about."""
    with pytest.raises(Denied) as denied:
        read("PATCH", USER, patch(*operations))
    assert denied.value.reason is Reason.MALFORMED_REQUEST and where in denied.value.message
