"""A directory from one JSON file, read and validated once at start: ``{"principals": {name: entry}}``."""

from __future__ import annotations

import json
from pathlib import Path

from authz.directory import Principal, principal_from


class DirectoryFileError(ValueError):
    """The file is missing, not JSON, or holds an entry that is not a principal."""


class FileDirectory:
    def __init__(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DirectoryFileError(f"cannot read {path}: {exc}") from None
        except ValueError:
            raise DirectoryFileError(f"{path} is not valid JSON") from None
        principals = document.get("principals") if isinstance(document, dict) else None
        if not isinstance(principals, dict):
            raise DirectoryFileError(f'{path}: expected {{"principals": {{name: entry, ...}}}}')
        self._principals: dict[str, Principal] = {}
        for name, entry in principals.items():
            if not isinstance(entry, dict):
                raise DirectoryFileError(f"{path}: principal {name!r} is not an object")
            try:
                self._principals[name] = principal_from(name, entry)
            except ValueError as exc:
                raise DirectoryFileError(f"{path}: principal {name!r}: {exc}") from None

    def lookup(self, name: str) -> Principal:
        return self._principals.get(name) or Principal(name, exists=False)
