"""Every attack the project knows, as one table of data (``CORPUS``).

The rows live by category in ``jwt.py``, ``svid.py``, ``request.py`` (paths, headers, bodies),
``approval.py`` (names, approvals, replay and budget) and ``routes.py`` (the route table);
``model.py`` says what a row holds, ``forge.py`` builds a row's request against a running stack.
``tests/e2e/test_attacks.py`` sends every row through Envoy, in front of the sample API in each
of its readings; ``table.py`` writes the README's table from it.
"""

from __future__ import annotations

from collections import Counter

from . import approval, jwt, request, routes, svid
from .model import CATEGORIES, Case

CORPUS: tuple[Case, ...] = (
    *jwt.CASES,
    *svid.CASES,
    *request.PATH_CASES,
    *request.HEADER_CASES,
    *request.BODY_CASES,
    *approval.NAME_CASES,
    *approval.APPROVAL_CASES,
    *approval.REPLAY_CASES,
    *routes.CASES,
)


def _check(corpus: tuple[Case, ...]) -> None:
    twice = [i for i, n in Counter(c.id for c in corpus).items() if n > 1]
    assert not twice, f"case ids used twice: {twice}"
    unknown = {c.category for c in corpus} - set(CATEGORIES)
    assert not unknown, f"unknown categories: {unknown}"


_check(CORPUS)
THROUGH_ENVOY = tuple(c for c in CORPUS if c.config is None)
CONFIG_CASES = tuple(c for c in CORPUS if c.config is not None)

__all__ = ["CONFIG_CASES", "CORPUS", "THROUGH_ENVOY", "Case"]
