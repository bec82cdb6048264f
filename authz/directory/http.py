"""A directory behind HTTP JSON lookups, e.g. ``GET /v1/directory/principals/{name}``.

The service answers 200 with the entry the name refers to — ``{"name": canonical, "kind",
"privileged", "groups", "aliases"}`` (groups: ``{"name", "privileged", "aliases"}``) — 404 when
it knows none, 409 when the name is ambiguous. agent-authz checks that the entry answers to the
name asked under the upstream's ``NameRule``; under exact comparison a name the service does
not know is asked again folded, so a name that folds onto a known principal is refused
(``AmbiguousName``) whether or not the service folds.

Answers are cached per name for ``ttl`` seconds (a 404 too: "not in the directory" is an
answer), in a bounded cache. A lookup waits at most ``timeout`` seconds, and at most
``max_concurrency`` lookups run at once: a slow directory makes requests fail fast
(``DirectoryUnavailable``) instead of piling up threads. Concurrent requests about one name
share one lookup (the first asks, the others wait for its answer).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from authz.cache import BoundedCache
from authz.directory import (
    AmbiguousName,
    DirectoryUnavailable,
    Group,
    Principal,
    answers_to,
    group_from,
    principal_from,
)
from authz.names import NameRule, fold

_MAX_ENTRIES = 10_000
_MAX_BYTES = 65_536
_AMBIGUOUS = object()  # the service answered 409
E = TypeVar("E", Principal, Group)


class _Flight:
    """A lookup in progress, which other requests for the same name wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Any = None
        self.error: DirectoryUnavailable | None = None


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
        self._ttl, self._timeout, self._clock = ttl, timeout, clock
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # an internal service
        self._cache: BoundedCache[str, tuple[Any, float]] = BoundedCache(_MAX_ENTRIES)
        self._inflight: dict[str, _Flight] = {}
        self._inflight_lock = threading.Lock()

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
        url = template.replace("{name}", quote(name, safe=""))
        cached = self._cache.get(url)
        if cached is None or cached[1] <= self._clock():
            cached = (self._single_flight(url, name, parse), self._clock() + self._ttl)
            self._cache.put(url, cached)
        if cached[0] is _AMBIGUOUS:
            raise AmbiguousName(name, [])
        return cached[0]  # type: ignore[no-any-return]

    def _single_flight(self, url: str, name: str, parse: Callable[[str, dict[str, Any]], E]) -> Any:
        """One lookup per name at a time: requests asking for a name being looked up wait for
        that answer (at most the timeout) instead of taking a slot of their own — a burst of
        requests about one account is one lookup, not a saturated directory."""
        with self._inflight_lock:
            flight = self._inflight.get(url)
            leader = flight is None
            if flight is None:
                flight = self._inflight[url] = _Flight()
        if not leader:
            if not flight.done.wait(self._timeout):
                raise DirectoryUnavailable("directory lookup timed out")
            if flight.error is not None:
                raise flight.error
            return flight.answer
        try:
            flight.answer = self._fetch(url, name, parse)
        except DirectoryUnavailable as exc:
            flight.error = exc
            raise
        finally:
            with self._inflight_lock:
                del self._inflight[url]
            flight.done.set()
        return flight.answer

    def _fetch(self, url: str, name: str, parse: Callable[[str, dict[str, Any]], E]) -> Any:
        if not self._slots.acquire(blocking=False):  # saturated: fail fast, never queue up threads
            raise DirectoryUnavailable("too many directory lookups in flight")
        try:
            body = self._get(url)
        finally:
            self._slots.release()
        if body is None or body is _AMBIGUOUS:
            return body
        try:
            entry = json.loads(body)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            canonical = entry.get("name", name)
            if not isinstance(canonical, str) or not canonical:
                raise ValueError("name must be a non-empty string")
            return parse(canonical, entry)
        except ValueError as exc:
            raise DirectoryUnavailable(f"directory answer unusable: {exc}") from None

    def _get(self, url: str) -> Any:
        try:
            with self._opener.open(url, timeout=self._timeout) as resp:
                body = resp.read(_MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # its response, and the connection under it
            if exc.code == 404:
                return None
            if exc.code == 409:
                return _AMBIGUOUS
            raise DirectoryUnavailable(f"directory answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DirectoryUnavailable(f"directory unreachable: {exc}") from None
        if len(body) > _MAX_BYTES:
            raise DirectoryUnavailable("directory answer too large")
        return body
