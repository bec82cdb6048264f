"""Where every choice of the grammar comes from: ``Choices``, and its two sources — hypothesis
draws, one per choice (``DrawChoices``), or a ``random.Random`` seeded by one hypothesis draw
per batch (``RandomChoices``, the fast path). Weighted tables are ``(option, weight)`` pairs."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


class Choices(Protocol):
    """Where every choice of the grammar comes from (hypothesis draws, or a seeded Random)."""

    def pick(self, options: Sequence[T]) -> T: ...

    def weighted(self, table: Sequence[tuple[T, int]]) -> T: ...

    def chance(self, percent: int) -> bool: ...

    def integer(self, low: int, high: int) -> int: ...


class RandomChoices:
    """Choices from a seeded ``random.Random``: the fast path (one hypothesis draw per batch)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def weighted(self, table: Sequence[tuple[T, int]]) -> T:
        return _weighted(table, self._rng.randrange(_total(table)))

    def chance(self, percent: int) -> bool:
        return self._rng.randrange(100) < percent

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)


class DrawChoices:
    """Choices drawn by hypothesis, one draw each (``st.data()``)."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(_integers(low, high))

    def pick(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def weighted(self, table: Sequence[tuple[T, int]]) -> T:
        return _weighted(table, self.integer(0, _total(table) - 1))

    def chance(self, percent: int) -> bool:
        return self.integer(0, 99) < percent


_STRATEGIES: dict[tuple[int, int], st.SearchStrategy[int]] = {}
_CUMULATIVE: dict[int, tuple[Sequence[Any], list[int]]] = {}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    if (low, high) not in _STRATEGIES:
        _STRATEGIES[low, high] = st.integers(low, high)
    return _STRATEGIES[low, high]


def _cumulative(table: Sequence[tuple[Any, int]]) -> list[int]:
    cached = _CUMULATIVE.get(id(table))
    if cached is None or cached[0] is not table:
        cached = (table, list(itertools.accumulate(w for _, w in table)))
        _CUMULATIVE[id(table)] = cached
    return cached[1]


def _total(table: Sequence[tuple[Any, int]]) -> int:
    return _cumulative(table)[-1]


def _weighted(table: Sequence[tuple[T, int]], roll: int) -> T:
    return table[bisect.bisect_right(_cumulative(table), roll)][0]
