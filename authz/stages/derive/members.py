"""The principals a membership change names: every member added or removed is a target."""

from __future__ import annotations

import re
from typing import Any

from authz.names import key_skeleton
from authz.reasons import Denied, Reason

# A SCIM member filter: ``members[value eq "id"]``, several joined by ``or``.
_MEMBER_FILTER = re.compile(r'\s*value\s+eq\s+"([^"\\]+)"\s*', re.I)
_ODATA_ID = re.compile(
    r"^https://[a-z0-9.-]+/(?:v1\.0|beta)/(?:directoryObjects|users|groups|servicePrincipals)/([A-Za-z0-9@._-]+)$"
)
_MEMBER_KEYS = {"value", "$ref", "display", "type"}


def _malformed(message: str) -> Denied:
    return Denied(Reason.MALFORMED_REQUEST, message)


def member_names(value: Any, form: str, attribute: str) -> list[str]:
    """The principals of a membership value, in ``form`` (``MEMBER_FORMS``); refused when a
    member does not name exactly one principal, or none is named."""
    items = value if isinstance(value, list) else [value]
    names = [_one(item, form, attribute) for item in items]
    if not names:
        raise _malformed(f"{attribute!r} names no member")
    return names


def _one(item: Any, form: str, attribute: str) -> str:
    if form == "value":
        if not isinstance(item, dict) or not {key_skeleton(k) for k in item} <= _MEMBER_KEYS:
            raise _malformed(
                f"a member of {attribute!r} must be an object with value (and $ref, display, type)"
            )
        values = [v for k, v in item.items() if key_skeleton(k) == "value"]
        if len(values) != 1 or not _name(values[0]):
            raise _malformed(f"a member of {attribute!r} must name one principal in value")
        return str(values[0])
    if form == "odata-id":
        match = _ODATA_ID.match(item) if isinstance(item, str) else None
        if match is None:
            raise _malformed(f"a member of {attribute!r} must be a directory object URL")
        return match.group(1)
    if not _name(item):
        raise _malformed(f"a member of {attribute!r} must be a principal name")
    return str(item)


def filter_members(path: str) -> list[str]:
    """The members ``members[value eq "a" or value eq "b"]`` names; refused for any other filter."""
    inside = path[path.index("[") + 1 : path.rindex("]")] if "[" in path and path.endswith("]") else None
    if inside is None:
        raise _malformed(f'path {path!r}: a member filter is members[value eq "…"]')
    names = []
    for part in re.split(r"\s+or\s+", inside, flags=re.I):
        match = _MEMBER_FILTER.fullmatch(part)
        if match is None:
            raise _malformed(f'path {path!r}: only value eq "…" (joined by or) names the members it removes')
        names.append(match.group(1))
    return names


def _name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and value == value.strip() and "/" not in value
