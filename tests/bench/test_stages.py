"""The per-stage benchmark (``bench/stages.py``), one small round of it."""

from __future__ import annotations


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
