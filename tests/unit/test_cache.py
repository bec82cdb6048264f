"""The bounded cache every request-path cache uses: at most ``limit`` entries, LRU out first."""

from __future__ import annotations

import threading

import pytest

from authz.cache import BoundedCache


def test_holds_at_most_its_limit_and_evicts_the_least_recently_used() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for i in range(3):
        cache.put(i, str(i))
    assert cache.get(0) == "0"  # 0 is now the most recently used
    cache.put(3, "3")
    assert len(cache) == 3 and 1 not in cache and cache.get(0) == "0" and cache.evictions == 1


def test_a_put_of_a_known_key_replaces_it_without_evicting() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)
    assert (cache.get("a"), cache.get("b"), cache.evictions) == (3, 2, 0)


def test_pop_and_clear() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.pop("a")
    cache.pop("missing")
    assert cache.get("a") is None
    cache.put("b", 2)
    cache.clear()
    assert len(cache) == 0


def test_a_cache_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_concurrent_use_keeps_the_bound() -> None:
    cache: BoundedCache[int, int] = BoundedCache(64)

    def work(offset: int) -> None:
        for i in range(5000):
            cache.put(offset + i, i)
            cache.get(offset + i // 2)

    threads = [threading.Thread(target=work, args=(n * 10_000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 64 and cache.evictions == 4 * 5000 - 64


def test_a_cache_of_one_entry_keeps_the_last_one() -> None:
    cache: BoundedCache[str, int] = BoundedCache(1)
    cache.put("a", 1)
    cache.put("b", 2)
    assert (cache.get("a"), cache.get("b"), len(cache), cache.evictions) == (None, 2, 1, 1)


@pytest.mark.parametrize("limit", [0, -1])
def test_a_cache_holds_at_least_one_entry(limit: int) -> None:
    with pytest.raises(ValueError):
        BoundedCache(limit)
