"""A bounded mapping for the request path: at most ``limit`` entries, least recently used out first.

Every cache a request can fill (verified certificates and tokens, resolved routes, policy
verdicts, directory answers, response templates) is one of these, so no number of distinct
inputs an agent can send makes a cache grow without bound or rebuild itself: a lookup and an
insertion are O(1) whatever the size (``OrderedDict``'s ``move_to_end`` / ``popitem``).
Thread-safe: the pipeline runs in several gRPC worker threads. A lookup takes no lock (each
``OrderedDict`` call is atomic under the GIL for keys of built-in types — str, bytes, and tuples
and frozensets of them, never objects hashed by Python code —, and an entry
evicted between the lookup and its move to the end is simply not moved); insertions and
evictions are serialised by a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a cache holds at least one entry")
        self.limit = limit
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            try:
                self._data.move_to_end(key)
            except KeyError:  # evicted by another thread in between: still a valid answer
                pass
        return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.limit:
                self._data.popitem(last=False)
                self.evictions += 1

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data
