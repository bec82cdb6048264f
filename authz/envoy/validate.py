"""``envoy --mode validate``: whether Envoy itself accepts a config (its files must exist)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from authz.demo.processes import envoy_binary


def refusal(path: Path, timeout: float = 120) -> str | None:
    """None if Envoy accepts the config at ``path``; else what it said."""
    argv = [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "error"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return None if done.returncode == 0 else f"{done.stdout}{done.stderr}"
