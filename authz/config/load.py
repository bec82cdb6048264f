"""``load_config``: a TOML file → ``Config``, or a ``ConfigError`` naming file and key."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509

from authz.config.credentials import approvals_section, check_intents, intents_section, tasks_section
from authz.config.directory import read_directory
from authz.config.model import (
    Agent,
    AgentStatus,
    AuditConfig,
    Config,
    ConfigError,
    Route,
    ServerConfig,
    TracingConfig,
    TrustDomain,
    route_actions,
)
from authz.config.routes import listen_warnings, read_routes, route_warnings, upstream_names
from authz.config.server_tls import server_tls
from authz.config.store import read_store
from authz.config.table import Table
from authz.errors import PolicyError
from authz.policy.engine import SCHEMA_FILE, Policies
from authz.svid.bundle import check_trust_bundle
from authz.svid.spiffe_id import SpiffeIdError, check_trust_domain, parse_spiffe_id


def load_config(path: str | Path) -> Config:
    file = Path(path).resolve()
    try:
        text = file.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"is not valid TOML: {exc}") from None
    top = Table(file, "", raw)
    routes = read_routes(top, text, upstream_names(top))
    server = _server(top.table("server"))
    config = Config(
        source=file,
        server=server,
        audit=_audit(top.table("audit")),
        trust_domains=_trust_domains(top),
        agents=_agents(top),
        routes=routes,
        tasks=tasks_section(top.table("tasks")),
        intents=intents_section(top),
        store=read_store(top.table("store")),
        max_body_bytes=top.integer("max_body_bytes", 65536),
        approvals=approvals_section(top.table("approvals")),
        directory=read_directory(top.table("directory")) if "directory" in top.data else None,
        **_policy(top.table("policy"), routes),
        warnings=tuple(route_warnings(routes, file) + _plaintext_warnings(server, file)),
        tracing=_tracing(top.table("tracing")) if "tracing" in top.data else None,
    )
    top.done()
    by_id = next((r for r in routes if r.ids == "directory"), None)
    if by_id is not None and config.directory is None:
        raise ConfigError(
            file, "directory", f'{by_id.describe()} names accounts by the upstream\'s ids (ids = '
            '"directory"): a [directory] must say whom each id is',
        )  # fmt: skip
    _check_agents_in_trust_domains(config, file)
    check_intents(config, file)
    return config


def _tracing(t: Table) -> TracingConfig:
    d = TracingConfig()
    endpoint: str = t.text("otlp_endpoint")
    if not re.match(r"https?://[^/?#\s]+(:\d+)?/?\Z", endpoint):
        raise t.fail("otlp_endpoint", "must be the collector's http(s)://host:port (OTLP over gRPC)")
    ratio = t._take("sample_ratio", (int, float), d.sample_ratio)
    if isinstance(ratio, bool) or not 0 <= ratio <= 1:
        raise t.fail("sample_ratio", "must be a number from 0 to 1")
    cfg = TracingConfig(
        endpoint, t.text("service_name", d.service_name), float(ratio), t.flag("insecure", d.insecure)
    )
    t.done()
    return cfg


def _plaintext_warnings(server: ServerConfig, file: Path) -> list[str]:
    return listen_warnings(server.listen, "server.listen", file) if server.tls is None else []


def _server(t: Table) -> ServerConfig:
    d = ServerConfig()
    cfg = ServerConfig(
        listen=_address(t, "listen", d.listen),
        metrics_listen=_address(t, "metrics_listen", d.metrics_listen),
        workers=t.integer("workers", d.workers),
        outcome_streams=t.integer("outcome_streams", d.outcome_streams),
        tls=server_tls(t.table("tls")) if "tls" in t.data else None,
        allow_plaintext=t.flag("allow_plaintext", d.allow_plaintext),
    )
    t.done()
    return cfg


def _address(t: Table, name: str, default: str) -> str:
    value: str = t.text(name, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise t.fail(name, f"must be HOST:PORT, got {value!r}")
    return value


def _audit(t: Table) -> AuditConfig:
    cfg = AuditConfig(path=t.path("path"), fsync=t.flag("fsync", True))
    if cfg.path.is_file() is False and not cfg.path.parent.is_dir():
        raise t.fail("path", f"folder {cfg.path.parent} does not exist")
    t.done()
    return cfg


def _trust_domains(top: Table) -> tuple[TrustDomain, ...]:
    domains: list[TrustDomain] = []
    for t in top.tables("trust_domains"):
        name = t.text("name")
        try:
            check_trust_domain(name)
        except SpiffeIdError as exc:
            raise t.fail("name", f"must be a SPIFFE trust domain name: {exc}") from None
        bundle_path = t.path("bundle")
        bundle = _read_bundle(t, bundle_path)
        try:
            check_trust_bundle(name, bundle)
        except ValueError as exc:
            raise t.fail("bundle", f"{bundle_path}: {exc}") from None
        domains.append(TrustDomain(name, bundle_path, bundle))
        t.done()
    if not domains:
        raise top.fail("trust_domains", "at least one trust domain is required")
    if len({d.name for d in domains}) != len(domains):
        raise top.fail("trust_domains", "a trust domain is listed twice")
    return tuple(domains)


def _read_bundle(t: Table, path: Path) -> tuple[x509.Certificate, ...]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise t.fail("bundle", f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise t.fail("bundle", f"{path} holds no valid PEM certificate") from None
    return tuple(certs)


def _agents(top: Table) -> Mapping[str, Agent]:
    agents: dict[str, Agent] = {}
    for t in top.tables("agents"):
        spiffe_id = t.text("spiffe_id")
        try:
            parse_spiffe_id(spiffe_id)
        except SpiffeIdError as exc:
            raise t.fail("spiffe_id", str(exc)) from None
        status_text = t.text("status", AgentStatus.ACTIVE.value)
        try:
            status = AgentStatus(status_text)
        except ValueError:
            raise t.fail("status", "must be 'active' or 'suspended'") from None
        if spiffe_id in agents:
            raise t.fail("spiffe_id", "agent registered twice")
        description = t.text("description", "", nonempty=False)
        agents[spiffe_id] = Agent(spiffe_id, t.text("owner"), status, description)
        t.done()
    return agents


def _check_agents_in_trust_domains(config: Config, file: Path) -> None:
    names = {d.name for d in config.trust_domains}
    for i, agent in enumerate(config.agents.values()):
        if parse_spiffe_id(agent.spiffe_id)[0] not in names:
            raise ConfigError(file, f"agents[{i}].spiffe_id", "trust domain is not configured")


def _policy(t: Table, routes: tuple[Route, ...]) -> dict[str, Any]:
    path = t.path("dir")
    enforce = t.flag("enforce", True)
    t.done()
    try:
        policies = Policies.load(path, route_actions(routes))  # loaded again by the server: checked here
    except PolicyError as exc:
        raise ConfigError(t.file, "policy.dir", str(exc)) from None
    for i, route in enumerate(routes):  # else no policy could ever allow the route
        if not policies.declares(route.operation):
            problem = f"{route.operation!r} is not an action of {path / SCHEMA_FILE}"
            raise ConfigError(t.file, f"routes[{i}].operation", problem)
    return {"policy_dir": path, "policy_enforce": enforce}
