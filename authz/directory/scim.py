"""A directory read from the SCIM server itself (``[directory] kind = "scim"``): RFC 7644.

The principal a name or id refers to is the User that ``GET /Users/{name}`` answers (the name
is a server id, or a userName on servers that take one there, like Canaille) or else the one
whose userName is the name: ``GET /Users?filter=userName eq "…"``, matched again here, folded
(RFC 7643 §4.1: userName is case-insensitive), because some servers ignore filters and answer
every user; a name with an ``@`` that is no userName is looked up as an e-mail address
(``emails.value eq``, matched here too: approvers and on-behalf-of users are often named so).
Its canonical name is its userName; its id, externalId and email addresses are its other names
(separation of duties compares them all). Groups likewise by id or displayName.

What the policy sees: ``active``; ``roles`` (their values); ``groups`` (displayNames, from the
User's ``groups`` or, for servers that do not compute it or give no ``display``, the Groups
whose members name it); ``kind`` service_account when ``userType`` is one of ``service_types``;
``privileged`` when a role or a group matches ``privileged_roles`` / ``privileged_groups``
(globs, folded).

Cache, timeout, concurrency and failures are the HTTP provider's (``lookups.py``). A list the
server cut short (``totalResults`` above what it returned) without the name in it cannot say
"unknown", nor can a cut-short Groups list say which groups a user is in: both are
``DirectoryUnavailable``.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from authz.directory import AmbiguousName, DirectoryUnavailable, Group, Principal, answers_to
from authz.directory.lookups import CONFLICT, Lookups, Missing
from authz.names import NameRule, fold

SERVICE_TYPES = ("service", "service_account", "serviceaccount", "machine", "bot")


@dataclass(frozen=True)
class ScimRules:
    """How SCIM attributes become the policy's: which userTypes are machines, which roles and
    groups are privileged (globs over folded names)."""

    service_types: tuple[str, ...] = SERVICE_TYPES
    privileged_roles: tuple[str, ...] = ("*",)  # SCIM roles are administrative by nature
    privileged_groups: tuple[str, ...] = ()

    def is_machine(self, user_type: str) -> bool:
        return fold(user_type) in {fold(t) for t in self.service_types}

    def privileged_role(self, role: str) -> bool:
        return _matches(role, self.privileged_roles)

    def privileged_group(self, group: str) -> bool:
        return _matches(group, self.privileged_groups)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(fold(name), fold(p)) for p in patterns)


class ScimDirectory:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        rules: ScimRules | None = None,
        ttl: float = 30.0,
        timeout: float = 0.5,
        max_concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._rules = rules or ScimRules()
        headers = {"Accept": "application/scim+json, application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._lookups = Lookups(
            ttl=ttl, timeout=timeout, max_concurrency=max_concurrency, clock=clock,
            max_bytes=1 << 20, headers=headers,
        )  # fmt: skip

    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        user = self._find("Users", "userName", name, rule)
        if user is None and "@" in name:  # an approver's or on-behalf-of user's e-mail address
            user = self._by_email(name)
        return Principal(name, exists=False) if user is None else self._principal(user)

    def _by_email(self, address: str) -> dict[str, Any] | None:
        """The one User with this e-mail address (compared folded: SCIM's emails.value is not
        caseExact); two are ambiguous."""
        query = urlencode({"filter": f'emails.value eq "{_quoted(address)}"'}, quote_via=quote)
        users, complete = self._list(f"{self._base}/Users?{query}", "userName")
        mine = [u for u in users if fold(address) in {fold(e) for e in _values(u.get("emails"))}]
        if not mine and not complete:
            raise DirectoryUnavailable(f"the SCIM server cut its Users list short without {address!r}")
        if len(mine) > 1:
            raise AmbiguousName(address, [u["userName"] for u in mine])
        return dict(mine[0]) if mine else None

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        group = self._find("Groups", "displayName", name, rule)
        if group is None:
            return Group(name, exists=False)
        display = group["displayName"]
        privileged = self._rules.privileged_group(display)
        return Group(display, True, privileged, frozenset({group["id"]}) - {display})

    # -- finding a resource by id or name ----------------------------------------------------
    def _find(self, kind: str, key: str, name: str, rule: NameRule) -> dict[str, Any] | None:
        by_id = self._lookups.get(f"{self._base}/{kind}/{quote(name, safe='')}", _resource(key))
        if by_id is CONFLICT:
            raise DirectoryUnavailable(f"the SCIM server answered 409 for {kind}/{name}")
        if not isinstance(by_id, Missing) and answers_to(_names(by_id, key), name, rule):
            return dict(by_id)
        query = urlencode({"filter": f'{key} eq "{_quoted(name)}"'}, quote_via=quote)
        resources, complete = self._list(f"{self._base}/{kind}?{query}", key)
        same = [r for r in resources if answers_to((r[key],), name, NameRule.CASE_INSENSITIVE)]
        if not complete and (not same or rule is not NameRule.EXACT):
            # the rest could hold the name, or a second one that folds onto it
            raise DirectoryUnavailable(f"the SCIM server cut its {kind} list short: {name!r} undecided")
        if len(same) > 1:
            raise AmbiguousName(name, [r[key] for r in same])
        if not same:
            return None
        if not answers_to(_names(same[0], key), name, rule):
            raise AmbiguousName(name, [same[0][key]])
        return dict(same[0])

    def _list(self, url: str, key: str) -> tuple[list[dict[str, Any]], bool]:
        listed = self._lookups.get(url, _listing(key))
        if isinstance(listed, Missing):
            raise DirectoryUnavailable(f"the SCIM server cannot search ({listed.value}): {url}")
        return listed

    def _principal(self, user: Mapping[str, Any]) -> Principal:
        groups = _displays(user["groups"]) if "groups" in user else None
        if groups is None:  # not computed, or without displayNames: the Groups naming the user
            groups = self._groups_of(user)
        roles = frozenset(_values(user.get("roles")))
        user_type = user.get("userType")
        machine = isinstance(user_type, str) and self._rules.is_machine(user_type)
        privileged = any(self._rules.privileged_role(r) for r in roles) or any(
            self._rules.privileged_group(g) for g in groups
        )
        name = user["userName"]
        aliases = {user["id"], *_values(user.get("emails"))}
        if isinstance(user.get("externalId"), str) and user["externalId"]:
            aliases.add(user["externalId"])
        return Principal(
            name, True, "service_account" if machine else "human", privileged, frozenset(groups),
            frozenset(aliases) - {name}, active=user.get("active", True) is not False, roles=roles,
        )  # fmt: skip

    def _groups_of(self, user: Mapping[str, Any]) -> frozenset[str]:
        """The displayNames of the Groups whose members name the user (by id or userName)."""
        ident, name = user["id"], user["userName"]
        query = urlencode({"filter": f'members.value eq "{_quoted(ident)}"'}, quote_via=quote)
        groups, complete = self._list(f"{self._base}/Groups?{query}", "displayName")
        if not complete:  # a group left out may be a privileged one
            raise DirectoryUnavailable("the SCIM server cut its Groups list short")
        mine = [g for g in groups if {ident, name} & set(_values(g.get("members")))]
        return frozenset(g["displayName"] for g in mine)


def _quoted(value: str) -> str:
    """A string for a SCIM filter's double quotes (RFC 7644 §3.4.2.2: JSON string rules)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _names(resource: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return (resource[key], resource["id"])


