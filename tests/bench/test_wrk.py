"""The benchmark's reading of wrk's report (``bench/wrk.py``)."""

from __future__ import annotations

import pytest

from bench import wrk

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
