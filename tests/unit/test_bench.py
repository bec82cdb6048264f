"""The benchmark's own logic: reading wrk's report and placing processes on CPUs."""

from __future__ import annotations

import pytest

from bench import wrk
from bench.targets import cpu_sets

REPORT = """Running 10s test @ http://127.0.0.1:1234/v1/users/alice
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.10ms    2.01ms  40.00ms   80.00%
  Latency Distribution
     50%    6.07ms
     75%    7.00ms
     90%    8.50ms
     99%  850.00us
  45490 requests in 10.00s, 6.5MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   4549.01
Transfer/sec:    660.00KB
"""


def test_wrk_report_is_read_with_its_units() -> None:
    result = wrk.parse(REPORT)
    assert (result.requests, result.rps) == (45490, 4549.01)
    assert (result.p50_ms, result.p99_ms) == (6.07, 0.85)
    assert (result.non_2xx, result.socket_errors) == (3, 3)


def test_an_unreadable_report_is_an_error() -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse("wrk: connection refused")


def test_envoy_and_the_servers_get_disjoint_cpus() -> None:
    sets = cpu_sets()
    if sets:
        assert sets["envoy"] and sets["authz"] and not sets["envoy"] & sets["authz"]


def test_the_stage_costs_cover_every_stage_and_their_sum_fits_the_whole() -> None:
    # One small round of bench.stages: every request allowed (else it exits), every stage timed.
    from bench import stages

    results = stages.run(requests=40, rounds=1)
    assert set(results) == {"read", "read, verdict memo off", "approved change"}
    for figures in results.values():
        timed = [label for label, _, _ in stages.STAGES] + [stages.BINDING, stages.BUDGET]
        assert set(timed) <= set(figures)
        assert all(figures[label] >= 0 for label in timed)
        assert sum(figures[label] for label in timed) <= figures[stages.PIPELINE]
    assert results["approved change"]["6 approval"] > results["read"]["6 approval"]  # a signature checked


def test_the_token_cache_stays_bounded_as_distinct_tokens_grow() -> None:
    # The short pass of bench.token_cache: a small cache fills up and evicts, every check is
    # still decided (allowed), and the cache never holds more than its limit.
    from bench import token_cache

    result = token_cache.run(n_tokens=600, batch=200, cache_limit=250)
    assert [r["distinct_tokens"] for r in result["new_tokens"]] == [200, 400, 600]
    assert max(r["cache_entries"] for r in result["new_tokens"]) == 250
    assert result["evictions"] == 600 - 250
