"""A directory from one JSON file, read and validated once at start.

``{"principals": {name: entry}, "groups": {name: entry}}`` (``groups`` optional): the key is the
canonical name, ``aliases`` lists the other names an entry answers to. Every name is indexed
exactly and folded, so a lookup costs a dictionary access either way. Two entries answering to
the same exact name are refused at load; two entries whose names only fold together may both
exist (an upstream comparing exactly tells them apart), and a name that folds onto both is
ambiguous.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from authz.directory import AmbiguousName, Group, Principal, group_from, principal_from
from authz.errors import DirectoryError
from authz.names import NameRule, fold

E = TypeVar("E", Principal, Group)


class DirectoryFileError(DirectoryError, ValueError):
    """The file is missing, not JSON, or holds an entry that is not a principal or group."""


class _Index(Generic[E]):
    def __init__(self, entries: list[E], what: str) -> None:
        self._exact: dict[str, E] = {}
        self._folded: dict[str, dict[str, E]] = {}
        for entry in entries:
            for name in entry.names:
                if name in self._exact:
                    other = self._exact[name].name
                    raise ValueError(f"{what} {other!r} and {entry.name!r} both answer to {name!r}")
                self._exact[name] = entry
                self._folded.setdefault(fold(name), {})[entry.name] = entry

    def find(self, name: str, rule: NameRule) -> E | None:
        hit = self._exact.get(name)
        if rule is NameRule.EXACT and hit is not None:
            return hit
        candidates = self._folded.get(fold(name), {})
        if rule is NameRule.EXACT and candidates:
            raise AmbiguousName(name, candidates)  # a name of none, though it folds onto some
        if len(candidates) > 1:
            raise AmbiguousName(name, candidates)
        return next(iter(candidates.values()), None)


def _entries(
    document: Mapping[str, Any], section: str, parse: Callable[[str, Any], E], path: Path
) -> list[E]:
    table = document.get(section, {})
    if not isinstance(table, dict):
        raise DirectoryFileError(f'{path}: "{section}" must be an object of name: entry')
    entries = []
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise DirectoryFileError(f"{path}: {section} {name!r} is not an object")
        try:
            entries.append(parse(name, entry))
        except ValueError as exc:
            raise DirectoryFileError(f"{path}: {section} {name!r}: {exc}") from None
    return entries


class FileDirectory:
    def __init__(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DirectoryFileError(f"cannot read {path}: {exc}") from None
        except ValueError:
            raise DirectoryFileError(f"{path} is not valid JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("principals"), dict):
            raise DirectoryFileError(f'{path}: expected {{"principals": {{name: entry, ...}}}}')
        principals = _entries(document, "principals", principal_from, path)
        groups = _entries(document, "groups", group_from, path)
        try:
            self._principals = _Index(principals, "principals")
            self._groups = _Index(groups, "groups")
        except ValueError as exc:
            raise DirectoryFileError(f"{path}: {exc}") from None

    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        return self._principals.find(name, rule) or Principal(name, exists=False)

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        return self._groups.find(name, rule) or Group(name, exists=False)
