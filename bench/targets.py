"""The two measured targets, each a set of child processes on 127.0.0.1.

    wrk ──HTTP──▶ Envoy front listener ──mTLS (helpdesk-bot SVID)──▶ Envoy agents listener
                                                                       │ ext_authz Check()
                                                                       ▼
                                                     no-op server ("floor") | agent-authz
                                                                       │ allow
                                                                       ▼
                                                               direct 200 response

Every child is started here and stopped here, by PID: SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import functools
import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from authz.config import load_config
from authz.demo.processes import envoy_binary, free_port, stop_processes
from authz.devkit.pki import DevPki
from authz.devkit.world import (
    copy_demo_policies,
    demo_config,
    sign_demo_task,
    write_demo_directory,
    write_demo_keys,
)
from authz.envoy.config import EnvoyParams, render, to_yaml

TRUST_DOMAIN = "agents.example.org"
AGENT = "helpdesk-bot"
FLOOR, AGENT_AUTHZ = "floor", "agent-authz"
TARGETS = (FLOOR, AGENT_AUTHZ)
START_TIMEOUT = 30.0
REPO_ROOT = Path(__file__).resolve().parent.parent
ENVOY_ARGS = ["--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warn"]


class TargetError(RuntimeError):
    pass


INTENT = "account_support"
TASK_TTL = 900  # the demo config's cap; a fresh token is issued for every target start


def prepare(workdir: Path, workers: int | None = None) -> tuple[DevPki, int]:
    """The dev PKI, a task issuer key and, beside them, a copy of agent-authz's demo config (it
    names pki/ca.crt, keys/task-issuer.pub and audit.jsonl), with ``server.workers`` overridden
    if asked; returns the PKI and that worker count.
    """
    pki = DevPki.create(workdir / "pki", TRUST_DOMAIN, [AGENT])
    write_demo_keys(workdir / "keys")
    write_demo_directory(workdir / "directory.json")  # no sample API in the benchmark
    copy_demo_policies(workdir)
    config = demo_config(directory_file="directory.json")
    if workers is not None:
        config, found = re.subn(r"(?m)^workers\s*=\s*\d+", f"workers = {workers}", config)
        if found != 1:
            raise TargetError("the demo config has no single 'workers = N' line to override")
    path = workdir / "agent-authz.toml"
    path.write_text(config)
    return pki, load_config(path).server.workers


def task_headers(workdir: Path, pki: DevPki, **claims: Any) -> dict[str, str]:
    """What the agent sends on every request: a task token for reading alice, and its intent."""
    cert = x509.load_pem_x509_certificate(pki.agent_cert(AGENT).read_bytes())
    config = load_config(workdir / "agent-authz.toml")
    token = sign_demo_task(workdir, config, cert, intent=INTENT, principals=["alice"], ttl=TASK_TTL, **claims)
    return {"x-agent-task-token": token, "x-agent-intent": INTENT}


@dataclass
class Target:
    """One running target: Envoy in front of one ext_authz server."""

    name: str
    workdir: Path
    pki: DevPki
    workers: int  # gRPC worker threads, the same for both servers
    processes: int = 1  # ext_authz server processes, one port (Envoy endpoint) each
    pin: bool = True  # Envoy on one CPU, the ext_authz server(s) on the others (see cpu_sets)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    config_name: str = "agent-authz.toml"  # beside the PKI in workdir (bench/stores.py adds others)

    @property
    def front_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['front']}"

    def log_path(self, proc: str) -> Path:
        return self.workdir / f"{self.name}-{proc}.log"

    def start(self) -> None:
        names = ["front", "mtls", "admin", *self._servers, *(f"metrics{i}" for i in range(self.processes))]
        self.ports = {name: free_port() for name in names}
        for i, server in enumerate(self._servers):
            self._spawn(server, self._authz_argv(i))
        # Envoy's first health check must find them up: after a failure, an idle cluster is
        # checked again only every no_traffic_interval (60 s by default).
        for server in self._servers:
            port = self.ports[server]
            self._wait(functools.partial(_tcp_open, port), f"the ext_authz server on port {port}")
        envoy_yaml = self.workdir / f"{self.name}-envoy.yaml"
        envoy_yaml.write_text(to_yaml(render(self._envoy_params())))
        self._spawn("envoy", [envoy_binary(), "-c", str(envoy_yaml), *ENVOY_ARGS])
        self._wait(self._authz_healthy_in_envoy, "Envoy with a healthy ext_authz cluster")

    @property
    def _servers(self) -> list[str]:
        return ["authz"] if self.processes == 1 else [f"authz{i}" for i in range(self.processes)]

    def _authz_argv(self, i: int) -> list[str]:
        python, listen = [sys.executable, "-m"], f"127.0.0.1:{self.ports[self._servers[i]]}"
        if self.name == FLOOR:
            return [*python, "bench.noop_authz", "--listen", listen, "--workers", str(self.workers)]
        config, metrics = str(self.workdir / self.config_name), f"127.0.0.1:{self.ports[f'metrics{i}']}"
        return [
            *python,
            "authz",
            "serve",
            "--config",
            config,
            "--listen",
            listen,
            "--metrics-listen",
            metrics,
            "--audit-path",  # one hash chain per process; the state store is shared
            str(self.workdir / f"audit-{self.name}-{i}.jsonl"),
        ]

    def _envoy_params(self) -> EnvoyParams:
        return EnvoyParams(
            server_cert=str(self.pki.server_cert),
            server_key=str(self.pki.server_key),
            trust_domains=[(TRUST_DOMAIN, str(self.pki.bundle))],
            listen=("127.0.0.1", self.ports["mtls"]),
            admin=("127.0.0.1", self.ports["admin"]),
            authz=[("127.0.0.1", self.ports[server]) for server in self._servers],
            health_check_interval="0.25s",
            direct_response=True,
            front=("127.0.0.1", self.ports["front"]),
            front_client=(str(self.pki.agent_cert(AGENT)), str(self.pki.agent_key(AGENT))),
            outcomes_flush=None,  # decisions only, as measured before outcome records (README)
        )

    def _spawn(self, proc: str, argv: list[str]) -> None:
        paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]  # so `-m bench.noop_authz` resolves
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        cpus = cpu_sets().get("envoy" if proc == "envoy" else "authz") if self.pin else None
        with self.log_path(proc).open("ab") as log:
            self.procs[proc] = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env=env,
                preexec_fn=None if cpus is None else functools.partial(os.sched_setaffinity, 0, cpus),
            )

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if ready():
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise TargetError(f"{self.name}: {what} not ready within {START_TIMEOUT:.0f}s")

    def check_alive(self) -> None:
        for proc, p in self.procs.items():
            if p.poll() is not None:
                raise TargetError(f"{self.name}: {proc} exited with code {p.returncode}")

    def _authz_healthy_in_envoy(self) -> bool:
        status, _, text = get(self.ports["admin"], "/clusters")
        flags = [f"agent_authz::127.0.0.1:{self.ports[s]}::health_flags::healthy" for s in self._servers]
        return status == 200 and all(flag in text for flag in flags)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM each child (Envoy first), then SIGKILL whatever is still running after ``timeout``."""
        order = [name for name in ["envoy", *self._servers] if name in self.procs]
        stop_processes([self.procs.pop(name) for name in order], timeout)
        stop_processes(list(self.procs.values()), timeout)  # anything else started
        self.procs.clear()

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for proc in [*self._servers, "envoy"]:
            path = self.log_path(proc)
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(out)


def cpu_sets() -> dict[str, set[int]]:
    """Envoy on the first CPU we may use, the ext_authz server(s) on the rest; wrk is not pinned.

    As a sidecar and its authorizer would run on dedicated cores: each keeps its caches warm
    instead of both migrating across the cores. Both targets are pinned the same way.
    """
    cpus = sorted(os.sched_getaffinity(0))
    return {"envoy": {cpus[0]}, "authz": set(cpus[1:])} if len(cpus) >= 2 else {}


def _tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], str]:
    """A plain GET to 127.0.0.1 (http.client: never through a configured proxy)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()
