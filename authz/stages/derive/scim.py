"""``scim-patch``: a SCIM PatchOp (RFC 7644 §3.5.2), every operation classified.

An operation touches the attribute its ``path`` names (``password``, ``PASSWORD``,
``urn:ietf:params:scim:schemas:core:2.0:User:password``, ``emails[type eq "work"].value``),
or, without ``path``, every attribute of its ``value`` object (schema URN keys opened).
Structural keys (``Operations``, ``op``, ``path``, ``value``) and ``op`` values are read in any
case, as lenient servers read them. A membership change names every member it adds or removes
(``members[value eq "…"]`` for a removal by filter); a removal that names none (``remove
members``: all of them) cannot be bound to principals and is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from authz.model import Action
from authz.names import key_skeleton
from authz.stages.derive.attributes import Classifier, is_schema_urn, malformed, ordered, top_attribute
from authz.stages.derive.members import filter_members

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_OPS = ("add", "remove", "replace")


def read_patch(
    classifier: Classifier, document: Mapping[str, Any], target: str, group: str | None
) -> tuple[Action, ...]:
    operations = None
    for key, value in document.items():
        skeleton = key_skeleton(key)
        if skeleton == "schemas":
            if value != [PATCH_URN]:
                raise malformed(f"a SCIM PATCH body declares schemas [{PATCH_URN!r}]")
        elif skeleton == "operations":
            operations = value
        else:
            raise malformed(f"{key!r} is not part of a SCIM PatchOp")
    if not isinstance(operations, list) or not operations:
        raise malformed("a SCIM PATCH body holds a non-empty Operations list")
    actions: list[Action] = []
    for i, operation in enumerate(operations):
        actions.extend(_operation(classifier, operation, f"Operations[{i}]", target, group))
    return ordered(actions)


def _operation(
    classifier: Classifier, operation: Any, where: str, target: str, group: str | None
) -> Iterator[Action]:
    op, path, value, has_value = _parts(operation, where)
    if path is not None:
        attribute = top_attribute(path)
        if classifier.membership(attribute) and op == "remove":
            value = _removed_members(path, value, has_value, where)
        if is_schema_urn(path) and isinstance(value, dict):
            yield from _values(classifier, op, value, where, target, group)
            return
        classifier.nested(value, f"{where}.value")
        yield from classifier.change(attribute, value, op, target, group)
        return
    if op == "remove":
        raise malformed(f"{where}: a remove without path names nothing (RFC 7644 §3.5.2.2)")
    if not isinstance(value, dict):
        raise malformed(f"{where}: an {op} without path carries an object of attributes")
    yield from _values(classifier, op, value, where, target, group)


def _values(
    classifier: Classifier, op: str, value: Mapping[str, Any], where: str, target: str, group: str | None
) -> Iterator[Action]:
    if not value:
        raise malformed(f"{where}: the value names no attribute")
    for key, item in value.items():
        if is_schema_urn(key) and isinstance(item, dict):
            yield from _values(classifier, op, item, f"{where}.{key}", target, group)
            continue
        classifier.nested(item, f"{where}.{key}")
        yield from classifier.change(top_attribute(key), item, op, target, group)


def _parts(operation: Any, where: str) -> tuple[str, str | None, Any, bool]:
    if not isinstance(operation, dict):
        raise malformed(f"{where} must be an object")
    parts: dict[str, Any] = {}
    for key, value in operation.items():
        skeleton = key_skeleton(key)
        if skeleton not in ("op", "path", "value"):
            raise malformed(f"{where}: {key!r} is not part of a PATCH operation")
        parts[skeleton] = value
    op = parts.get("op")
    if not isinstance(op, str) or op.lower() not in _OPS:
        raise malformed(f"{where}: op must be add, remove or replace")
    path = parts.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        raise malformed(f"{where}: path must be a non-empty string")
    return op.lower(), path, parts.get("value"), "value" in parts


def _removed_members(path: str, value: Any, has_value: bool, where: str) -> Any:
    """The members a removal names: by filter (``members[value eq "…"]``) or in its value;
    a bare ``remove members`` removes every member, none named, and is refused."""
    if "[" in path:
        if has_value:
            raise malformed(f"{where}: a removal by filter carries no value")
        return [{"value": name} for name in filter_members(path)]
    if not has_value:
        raise malformed(f"{where}: removing {path!r} without naming each member removes all of them")
    return value
