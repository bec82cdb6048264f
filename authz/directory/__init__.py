"""Live identity context (pipeline stage 7): what the directory says about a principal or a group.

One small interface, one file per provider: ``file.py`` (a JSON file read once at start),
``http.py`` (a JSON lookup per name) and ``scim.py`` (the SCIM server itself), the last two
with a per-entry cache, a timeout and bounded concurrency (``lookups.py``).

A name is looked up under the upstream's ``NameRule``: exactly, or case-insensitively (NFKC +
case folding). Every entry has a canonical name and may answer to aliases (an email, a UPN,
an employee id): every name it answers to is an identity of the same person or machine, which
separation of duties compares. A name that folds onto a known entry without being one of its
names (``CAROL`` under exact comparison, while ``carol`` exists), or onto several entries, is
ambiguous (``AmbiguousName``): an upstream that folds would act on someone the request did
not name. A provider that cannot answer raises ``DirectoryUnavailable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from authz.errors import DirectoryError
from authz.names import NameRule, fold

KINDS = ("human", "service_account")


class DirectoryUnavailable(DirectoryError):
    """The directory cannot answer now (down, slow, overloaded, or answered nonsense)."""


class AmbiguousName(DirectoryError):
    """A name that folds onto a known entry it is not a name of, or onto several entries."""

    def __init__(self, name: str, candidates: Iterable[str]) -> None:
        self.name, self.candidates = name, sorted(candidates)
        shown = ", ".join(repr(c) for c in self.candidates[:3])
        super().__init__(f"{name!r} folds onto {shown}, which it is not a name of")


@dataclass(frozen=True)
class Principal:
    name: str  # the directory's canonical name (the name asked for, when unknown)
    exists: bool
    kind: str = "unknown"  # human | service_account | unknown (not in the directory)
    privileged: bool = False
    groups: frozenset[str] = frozenset()
    aliases: frozenset[str] = frozenset()  # the other names it answers to
    active: bool = True  # the account can sign in (SCIM ``active``); unknown ones count as active
    roles: frozenset[str] = frozenset()

    @property
    def machine(self) -> bool:
        return self.kind == "service_account"

    @property
    def names(self) -> frozenset[str]:
        return self.aliases | {self.name}


@dataclass(frozen=True)
class Group:
    name: str  # canonical
    exists: bool
    privileged: bool = False  # membership grants administrative rights
    aliases: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        return self.aliases | {self.name}


def _aliases(entry: Mapping[str, Any]) -> frozenset[str]:
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ValueError("aliases must be a list of names")
    return frozenset(aliases)


def principal_from(name: str, entry: Mapping[str, Any]) -> Principal:
    """A directory entry as JSON: ``{"kind", "privileged", "groups": [...], "aliases": [...],
    "active", "roles": [...]}`` (``active`` default true, ``roles`` default none)."""
    kind, privileged, groups = entry.get("kind"), entry.get("privileged", False), entry.get("groups", [])
    active, roles = entry.get("active", True), entry.get("roles", [])
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(privileged, bool):
        raise ValueError("privileged must be true or false")
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise ValueError("groups must be a list of names")
    if not isinstance(active, bool):
        raise ValueError("active must be true or false")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise ValueError("roles must be a list of names")
    aliases = _aliases(entry) - {name}
    return Principal(name, True, kind, privileged, frozenset(groups), aliases, active, frozenset(roles))


def group_from(name: str, entry: Mapping[str, Any]) -> Group:
    """A group entry as JSON: ``{"privileged": bool, "aliases": [...]}``."""
    privileged = entry.get("privileged", False)
    if not isinstance(privileged, bool):
        raise ValueError("privileged must be true or false")
    return Group(name, True, privileged, _aliases(entry) - {name})


def answers_to(names: Iterable[str], requested: str, rule: NameRule) -> bool:
    """Whether an entry with ``names`` is the one ``requested`` names under ``rule``."""
    if rule is NameRule.EXACT:
        return requested in names
    folded = fold(requested)
    return any(fold(n) == folded for n in names)


class Directory(Protocol):
    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        """The principal ``name`` names under ``rule`` (``exists=False`` if none); raises
        ``AmbiguousName`` or ``DirectoryUnavailable``."""
        ...

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        """The group ``name`` names under ``rule`` (``exists=False`` if none); same errors."""
        ...
