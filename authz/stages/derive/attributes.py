"""Attribute rules applied to one attribute change, and the ``attributes`` reader."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from authz.config import AttributeRule, Route
from authz.model import Action
from authz.names import key_skeleton
from authz.reasons import Denied, Reason
from authz.stages.derive.members import member_names

_URN = "urn:"
_ORDER = {"credential_change": 0, "key_export": 0, "privilege_change": 1, "write": 2, "read": 3}


def malformed(message: str) -> Denied:
    return Denied(Reason.MALFORMED_REQUEST, message)


def top_attribute(path: str) -> str:
    """The top-level attribute a SCIM attribute path names, as its ``key_skeleton``:
    ``urn:…:User:password`` → ``password``, ``emails[type eq "work"].value`` → ``emails``,
    ``name.givenName`` → ``name``."""
    head = path.split("[", 1)[0]
    if head.lower().startswith(_URN):
        head = head.rsplit(":", 1)[-1]
    return key_skeleton(head.split(".", 1)[0])


def is_schema_urn(key: str) -> bool:
    """A key that is a schema URN itself (an extension's attributes as an object)."""
    last = key.rsplit(":", 1)[-1]
    return key.lower().startswith(_URN) and bool(last) and last[0].isupper()


class Classifier:
    """One route's rules: which action each attribute change is."""

    def __init__(self, route: Route) -> None:
        assert route.derive is not None
        self.route = route
        self._rules: dict[str, list[AttributeRule]] = {}
        for rule in route.derive.rules:
            self._rules.setdefault(key_skeleton(rule.name), []).append(rule)

    def membership(self, attribute: str) -> bool:
        """Whether ``attribute``'s values are principals (a rule reads them as members)."""
        return any(r.members is not None for r in self._rules.get(attribute, ()))

    def change(
        self, attribute: str, value: Any, op: str | None, target: str, group: str | None
    ) -> Iterator[Action]:
        """The actions one change of ``attribute`` (a top attribute's skeleton) is."""
        rules = self._rules.get(attribute)
        if rules is None:
            yield self.default(target, group)
            return
        rule = next((r for r in rules if _applies(r, value, op)), None)
        if rule is None:
            shown = "removed" if op == "remove" else f"set to {value!r}"[:80]
            raise malformed(
                f"{attribute!r} {shown} ({op or 'set'}) is a change no rule of this route classifies"
            )
        if rule.members is None:
            yield Action(rule.operation, rule.op_class, target, group, rule.reversible)
            return
        for member in member_names(value, rule.members, attribute):
            yield Action(rule.operation, rule.op_class, member, group, rule.reversible)

    def default(self, target: str, group: str | None) -> Action:
        """The route's own operation, for an attribute no rule names."""
        route = self.route
        if route.principal_param is None and route.principal_body_field is None:
            raise malformed(f"{route.describe()} does nothing this route can name a principal for")
        return Action(route.operation, route.op_class, target, group, route.reversible)

    def nested(self, value: Any, where: str) -> None:
        """A rule's attribute nested inside another attribute cannot be classified: refused."""
        for key in _keys(value):
            if key_skeleton(key) in self._rules or (":" in key and top_attribute(key) in self._rules):
                raise malformed(f"{key!r} inside {where!r} may be read as an attribute this route classifies")


def _applies(rule: AttributeRule, value: Any, op: str | None) -> bool:
    if rule.ops is not None and (op or "replace") not in rule.ops:
        return False
    if rule.equals is not None:
        return op != "remove" and isinstance(value, bool) and value is rule.equals
    return True


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def ordered(actions: Iterator[Action] | list[Action]) -> tuple[Action, ...]:
    """Distinct actions, the most demanding first (what records and approvals name)."""
    unique = list(dict.fromkeys(actions))
    if not unique:
        raise malformed("the body does nothing")
    return tuple(sorted(unique, key=lambda a: _ORDER[a.op_class]))


def read_attributes(
    classifier: Classifier, document: Mapping[str, Any], target: str, group: str | None
) -> tuple[Action, ...]:
    """``attributes``: every top-level attribute of a JSON object (schema URNs opened)."""
    actions: list[Action] = []
    for key, value in document.items():
        if key_skeleton(key) == "schemas":
            continue
        if is_schema_urn(key) and isinstance(value, dict):
            actions.extend(read_attributes(classifier, value, target, group))
            continue
        attribute = top_attribute(key)
        classifier.nested(value, key)
        actions.extend(classifier.change(attribute, value, None, target, group))
    return ordered(actions)