def _resource(key: str) -> Callable[[Any], dict[str, Any]]:
    def parse(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValueError("not a SCIM resource")
        for field in ("id", key):
            if not isinstance(body.get(field), str) or not body[field]:
                raise ValueError(f"a SCIM resource without {field}")
        return body

    return parse


def _listing(key: str) -> Callable[[Any], tuple[list[dict[str, Any]], bool]]:
    one = _resource(key)

    def parse(body: Any) -> tuple[list[dict[str, Any]], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("Resources", []), list):
            raise ValueError("not a SCIM ListResponse")
        resources = [one(r) for r in body.get("Resources", [])]
        total = body.get("totalResults", len(resources))
        if not isinstance(total, int) or isinstance(total, bool):
            raise ValueError("totalResults must be an integer")
        return resources, total <= len(resources)

    return parse


def _values(items: Any) -> list[str]:
    """The ``value``s of a multi-valued attribute (``[{"value": …}, …]``)."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise DirectoryUnavailable("a SCIM multi-valued attribute that is not a list of objects")
    return [i["value"] for i in items if isinstance(i.get("value"), str)]


def _displays(items: Sequence[Any]) -> frozenset[str] | None:
    """The displayNames of a User's ``groups``; None when one has no ``display`` (optional, RFC
    7643 §4.1.2): its ``value`` is an id, which no ``privileged_groups`` glob would match."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise DirectoryUnavailable("a SCIM User's groups that are not a list of objects")
    names = [i.get("display") for i in items]
    if not all(isinstance(n, str) and n for n in names):
        return None
    return frozenset(names)
