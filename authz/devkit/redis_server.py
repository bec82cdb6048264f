"""A real ``redis-server`` (Debian package) on a free loopback port, in a folder of its own,
stopped by its PID: for the tests, the benchmarks and ``agent-authz demo --store redis``.

``kill()`` stops it the hard way (SIGKILL, as a crash) and ``start()`` brings it back on the
same port, so outage tests can take Redis away and give it back. ``replica_of`` starts it as a
replica; ``password`` and ``tls`` make it ask what production Redis asks; ``Sentinel`` watches
a primary with ``redis-sentinel``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from authz.demo.processes import StackError, free_port, stop_processes, wait_until


def redis_binary(name: str = "redis-server") -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found: `make test` installs it (Debian package {name})")
    return found


def ping(port: int, tls: ssl.SSLContext | None = None) -> bool:
    """A PING answered (PONG, or a demand for the password): no client library, so this checks
    the server, not a pool."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            if tls is None:
                return _pinged(raw)
            with tls.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
                return _pinged(wrapped)
    except OSError:
        return False


def _pinged(s: socket.socket) -> bool:
    s.sendall(b"PING\r\n")
    return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))


@dataclass(frozen=True)
class RedisTls:
    """TLS only (no plaintext port): the server's certificate and key, and the CA it trusts."""

    cert: Path
    key: Path
    ca: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


class RedisServer:
    def __init__(
        self,
        workdir: Path,
        *,
        replica_of: int | None = None,
        appendonly: bool = True,
        password: str | None = None,
        tls: RedisTls | None = None,
    ) -> None:
        self.workdir, self.port = workdir, free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._replica_of, self._appendonly = replica_of, appendonly
        self._password, self._tls = password, tls
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self._tls else 'redis'}://127.0.0.1:{self.port}/0"

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
        if self._password is not None:  # a config file, not argv: no password in `ps`
            conf = self.workdir / "auth.conf"
            conf.write_text(f'requirepass "{self._password}"\n')
            conf.chmod(0o600)
            argv.insert(1, str(conf))
        if self._tls is not None:
            t = self._tls
            argv[argv.index("--port") + 1] = "0"
            argv += ["--tls-port", str(self.port), "--tls-cert-file", str(t.cert), "--tls-key-file",
                     str(t.key), "--tls-ca-cert-file", str(t.ca), "--tls-auth-clients", "no"]  # fmt: skip
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        proc, tls = self._proc, self._tls.client_context() if self._tls else None
        wait_until(lambda: proc.poll() is not None or ping(self.port, tls), f"redis-server on {self.port}")
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


class Sentinel:
    """One ``redis-sentinel`` watching ``primary`` as ``service`` (quorum 1), quick to fail over:
    a primary unanswering for ``down_after_ms`` is replaced by its replica."""

    def __init__(
        self, workdir: Path, primary: RedisServer, service: str = "mymaster", down_after_ms: int = 500
    ):
        self.workdir, self.port, self.service = workdir, free_port(), service
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._conf = workdir / "sentinel.conf"
        self._conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\nprotected-mode no\n"
            f"logfile {workdir / 'sentinel.log'}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary.port} 1\n"
            f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
            f"sentinel failover-timeout {service} 10000\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sentinel:
        argv = [redis_binary("redis-sentinel"), str(self._conf)]
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        proc = self._proc
        wait_until(lambda: proc.poll() is not None or ping(self.port), f"redis-sentinel on {self.port}")
        if proc.poll() is not None:
            raise StackError(
                f"redis-sentinel exited ({proc.returncode}): see {self.workdir / 'sentinel.log'}"
            )
        return self

    def primary_port(self) -> int | None:
        """The port the sentinel now names as the primary (None if it cannot say)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(f"SENTINEL get-master-addr-by-name {self.service}\r\n".encode())
                reply = s.recv(256).split(b"\r\n")
            return int(reply[4]) if len(reply) > 4 and reply[0] == b"*2" else None
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self._proc is not None:
            stop_processes([self._proc])

    def __enter__(self) -> Sentinel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
