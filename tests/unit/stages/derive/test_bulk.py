"""SCIM /Bulk: a bulk request does what each of its operations does, all of them."""

from __future__ import annotations

from typing import Any

import pytest

from authz.reasons import Denied, Reason

from .scim_pack import actions, patch, read

M = Reason.MALFORMED_REQUEST
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


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
