"""The race command (``bench/race.py``), its short pass: the full one is ``make race``."""

from __future__ import annotations

import pytest

from bench import race


@pytest.mark.parametrize("store", ["redis", "sqlite"])
def test_one_approval_raced_by_processes_is_spent_once_and_a_budget_exactly(store: str) -> None:
    assert race.main(["--store", store, "--rounds", "300", "--processes", "3", "--budget", "40"]) == 0
