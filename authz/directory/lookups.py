"""HTTP lookups for directory providers: cached, one at a time per URL, bounded, fail fast.

Answers are cached per URL for ``ttl`` seconds (a 404 too: "not in the directory" is an answer),
in a bounded cache. A lookup waits at most ``timeout`` seconds, and at most ``max_concurrency``
lookups run at once: a slow directory makes requests fail fast (``DirectoryUnavailable``)
instead of piling up threads. Concurrent requests for one URL share one lookup (the first
asks, the others wait for its answer).
"""

from __future__ import annotations

import enum
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from authz.cache import BoundedCache
from authz.directory import DirectoryUnavailable

_MAX_ENTRIES = 10_000
T = TypeVar("T")


class Missing(enum.Enum):
    """What a lookup may answer instead of an entry: the service said 404, or 409 (ambiguous)."""

    NOT_FOUND = 404
    CONFLICT = 409


NOT_FOUND, CONFLICT = Missing.NOT_FOUND, Missing.CONFLICT


class _Flight:
    """A lookup in progress, which other requests for the same URL wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Any = None
        self.error: DirectoryUnavailable | None = None


class Lookups:
    """GETs of JSON, each answer parsed by ``parse`` (a ValueError: the directory answered
    nonsense) and cached with the parsed value, or NOT_FOUND / CONFLICT."""

    def __init__(
        self,
        *,
        ttl: float = 30.0,
        timeout: float = 0.5,
        max_concurrency: int = 8,
        max_bytes: int = 65_536,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._timeout, self._clock = ttl, timeout, clock
        self._max_bytes = max_bytes
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # an internal service
        self._cache: BoundedCache[str, tuple[Any, float]] = BoundedCache(_MAX_ENTRIES)
        self._inflight: dict[str, _Flight] = {}
        self._inflight_lock = threading.Lock()

    def get(self, url: str, parse: Callable[[Any], T]) -> T | Missing:
        """The parsed answer at ``url``, NOT_FOUND or CONFLICT (raises ``DirectoryUnavailable``).
        ``parse`` must be the same for every call with one URL: its result is what is cached."""
        cached = self._cache.get(url)
        if cached is None or cached[1] <= self._clock():
            cached = (self._single_flight(url, parse), self._clock() + self._ttl)
            self._cache.put(url, cached)
        return cached[0]  # type: ignore[no-any-return]

    def _single_flight(self, url: str, parse: Callable[[Any], T]) -> Any:
        """One lookup per URL at a time: a burst of requests about one account is one lookup,
        not a saturated directory."""
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
            flight.answer = self._fetch(url, parse)
        except DirectoryUnavailable as exc:
            flight.error = exc
            raise
        finally:
            with self._inflight_lock:
                del self._inflight[url]
            flight.done.set()
        return flight.answer

    def _fetch(self, url: str, parse: Callable[[Any], T]) -> Any:
        if not self._slots.acquire(blocking=False):  # saturated: fail fast, never queue up threads
            raise DirectoryUnavailable("too many directory lookups in flight")
        try:
            body = self._get(url)
        finally:
            self._slots.release()
        if isinstance(body, Missing):
            return body
        try:
            return parse(json.loads(body))
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError included
            raise DirectoryUnavailable(f"directory answer unusable: {exc}") from None

    def _get(self, url: str) -> Any:
        request = urllib.request.Request(url, headers=self._headers)
        try:
            with self._opener.open(request, timeout=self._timeout) as resp:
                body = resp.read(self._max_bytes + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # its response, and the connection under it
            if exc.code == 404:
                return NOT_FOUND
            if exc.code == 409:
                return CONFLICT
            raise DirectoryUnavailable(f"directory answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DirectoryUnavailable(f"directory unreachable: {exc}") from None
        if len(body) > self._max_bytes:
            raise DirectoryUnavailable("directory answer too large")
        return body
