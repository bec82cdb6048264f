"""Reading TOML tables strictly: every key taken at most once, wrong types and leftovers are errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from authz.config.model import ConfigError


class Table:
    """A TOML table being read: every key is taken at most once, leftovers are errors."""

    def __init__(self, file: Path, prefix: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(file, prefix, "must be a table")
        self.file, self.prefix, self.data = file, prefix, dict(data)

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _take(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if name not in self.data:
            if default is REQUIRED:
                raise ConfigError(self.file, self._key(name), "is required")
            return default
        value = self.data.pop(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(self.file, self._key(name), f"has the wrong type ({type(value).__name__})")
        return value

    def text(self, name: str, default: Any = None, *, nonempty: bool = True) -> Any:
        value = self._take(name, str, REQUIRED if default is None else default)
        if nonempty and isinstance(value, str) and not value.strip():
            raise ConfigError(self.file, self._key(name), "must not be empty")
        return value

    def opt_str(self, name: str) -> str | None:
        value = self._take(name, str, None)
        if value is not None and not value.strip():
            raise ConfigError(self.file, self._key(name), "must not be empty")
        return value  # type: ignore[no-any-return]

    def flag(self, name: str, default: bool) -> bool:
        return self._take(name, bool, default)  # type: ignore[no-any-return]

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value: int = self._take(name, int, default)
        if value < minimum:
            raise ConfigError(self.file, self._key(name), f"must be at least {minimum}")
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
        return ConfigError(self.file, self._key(name), problem)

    def done(self) -> None:
        if self.data:
            unknown = ", ".join(sorted(self.data))
            raise ConfigError(self.file, self.prefix or "(top level)", f"unknown key(s): {unknown}")


REQUIRED = object()


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
