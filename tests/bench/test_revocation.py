"""The revocation benchmark (``bench/revocation.py``), its short pass: the full one is
``make bench-revocation`` (200 revocations)."""

from __future__ import annotations

from bench import revocation


def test_a_revocation_reaches_three_replicas_under_load_within_a_second() -> None:
    result = revocation.run(revocations=3, replicas=3)
    assert result["samples"] == 9 and result["checks"] > 9  # every replica denied every task
    assert result["max_ms"] < 1000 and 0 < result["from_write_max_ms"] < 1000
