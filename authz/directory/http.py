"""A directory behind an HTTP JSON lookup, e.g. ``GET /v1/directory/principals/{name}``.

Answers are cached per principal for ``ttl`` seconds (a 404 too: "not in the directory" is an
answer). A lookup waits at most ``timeout`` seconds, and at most ``max_concurrency`` lookups
run at once: a slow directory makes requests fail fast (``DirectoryUnavailable``) instead of
piling up threads.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote

from authz.directory import DirectoryUnavailable, Principal, principal_from

_MAX_ENTRIES = 10_000
_MAX_BYTES = 65_536


class HttpDirectory:
    def __init__(
        self,
        url: str,
        *,
        ttl: float = 30.0,
        timeout: float = 0.5,
        max_concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if "{name}" not in url:
            raise ValueError("the directory URL must contain {name}")
        self._url, self._ttl, self._timeout, self._clock = url, ttl, timeout, clock
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # an internal service
        self._cache: dict[str, tuple[Principal, float]] = {}

    def lookup(self, name: str) -> Principal:
        cached = self._cache.get(name)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        if not self._slots.acquire(blocking=False):  # saturated: fail fast, never queue up threads
            raise DirectoryUnavailable("too many directory lookups in flight")
        try:
            principal = self._fetch(name)
        finally:
            self._slots.release()
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache = {}
        self._cache[name] = (principal, self._clock() + self._ttl)
        return principal

    def _fetch(self, name: str) -> Principal:
        url = self._url.replace("{name}", quote(name, safe=""))
        try:
            with self._opener.open(url, timeout=self._timeout) as resp:
                body = resp.read(_MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return Principal(name, exists=False)
            raise DirectoryUnavailable(f"directory answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DirectoryUnavailable(f"directory unreachable: {exc}") from None
        if len(body) > _MAX_BYTES:
            raise DirectoryUnavailable("directory answer too large")
        try:
            entry = json.loads(body)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            return principal_from(name, entry)
        except ValueError as exc:
            raise DirectoryUnavailable(f"directory answer unusable: {exc}") from None
