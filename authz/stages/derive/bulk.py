"""``scim-bulk``: a SCIM BulkRequest (RFC 7644 §3.7), every operation read as if sent alone.

Each operation's ``method`` and ``path`` (relative to the SCIM base, the route's prefix) are
matched against the route table, and its ``data`` read by that route: a bulk request does what
its operations do, all of them. Servers run the other operations when one fails (scim2-server
does), so nothing is left out. ``bulkId`` references name resources that do not exist yet —
no task can name them — and are refused, as are nested bulk requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from authz.model import Action, Operation
from authz.names import key_skeleton
from authz.stages.derive.attributes import malformed, ordered

BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_KEYS = {"method", "path", "bulkid", "data", "version"}

Resolve = Callable[[str, str, bytes], Operation]


def read_bulk(document: Mapping[str, Any], prefix: str, resolve: Resolve) -> tuple[Action, ...]:
    operations = None
    for key, value in document.items():
        skeleton = key_skeleton(key)
        if skeleton == "schemas":
            if value != [BULK_URN]:
                raise malformed(f"a SCIM bulk body declares schemas [{BULK_URN!r}]")
        elif skeleton == "operations":
            operations = value
        elif skeleton != "failonerrors":
            raise malformed(f"{key!r} is not part of a SCIM BulkRequest")
    if not isinstance(operations, list) or not operations:
        raise malformed("a SCIM bulk body holds a non-empty Operations list")
    actions: list[Action] = []
    for i, operation in enumerate(operations):
        actions.extend(_operation(operation, f"Operations[{i}]", prefix, resolve).actions)
    return ordered(actions)


def _operation(operation: Any, where: str, prefix: str, resolve: Resolve) -> Operation:
    if not isinstance(operation, dict):
        raise malformed(f"{where} must be an object")
    parts = {key_skeleton(k): v for k, v in operation.items()}
    if not set(parts) <= _KEYS:
        raise malformed(f"{where} holds a key that is not part of a bulk operation")
    method, path, data = parts.get("method"), parts.get("path"), parts.get("data")
    if not isinstance(method, str) or method not in _METHODS:
        raise malformed(f"{where}: method must be one of {', '.join(_METHODS)} (upper case)")
    if not isinstance(path, str) or not path.startswith("/") or "?" in path:
        raise malformed(f"{where}: path must be a resource path such as /Users/{{id}}")
    if "bulkid:" in json.dumps([path, data]).lower():
        raise malformed(f"{where}: bulkId references name resources no task can name")
    if (data is None) != (method == "DELETE"):
        raise malformed(f"{where}: data comes with POST, PUT and PATCH only")
    body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode()
    inner = resolve(method, prefix + path, body)
    if inner.route.derive is not None and inner.route.derive.reader == "scim-bulk":
        raise malformed(f"{where}: a bulk request inside a bulk request")
    return inner
