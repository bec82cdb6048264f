"""Reading TOML tables strictly: every key taken at most once, wrong types and leftovers are errors."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from authz.config.lines import header_line, line_of
from authz.config.model import ConfigError


class Table:
    """A TOML table being read: every key is taken at most once, leftovers are errors."""

    def __init__(self, file: Path, prefix: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(file, prefix, "must be a table")
        self.file, self.prefix, self.data = file, prefix, dict(data)
        self._asked: set[str] = set()  # every key read: the valid ones, for "did you mean"

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _take(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self._asked.add(name)
        if name not in self.data:
            if default is REQUIRED:
                raise ConfigError(
                    self.file, self._key(name), "is required", header_line(self.file, self.prefix)
                )
            return default
        value = self.data.pop(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(name, f"has the wrong type ({type(value).__name__}): expected {_expected(kind)}")
        return value

    def text(self, name: str, default: Any = None, *, nonempty: bool = True) -> Any:
        value = self._take(name, str, REQUIRED if default is None else default)
        if nonempty and isinstance(value, str) and not value.strip():
            raise self.fail(name, "must not be empty")
        return value

    def opt_str(self, name: str) -> str | None:
        value = self._take(name, str, None)
        if value is not None and not value.strip():
            raise self.fail(name, "must not be empty")
        return value  # type: ignore[no-any-return]

    def flag(self, name: str, default: bool) -> bool:
        return self._take(name, bool, default)  # type: ignore[no-any-return]

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value: int = self._take(name, int, default)
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}")
        return value

    def path(self, name: str) -> Path:
        value = self.text(name)
        path = Path(value)
        return path if path.is_absolute() else (self.file.parent / path)

    def tables(self, name: str) -> list[Table]:
        items = self._take(name, list, [])
        return [Table(self.file, f"{self._key(name)}[{i}]", item) for i, item in enumerate(items)]

    def table(self, name: str) -> Table:
        return Table(self.file, self._key(name), self._take(name, dict, {}))

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self._key(name), problem, line_of(self.file, self.prefix, name))

    def done(self) -> None:
        if self.data:
            first = sorted(self.data)[0]
            unknown = ", ".join(f"{k}{_did_you_mean(k, self._asked)}" for k in sorted(self.data))
            where = line_of(self.file, self.prefix, first)
            raise ConfigError(self.file, self.prefix or "(top level)", f"unknown key(s): {unknown}", where)


REQUIRED = object()

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a table",
               float: "a number"}  # fmt: skip


def _expected(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


def _did_you_mean(key: str, valid: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def strings_or_empty(t: Table, name: str) -> list[str]:
    value = t._take(name, list, [])
    if not all(isinstance(v, str) and v for v in value):
        raise t.fail(name, "must be a list of non-empty strings")
    return list(value)


def string_list(t: Table, name: str, default: list[str] | None = None) -> list[str]:
    value = t._take(name, list, REQUIRED if default is None else default)
    if not value or not all(isinstance(v, str) and v for v in value):
        raise t.fail(name, "must be a non-empty list of strings")
    return list(value)


_ROUTE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*routes[ \t]*\]\]", re.M)


def route_lines(text: str) -> list[int]:
    """The line of each ``[[routes]]`` header of a TOML text, in order (inline routes have none)."""
    return [text.count("\n", 0, m.start()) + 1 for m in _ROUTE_HEADER.finditer(text)]
