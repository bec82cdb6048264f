"""Who runs a command: named in the record of a revocation, suspension or denial."""

from __future__ import annotations

import getpass


def operator_name() -> str:
    """Who runs this command, for the record of a revocation, suspension or denial."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
