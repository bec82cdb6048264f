"""Live identity context (pipeline stage 7): what the directory says about a target principal.

One small interface, one file per provider: ``file.py`` (a JSON file read once at start) and
``http.py`` (a JSON lookup per principal with a per-entry cache, a timeout and bounded
concurrency). A provider that cannot answer raises ``DirectoryUnavailable``; the pipeline then
denies state-changing requests (``context_unavailable``) and treats reads by a configured rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

KINDS = ("human", "service_account")


class DirectoryUnavailable(Exception):
    """The directory cannot answer now (down, slow, overloaded, or answered nonsense)."""


@dataclass(frozen=True)
class Principal:
    name: str
    exists: bool
    kind: str = "unknown"  # human | service_account | unknown (not in the directory)
    privileged: bool = False
    groups: frozenset[str] = frozenset()

    @property
    def machine(self) -> bool:
        return self.kind == "service_account"


def principal_from(name: str, entry: Mapping[str, Any]) -> Principal:
    """A directory entry as JSON: ``{"kind": ..., "privileged": ..., "groups": [...]}``."""
    kind, privileged, groups = entry.get("kind"), entry.get("privileged", False), entry.get("groups", [])
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(privileged, bool):
        raise ValueError("privileged must be true or false")
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise ValueError("groups must be a list of names")
    return Principal(name, True, kind, privileged, frozenset(groups))


class Directory(Protocol):
    def lookup(self, name: str) -> Principal:
        """The principal's attributes (``exists=False`` if the directory does not know it)."""
        ...
