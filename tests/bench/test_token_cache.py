"""The token cache benchmark (``bench/token_cache.py``), its short pass."""

from __future__ import annotations


def test_the_token_cache_stays_bounded_as_distinct_tokens_grow() -> None:
    # The short pass of bench.token_cache: a small cache fills up and evicts, every check is
    # still decided (allowed), and the cache never holds more than its limit.
    from bench import token_cache

    result = token_cache.run(n_tokens=600, batch=200, cache_limit=250)
    assert [r["distinct_tokens"] for r in result["new_tokens"]] == [200, 400, 600]
    assert max(r["cache_entries"] for r in result["new_tokens"]) == 250
    assert result["evictions"] == 600 - 250
