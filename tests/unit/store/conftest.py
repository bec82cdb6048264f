"""A fresh SQLite store per test, on a clock that moves one second a reading (a module that
defines its own ``store``, like ``test_sqlite_commit.py``, uses that one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from authz.store.sqlite import SqliteStore

from .sqlite_store import Clock


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(path, clock=Clock())
    yield s
    s.close()
