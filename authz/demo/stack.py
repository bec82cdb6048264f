"""A local stack — sample IAM API, agent-authz, Envoy — on 127.0.0.1, for the demo and e2e tests.

Everything runs as child processes whose PIDs the stack keeps; ``stop()`` ends each of them.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from cryptography import x509

from authz.config import load_config
from authz.demo.client import AgentClient
from authz.demo.processes import (
    StackError,
    envoy_binary,
    free_port,
    stop_processes,
    wait_until,
)
from authz.demo.sample_api import Reading
from authz.devkit.pki import DevPki, make_server_cert
from authz.devkit.redis_server import RedisServer
from authz.devkit.world import (
    DEMO_AGENTS,
    ISSUER_KID,
    TRUST_DOMAIN,
    copy_demo_policies,
    demo_config,
    redis_store,
    sign_demo_approval,
    sign_demo_task,
    write_demo_keys,
)
from authz.envoy.config import EnvoyParams, render, to_yaml
from authz.envoy.descriptor import approvals_descriptor
from authz.envoy.sds import Sds, sds_file
from authz.wellknown import READY_PATH

#: What Envoy, grpcio and Python's socket servers log when a port is taken.
_BIND_FAILURES = ("address already in use", "cannot bind", "failed to bind", "errno 98")


#: The identity Envoy shows a protected Check port (``Stack.create(protected=True)``).
SIDECAR = "envoy-sidecar"


def _protected(config: str, pki: DevPki) -> str:
    """The config with ``[server.tls]``: agent-authz's certificate is the PKI's server one."""
    tls = (
        f'\n[server.tls]\ncert = "{pki.server_cert}"\nkey = "{pki.server_key}"\nclient_ca = "{pki.bundle}"\n'
        f'allowed_clients = ["{pki.spiffe_id(SIDECAR)}"]\n'
    )
    head, sep, rest = config.partition("\n[audit]")
    return head.rstrip("\n") + "\n" + tls + "\n" + sep.lstrip("\n") + rest


def _authz_names(count: int) -> list[str]:
    return ["authz", *(f"authz{i}" for i in range(2, count + 1))]


@dataclass
class Stack:
    workdir: Path
    pki: DevPki
    config_path: Path
    ports: dict[str, int]
    agents: tuple[str, ...] = DEMO_AGENTS
    authz_processes: int = 1  # agent-authz processes sharing the store, one Envoy endpoint each
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: How the sample API reads requests (``sample_api.Reading``): "strict", or lenient readings.
    lenient: str = "strict"
    redis: RedisServer | None = None  # the state store, when it is Redis (``store="redis"``)
    protected: bool = False  # the Check port with TLS: only Envoy's SIDECAR identity may call it
    rotating: bool = False  # Envoy's server certificate from a watched SDS file (see rotate_server_cert)

    @property
    def audit_path(self) -> Path:
        return self.workdir / "audit.jsonl"

    @property
    def audit_paths(self) -> list[Path]:
        """Every agent-authz process's audit log (one hash chain each), the first one's first."""
        return [self.workdir / f"audit{name[5:]}.jsonl" for name in _authz_names(self.authz_processes)]

    @property
    def record_path(self) -> Path:
        return self.workdir / "upstream-record.jsonl"

    @classmethod
    def create(
        cls,
        workdir: Path,
        agents: tuple[str, ...] = DEMO_AGENTS,
        authz_processes: int = 1,
        *,
        lenient: str = "strict",
        names: str = "exact",
        store: str = "sqlite",
        protected: bool = False,
        rotating: bool = False,
    ) -> Self:
        """Files only (PKI, keys, policies, config); ``start()`` starts the processes. ``lenient``:
        how the sample API reads requests (``agent-authz sample-api --lenient``); ``names``:
        agent-authz's ``[upstream] names``; ``store``: "sqlite" (one file) or "redis" (a real
        redis-server in ``workdir``, started first and stopped last); ``protected``: the Check
        port with TLS and client certificates, Envoy calling it as ``SIDECAR``."""
        Reading.parse(lenient)  # refused here rather than by a sample API that fails to start
        workdir.mkdir(parents=True, exist_ok=True)
        pki = DevPki.create(workdir / "pki", TRUST_DOMAIN, (*agents, SIDECAR) if protected else agents)
        write_demo_keys(workdir / "keys")
        copy_demo_policies(workdir)
        config_path = workdir / "agent-authz.toml"
        processes = ["envoy", "admin", "upstream", *_authz_names(authz_processes)]
        processes += [f"metrics{name[5:]}" for name in _authz_names(authz_processes)]
        ports = {name: free_port() for name in processes}
        redis = RedisServer(workdir / "redis") if store == "redis" else None
        section = redis_store(redis.url) if redis is not None else None
        text = demo_config(directory_port=ports["upstream"], names=names, store=section)
        config_path.write_text(_protected(text, pki) if protected else text)
        return cls(workdir, pki, config_path, ports, agents, authz_processes, lenient=lenient, redis=redis,
                   protected=protected, rotating=rotating)  # fmt: skip

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir
        )
        log.close()

    def start(self, attempts: int = 3) -> Stack:
        """Start every process. A port picked free can be taken before its process binds it (by
        another test worker's stack, say): then the stack starts again on fresh ports."""
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return self
            except StackError:
                self.stop()
                if attempt == attempts or not self._lost_a_port():
                    raise
                self._repick_ports()
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        try:
            if self.redis is not None and self.redis.pid is None:
                self.redis.start()
            self.start_upstream()
            self.start_authz()
            self.start_envoy()
            for name in list(self.procs):  # one that lost its port to another process has exited
                self._alive(name)
        except BaseException:
            self.stop()
            raise

    def _lost_a_port(self) -> bool:
        """Whether a process's log says it could not bind its port."""
        for log in self.workdir.glob("*.log"):
            text = log.read_text(errors="replace").lower()
            if any(sign in text for sign in _BIND_FAILURES):
                return True
        return False

    def _repick_ports(self) -> None:
        old = dict(self.ports)
        self.ports = {name: free_port() for name in old}
        text = self.config_path.read_text()  # the directory URL names the sample API's port
        self.config_path.write_text(text.replace(f":{old['upstream']}/", f":{self.ports['upstream']}/"))
        for log in self.workdir.glob("*.log"):  # the next attempt's logs only
            log.rename(log.with_suffix(".log.failed"))

    def start_upstream(self) -> None:
        self._spawn(
            "upstream",
            [
                sys.executable,
                "-m",
                "authz",
                "sample-api",
                "--port",
                str(self.ports["upstream"]),
                "--record",
                str(self.record_path),
                "--lenient",
                self.lenient,
            ],
        )
        wait_until(lambda: self._alive("upstream") and self._tcp_open(self.ports["upstream"]), "sample API")

    def start_authz(self) -> None:
        for name in _authz_names(self.authz_processes):
            n = name[5:]  # "" for the first process, then "2", "3", …
            argv = [sys.executable, "-m", "authz", "serve", "--config", str(self.config_path)]
            argv += ["--listen", f"127.0.0.1:{self.ports[name]}"]
            argv += ["--metrics-listen", f"127.0.0.1:{self.ports['metrics' + n]}"]
            if n:  # one audit chain per process; the state store is shared
                argv += ["--audit-path", str(self.workdir / f"audit{n}.jsonl")]
            self._spawn(name, argv)
        for name in _authz_names(self.authz_processes):
            port = self.ports["metrics" + name[5:]]
            wait_until(lambda: self._alive(name) and self._tcp_open(port), name)  # noqa: B023

    def start_envoy(self) -> None:
        if self.rotating and not self.sds_path.exists():
            self.sds_path.parent.mkdir(exist_ok=True)
            self.sds_path.write_text(sds_file(str(self.pki.server_cert), str(self.pki.server_key)))
        envoy_yaml = self.workdir / "envoy.yaml"
        envoy_yaml.write_text(to_yaml(render(self.envoy_params())))
        self._spawn(
            "envoy",
            [
                envoy_binary(),
                "-c",
                str(envoy_yaml),
                "--use-dynamic-base-id",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ],
        )
        wait_until(self.authz_healthy_in_envoy, "Envoy (with a healthy agent-authz)")
        wait_until(self.authz_answers_through_envoy, "agent-authz answering through Envoy")

    def envoy_params(self) -> EnvoyParams:
        return EnvoyParams(
            server_cert=str(self.pki.server_cert),
            server_key=str(self.pki.server_key),
            trust_domains=[(TRUST_DOMAIN, str(self.pki.bundle))],
            listen=("127.0.0.1", self.ports["envoy"]),
            admin=("127.0.0.1", self.ports["admin"]),
            authz=[("127.0.0.1", self.ports[name]) for name in _authz_names(self.authz_processes)],
            upstream=("127.0.0.1", self.ports["upstream"]),
            health_check_interval="0.2s",
            approvals_descriptor=str(approvals_descriptor()),
            sds=Sds("file", str(self.sds_path)) if self.rotating else None,
            authz_tls=(
                (str(self.pki.agent_cert(SIDECAR)), str(self.pki.agent_key(SIDECAR)), str(self.pki.bundle))
                if self.protected
                else None
            ),
        )

    @property
    def sds_path(self) -> Path:
        return self.workdir / "sds" / "server.yaml"

    def rotate_server_cert(self, serial_hint: str) -> x509.Certificate:
        """A new server certificate for Envoy, as a rotation does it: new files, then a new SDS file
        renamed over the watched one (Envoy reloads on the move, without a restart)."""
        issued = make_server_cert(self.pki.load_ca())
        folder = self.sds_path.parent
        cert, key = folder / f"server-{serial_hint}.crt", folder / f"server-{serial_hint}.key"
        issued.write(cert, key)
        staged = folder / f".server-{serial_hint}.yaml"
        staged.write_text(sds_file(str(cert), str(key)))
        staged.rename(self.sds_path)
        return issued.cert

    def authz_healthy_in_envoy(self) -> bool:
        if not self._alive("envoy"):
            raise StackError(f"envoy exited; see {self.workdir / 'envoy.log'}")
        url = f"http://127.0.0.1:{self.ports['admin']}/clusters"
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback admin
            text = resp.read().decode()
        return all(
            f"agent_authz::127.0.0.1:{self.ports[name]}::health_flags::healthy" in text
            for name in _authz_names(self.authz_processes)
        )

    def authz_answers_through_envoy(self) -> bool:
        """Ready: agent-authz itself answers a probe sent through Envoy over mTLS (``ready``).

        Envoy's admin page can show the endpoint healthy a moment before its worker routes to it.
        """
        resp = self.client(self.agents[0]).request("GET", READY_PATH)
        return bool(resp.reason)  # agent-authz answered: "ready", or why not (audit_unavailable)

    def _alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            log = self.workdir / f"{name}.log"
            tail = log.read_text(errors="replace").splitlines()[-5:] if log.is_file() else []
            raise StackError(f"{name} is not running; see {log}" + "".join(f"\n  {line}" for line in tail))
        return True

    @staticmethod
    def _tcp_open(port: int) -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    def stop_process(self, name: str, timeout: float = 10.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_processes([proc], timeout)

    def stop_authz(self) -> None:
        """Every agent-authz process (Envoy's endpoints for the Check service)."""
        for name in _authz_names(self.authz_processes):
            self.stop_process(name)

    def stop(self) -> None:
        for name in ("envoy", *_authz_names(self.authz_processes), "upstream"):
            self.stop_process(name)
        if self.redis is not None:
            self.redis.stop()

    # -- clients -----------------------------------------------------------------------------
    def client(self, agent: str, *, cert: Path | None = None, key: Path | None = None) -> AgentClient:
        context = ssl.create_default_context(cafile=str(self.pki.bundle))
        context.load_cert_chain(
            str(cert or self.pki.agent_cert(agent)), str(key or self.pki.agent_key(agent))
        )
        return AgentClient(self.ports["envoy"], context)

    @property
    def issuer_key_path(self) -> Path:
        return self.workdir / "keys" / "task-issuer.key"

    def task_token(self, agent: str, **kwargs: Any) -> str:
        """A task token for ``agent``, signed by the stack's task issuer under the catalogue's rules."""
        cert = x509.load_pem_x509_certificate(self.pki.agent_cert(agent).read_bytes())
        return sign_demo_task(self.workdir, load_config(self.config_path), cert, **kwargs)

    def approval(
        self,
        approver: str,
        task_token: str,
        method: str,
        path: str,
        body: bytes,
        *,
        agent: str,
        **kwargs: Any,
    ) -> str:
        """What ``approver`` signs with their own key to approve exactly this request
        (``operation=`` and ``principal=`` name what it does)."""
        return sign_demo_approval(
            self.workdir, load_config(self.config_path), approver, task_token, method, path, body,
            agent_id=self.pki.spiffe_id(agent), **kwargs,
        )  # fmt: skip

    def upstream_record(self) -> list[dict[str, Any]]:
        """What the sample API executed. It creates the file at start-up, so a missing one is an
        error, never an empty record: a check of it would pass without looking at anything."""
        if not self.record_path.is_file():
            raise StackError(f"{self.record_path} is missing: the sample API creates it at start-up")
        return [json.loads(line) for line in self.record_path.read_text().splitlines() if line]

    def env_description(self) -> dict[str, Any]:
        agents = {
            name: {
                "spiffe_id": self.pki.spiffe_id(name),
                "cert": str(self.pki.agent_cert(name)),
                "key": str(self.pki.agent_key(name)),
            }
            for name in DEMO_AGENTS
        }
        return {
            "ports": self.ports,
            "pki_dir": str(self.pki.root),
            "trust_bundle": str(self.pki.bundle),
            "server_cert": str(self.pki.server_cert),
            "server_key": str(self.pki.server_key),
            "agents": agents,
            "config": str(self.config_path),
            "audit": str(self.audit_path),
            "state_store": str(self.workdir / "state.db"),
            "issuer_key": str(self.issuer_key_path),
            "issuer_kid": ISSUER_KID,
            "upstream_record": str(self.record_path),
            "envoy_config": str(self.workdir / "envoy.yaml"),
            "pids": {name: proc.pid for name, proc in self.procs.items()},
        }
