"""SCIM /Bulk: a bulk request does what each of its operations does, all of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authz.reasons import Denied, Reason

from .scim_pack import actions, patch, read

M = Reason.MALFORMED_REQUEST
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


def bulk(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [BULK_URN], "Operations": list(operations)}


def test_attack_a_bulk_mixing_a_read_like_edit_and_a_reset_is_both() -> None:
    body = bulk(
        {
            "method": "PATCH",
            "path": "/Users/u-1",
            "data": patch({"op": "replace", "path": "title", "value": "x"}),
        },
        {
            "method": "PATCH",
            "path": "/Users/u-2",
            "data": patch({"op": "replace", "path": "password", "value": "x"}),
        },
    )
    operation = read("POST", "/Bulk", body)
    assert actions(operation) == [("user.password.set", "u-2", None), ("user.update", "u-1", None)]
    assert operation.gated


@pytest.mark.parametrize(
    ("operation", "message", "reason"),
    [
        ({"method": "GET", "path": "/Users/u-1"}, "method must be one of", M),
        ({"method": "patch", "path": "/Users/u-1", "data": {}}, "method must be one of", M),
        ({"method": "DELETE", "path": "/USERS/u-1"}, "no route", Reason.UNKNOWN_ROUTE),
        ({"method": "DELETE", "path": "/Users/bulkId:q1"}, "bulkId", M),
        ({"method": "POST", "path": "/Bulk", "data": bulk({"method": "DELETE", "path": "/Users/u-1"})},
         "inside a bulk", M),
        ({"method": "PUT", "path": "/Users/u-1", "data": {"userName": "x"}}, "full replace", M),
        ({"method": "DELETE", "path": "/Users/u-1", "data": {}}, "data comes with", M),
        ({"method": "DELETE", "path": "/Users/u-1?x=1"}, "resource path", M),
        ({"method": "DELETE", "path": "/Users/u-1", "extra": 1}, "not part of a bulk", M),
    ],
)  # fmt: skip
def test_a_bulk_operation_that_cannot_be_read_alone_refuses_the_request(
    operation: dict[str, Any], message: str, reason: Reason
) -> None:
    with pytest.raises(Denied, match=message) as denied:
        read("POST", "/Bulk", bulk({"method": "DELETE", "path": "/Users/u-0"}, operation))
    assert denied.value.reason is reason


def test_an_empty_bulk_is_refused() -> None:
    with pytest.raises(Denied, match="non-empty Operations"):
        read("POST", "/Bulk", bulk())


def test_attack_a_user_created_in_a_bulk_with_a_password_is_a_credential_change() -> None:
    create = {
        "method": "POST",
        "path": "/Users",
        "bulkId": "q1",  # RFC 7644 §3.7: a POST names itself for later references; none follow
        "version": 'W/"1"',
        "data": {"schemas": [USER_URN], "userName": "carol", "password": "x"},
    }
    body = {**bulk(create), "failOnErrors": 1}
    operation = read("POST", "/Bulk", body)
    assert actions(operation) == [("user.password.set", "carol", None), ("user.create", "carol", None)]
    assert operation.gated


@pytest.mark.parametrize("key", ["FailOnErrors", "fail_on_errors", "failonerrors"])
def test_fail_on_errors_in_any_spelling_is_part_of_a_bulk(key: str) -> None:
    body = {**bulk({"method": "DELETE", "path": "/Users/u-1"}), key: 0}
    assert actions(read("POST", "/Bulk", body)) == [("user.delete", "u-1", None)]


@pytest.mark.parametrize("key", ["id", "meta", "Operation", "failOnError"])
def test_a_key_that_is_not_part_of_a_bulk_request_is_refused(key: str) -> None:
    body = {**bulk({"method": "DELETE", "path": "/Users/u-1"}), key: 1}
    with pytest.raises(Denied, match="not part of a SCIM BulkRequest") as denied:
        read("POST", "/Bulk", body)
    assert denied.value.reason is M


@pytest.mark.parametrize("path", ["Users/u-1", "", 5, None, ["/Users/u-1"]])
def test_a_bulk_path_that_is_not_a_resource_path_is_refused(path: Any) -> None:
    with pytest.raises(Denied, match="resource path") as denied:
        read("POST", "/Bulk", bulk({"method": "DELETE", "path": path}))
    assert denied.value.reason is M


def test_an_operation_in_any_script_is_read_at_the_size_it_was_sent() -> None:
    """The inner body is the operation's data as sent (UTF-8), not \\u-escaped: a bulk of
    non-ASCII names within the body limit is not refused as too large when read alone."""
    name = "é" * 15000  # 30000 bytes in UTF-8, 90000 as \u00e9 escapes: the limit is 65536
    edit = patch({"op": "replace", "path": "displayName", "value": name})
    body = json.dumps(bulk({"method": "PATCH", "path": "/Users/u-1", "data": edit}), ensure_ascii=False)
    assert len(body.encode()) < 65536 < len(json.dumps(edit))
    assert actions(read("POST", "/Bulk", body.encode())) == [("user.update", "u-1", None)]
