"""A directory behind HTTP JSON lookups, e.g. ``GET /v1/directory/principals/{name}``.

The service answers 200 with the entry the name refers to — ``{"name": canonical, "kind",
"privileged", "groups", "aliases"}`` (groups: ``{"name", "privileged", "aliases"}``) — 404 when
it knows none, 409 when the name is ambiguous. agent-authz checks that the entry answers to the
name asked under the upstream's ``NameRule``; under exact comparison a name the service does
not know is asked again folded, so a name that folds onto a known principal is refused
(``AmbiguousName``) whether or not the service folds.

Caching, timeout, concurrency and single-flight: ``lookups.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from authz.directory import (
    AmbiguousName,
    DirectoryUnavailable,
    Group,
    Principal,
    answers_to,
    group_from,
    principal_from,
)
from authz.directory.lookups import CONFLICT, Lookups, Missing
from authz.names import NameRule, fold

E = TypeVar("E", Principal, Group)


class HttpDirectory:
    def __init__(
        self,
        url: str,
        *,
        group_url: str | None = None,
        ttl: float = 30.0,
        timeout: float = 0.5,
        max_concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for template in (url, group_url):
            if template is not None and "{name}" not in template:
                raise ValueError("a directory URL must contain {name}")
        self._url, self._group_url = url, group_url
        self._lookups = Lookups(ttl=ttl, timeout=timeout, max_concurrency=max_concurrency, clock=clock)

    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        found = self._resolve(self._url, name, rule, principal_from)
        return found or Principal(name, exists=False)

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        if self._group_url is None:
            return Group(name, exists=False)
        return self._resolve(self._group_url, name, rule, group_from) or Group(name, exists=False)

    def _resolve(
        self, template: str, name: str, rule: NameRule, parse: Callable[[str, dict[str, Any]], E]
    ) -> E | None:
        entry = self._entry(template, name, parse)
        if entry is None and fold(name) != name:
            entry = self._entry(template, fold(name), parse)  # does the name fold onto a known one?
        if entry is None:
            return None
        if answers_to(entry.names, name, rule):
            return entry
        if answers_to(entry.names, name, NameRule.CASE_INSENSITIVE):
            raise AmbiguousName(name, [entry.name])
        raise DirectoryUnavailable(f"the directory answered for {entry.name!r} when asked for {name!r}")

    def _entry(self, template: str, name: str, parse: Callable[[str, dict[str, Any]], E]) -> E | None:
        def parsed(entry: Any) -> E:
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            canonical = entry.get("name", name)
            if not isinstance(canonical, str) or not canonical:
                raise ValueError("name must be a non-empty string")
            return parse(canonical, entry)

        answer = self._lookups.get(template.replace("{name}", quote(name, safe="")), parsed)
        if answer is CONFLICT:
            raise AmbiguousName(name, [])
        return None if isinstance(answer, Missing) else answer
