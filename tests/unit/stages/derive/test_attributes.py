"""The ``attributes`` reader (``authz/stages/derive/attributes.py``): every top-level attribute of
a JSON object is classified by the route's rules — however it is spelled, wherever a schema URN
puts it — and each action carries the route's group and its rule's reversibility."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authz.config.routes import read_routes
from authz.config.table import Table
from authz.model import Action, Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.operation import OperationStage

# A group whose body names members, owners (irreversibly, say) and a visibility set by replace;
# and an account edit that cannot be undone, whose password is a credential change.
CONFIG = """
[[routes]]
method = "PATCH"
path = "/v1/groups/{gid}"
operation = "group.update"
class = "write"
reversible = true
principal = { path_param = "gid" }
group = "gid"
derive = "attributes"
[[routes.attributes]]
name = "members"
operation = "group.member.add"
class = "privilege_change"
members = "string"
[[routes.attributes]]
name = "owners"
operation = "group.owner.add"
class = "privilege_change"
reversible = false
members = "string"
[[routes.attributes]]
name = "securityEnabled"
operation = "group.security.change"
class = "privilege_change"
reversible = false
[[routes.attributes]]
name = "visibility"
ops = ["replace"]
operation = "group.visibility.change"
class = "privilege_change"
[[routes.attributes]]
name = "labels"
ops = ["add", "remove"]
operation = "group.labels.change"
class = "write"

[[routes]]
method = "PUT"
path = "/v1/accounts/{user}"
operation = "user.replace"
class = "write"
reversible = false
principal = { path_param = "user" }
derive = "attributes"
[[routes.attributes]]
name = "password"
operation = "user.password.set"
class = "credential_change"
reversible = false
"""
ROUTES = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(CONFIG)), CONFIG, NameRule.EXACT)
STAGE = OperationStage(ROUTES, 65536)
SCHEMAS = ["urn:ietf:params:scim:schemas:core:2.0:Group"]
EXTENSION = "urn:example:params:scim:schemas:extension:acme:2.0:Group"
UPDATE = Action("group.update", "write", "g-1", "g-1", True)


def read(method: str, path: str, body: dict[str, Any]) -> Operation:
    return STAGE.resolve(method, path, {"content-type": "application/json"}, json.dumps(body).encode())


def group(body: dict[str, Any]) -> tuple[Action, ...]:
    return read("PATCH", "/v1/groups/g-1", body).actions


def test_each_action_carries_the_routes_group_and_its_rules_reversibility() -> None:
    assert group({"securityEnabled": True, "members": ["u-1"], "owners": ["u-2"], "title": "x"}) == (
        Action("group.security.change", "privilege_change", "g-1", "g-1", False),
        Action("group.member.add", "privilege_change", "u-1", "g-1", True),
        Action("group.owner.add", "privilege_change", "u-2", "g-1", False),
        UPDATE,
    )


def test_an_attribute_no_rule_names_is_the_routes_own_operation_reversible_as_it_is() -> None:
    operation = read("PUT", "/v1/accounts/alice", {"title": "x"})
    assert operation.actions == (Action("user.replace", "write", "alice", None, False),)
    assert not operation.reversible


@pytest.mark.parametrize("first", [True, False], ids=["extension-first", "extension-last"])
def test_attack_members_under_a_schema_urn_are_read_and_so_is_everything_beside_it(first: bool) -> None:
    extension = {EXTENSION: {"Members": ["u-1"], "securityEnabled": True}}
    beside = {"owners": ["u-2"]}
    body = {**extension, **beside} if first else {**beside, **extension}
    assert set(group(body)) == {
        Action("group.security.change", "privilege_change", "g-1", "g-1", False),
        Action("group.member.add", "privilege_change", "u-1", "g-1", True),
        Action("group.owner.add", "privilege_change", "u-2", "g-1", False),
    }


@pytest.mark.parametrize("key", ["schemas", "Schemas", "SCHEMAS"])
def test_attack_schemas_name_no_attribute_and_hide_none_after_them(key: str) -> None:
    body = {"displayName": "ops", key: SCHEMAS, "members": ["u-1"]}
    assert group(body) == (Action("group.member.add", "privilege_change", "u-1", "g-1", True), UPDATE)
    assert group({key: SCHEMAS, "members": ["u-1"]}) == group({"members": ["u-1"]})


def test_a_body_of_schemas_alone_does_nothing_and_is_refused() -> None:
    with pytest.raises(Denied, match="the body does nothing") as denied:
        group({"schemas": SCHEMAS})
    assert denied.value.reason is Reason.MALFORMED_REQUEST


def test_a_json_object_sets_its_attributes_a_rule_for_replace_applies_one_for_add_does_not() -> None:
    assert group({"visibility": "public"}) == (
        Action("group.visibility.change", "privilege_change", "g-1", "g-1", True),
    )
    with pytest.raises(Denied, match="no rule of this route classifies") as denied:
        group({"labels": ["x"]})
    assert denied.value.reason is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "key",
    ["Password", "pass_word", "password.value.hint", 'password[type eq "a[1]"]', "urn:x:Account:password"],
)
def test_attack_password_under_any_spelling_is_a_credential_change(key: str) -> None:
    operation = read("PUT", "/v1/accounts/alice", {key: "n3w", "title": "x"})
    assert operation.actions[0] == Action("user.password.set", "credential_change", "alice", None, False)


def test_a_urn_qualified_key_nested_in_an_attribute_no_rule_names_is_no_refusal() -> None:
    assert group({"settings": {"urn:example:params:label": "x", "name.first": "y"}}) == (UPDATE,)


@pytest.mark.parametrize(
    "value",
    [
        {"settings": {"a": {"b": {"Members": ["u-1"]}}}},
        {"settings": [[{"owners": ["u-1"]}]]},
        {"settings": {"x": [{"urn:x:Group:securityEnabled": True}]}},
    ],
    ids=["deep", "in-lists", "urn-qualified"],
)
def test_attack_a_classified_attribute_nested_at_any_depth_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(Denied, match="may be read as an attribute this route classifies") as denied:
        group(value)
    assert denied.value.reason is Reason.MALFORMED_REQUEST


def test_a_refusal_shows_the_change_cut_to_eighty_characters() -> None:
    """The deny quotes what the body set, never more than 80 characters of it."""
    with pytest.raises(Denied) as denied:
        group({"labels": ["x" * 200]})
    shown = ("set to " + repr(["x" * 200]))[:80]
    assert len(shown) == 80 and shown.endswith("x")
    assert denied.value.message == f"'labels' {shown} (set) is a change no rule of this route classifies"


@pytest.mark.parametrize("attribute", ["members", "owners"])
def test_a_member_that_names_no_principal_is_refused_naming_its_attribute(attribute: str) -> None:
    with pytest.raises(Denied) as denied:
        group({attribute: ["u-1", 5]})
    assert denied.value.reason is Reason.MALFORMED_REQUEST
    assert denied.value.message == f"a member of {attribute!r} must be a principal name"
