"""A real ``redis-server`` (Debian package) on a free loopback port, in a folder of its own,
stopped by its PID: for the tests, the benchmarks and ``agent-authz demo --store redis``.

``kill()`` stops it the hard way (SIGKILL, as a crash) and ``start()`` brings it back on the
same port, so outage tests can take Redis away and give it back. ``replica_of`` starts it as a
replica; ``Sentinel`` watches a primary with ``redis-sentinel``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from authz.demo.processes import StackError, free_port, stop_processes, wait_until


def redis_binary(name: str = "redis-server") -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found: `make test` installs it (Debian package {name})")
    return found


def ping(port: int) -> bool:
    """A PING answered with PONG (no client library: this also checks the server, not the pool)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, workdir: Path, *, replica_of: int | None = None, appendonly: bool = True) -> None:
        self.workdir, self.port = workdir, free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._replica_of, self._appendonly = replica_of, appendonly
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> RedisServer:
        argv = [
            redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--save", "", "--appendonly", "yes" if self._appendonly else "no", "--appendfsync", "always",
            "--daemonize", "no", "--protected-mode", "no", "--logfile", str(self.workdir / "redis.log"),
        ]  # fmt: skip
        if self._replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(self._replica_of)]
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        proc = self._proc
        wait_until(lambda: proc.poll() is not None or ping(self.port), f"redis-server on {self.port}")
        if proc.poll() is not None:
            raise StackError(f"redis-server exited ({proc.returncode}): see {self.workdir / 'redis.log'}")
        return self

    def kill(self) -> None:
        """As a crash: SIGKILL, nothing flushed that was not already."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self) -> None:
        if self._proc is not None:
            stop_processes([self._proc])

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
