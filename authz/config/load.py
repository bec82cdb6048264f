"""``load_config``: a TOML file → ``Config``, or a ``ConfigError`` naming file and key."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509

from authz.config.credentials import approvals_section, check_intents, intents_section, tasks_section
from authz.config.model import (
    METHODS,
    OPERATION_CLASSES,
    Agent,
    AgentStatus,
    AuditConfig,
    Config,
    ConfigError,
    DirectoryConfig,
    Route,
    ServerConfig,
    TrustDomain,
)
from authz.config.table import Table
from authz.directory.file import DirectoryFileError, FileDirectory
from authz.policy.engine import SCHEMA_FILE, Policies, PolicyError
from authz.spiffe import SpiffeIdError, parse_spiffe_id

_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


_LITERAL = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,=-]+$")


_OPERATION = re.compile(r"^[a-z][a-z0-9_.-]*$")


def load_config(path: str | Path) -> Config:
    file = Path(path).resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"is not valid TOML: {exc}") from None
    top = Table(file, "", raw)
    routes = _routes(top)
    config = Config(
        source=file,
        server=_server(top.table("server")),
        audit=_audit(top.table("audit")),
        trust_domains=_trust_domains(top),
        agents=_agents(top),
        routes=routes,
        tasks=tasks_section(top.table("tasks")),
        intents=intents_section(top),
        store_path=_store_path(top.table("store")),
        max_body_bytes=top.integer("max_body_bytes", 65536),
        approvals=approvals_section(top.table("approvals")),
        directory=_directory(top.table("directory")) if "directory" in top.data else None,
        **_policy(top.table("policy"), routes),
    )
    top.done()
    _check_agents_in_trust_domains(config, file)
    check_intents(config, file)
    return config


def _server(t: Table) -> ServerConfig:
    d = ServerConfig()
    cfg = ServerConfig(
        listen=_address(t, "listen", d.listen),
        metrics_listen=_address(t, "metrics_listen", d.metrics_listen),
        workers=t.integer("workers", d.workers),
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
        if not re.fullmatch(r"[a-z0-9._-]+", name):
            raise t.fail("name", "must be a SPIFFE trust domain name (lowercase letters, digits, . _ -)")
        bundle_path = t.path("bundle")
        domains.append(TrustDomain(name, bundle_path, _read_bundle(t, bundle_path)))
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


def _routes(top: Table) -> tuple[Route, ...]:
    routes: list[Route] = []
    for t in top.tables("routes"):
        method = t.text("method")
        if method not in METHODS:
            raise t.fail("method", f"must be one of {', '.join(METHODS)}")
        path = t.text("path")
        params = _template_params(t, path)
        operation = t.text("operation")
        if not _OPERATION.fullmatch(operation):
            raise t.fail("operation", "must be lowercase letters, digits, '.', '_' or '-'")
        op_class = t.text("class")
        if op_class not in OPERATION_CLASSES:
            raise t.fail("class", f"must be one of {', '.join(OPERATION_CLASSES)}")
        principal = t.table("principal")
        param, body_field = principal.opt_str("path_param"), principal.opt_str("body_field")
        principal.done()
        if param is None and body_field is None:
            raise t.fail("principal", "needs path_param and/or body_field")
        if param is not None and param not in params:
            raise t.fail("principal.path_param", f"{{{param}}} is not in the path template")
        route = Route(
            method,
            path,
            operation,
            op_class,
            param,
            body_field,
            reversible=t.flag("reversible", False),
            allow_query=t.flag("allow_query", False),
            approval=t.flag("approval", False),
            enforce=t.flag("enforce", True),
        )
        t.done()
        if any((r.method, r.segments) == (route.method, route.segments) for r in routes):
            raise t.fail("path", f"{method} {path} is listed twice")
        routes.append(route)
    if not routes:
        raise top.fail("routes", "at least one route is required")
    return tuple(routes)


def _template_params(t: Table, path: str) -> list[str]:
    if not path.startswith("/") or path == "/" or path.endswith("/") or "//" in path:
        raise t.fail("path", "must be /segment/... without empty segments or a trailing '/'")
    params: list[str] = []
    for segment in path.strip("/").split("/"):
        match = _PARAM.fullmatch(segment)
        if match:
            params.append(match.group(1))
        elif segment in (".", "..") or not _LITERAL.fullmatch(segment):
            raise t.fail("path", f"segment {segment!r} is neither a literal nor {{param}}")
    if len(set(params)) != len(params):
        raise t.fail("path", "a {param} is used twice")
    return params


def _directory(t: Table) -> DirectoryConfig:
    d = DirectoryConfig("")
    kind = t.text("kind")
    if kind not in ("http", "file"):
        raise t.fail("kind", 'must be "http" or "file"')
    url = t.opt_str("url") if kind == "http" else None
    path = t.path("path") if kind == "file" else None
    if path is not None:
        try:
            FileDirectory(path)  # read again by the server; a broken file stops it here
        except DirectoryFileError as exc:
            raise t.fail("path", str(exc)) from None
    if kind == "http" and (url is None or "{name}" not in url or not re.match(r"https?://", url)):
        raise t.fail("url", "must be an http(s) URL containing {name}")
    rule = t.text("reads_when_unavailable", d.reads_when_unavailable)
    if rule not in ("deny", "allow"):
        raise t.fail("reads_when_unavailable", 'must be "deny" or "allow"')
    cfg = DirectoryConfig(
        kind=kind,
        url=url,
        path=path,
        ttl=t.integer("ttl", d.ttl, minimum=0),
        timeout_ms=t.integer("timeout_ms", d.timeout_ms),
        max_concurrency=t.integer("max_concurrency", d.max_concurrency),
        reads_when_unavailable=rule,
    )
    t.done()
    return cfg


def _policy(t: Table, routes: tuple[Route, ...]) -> dict[str, Any]:
    path = t.path("dir")
    enforce = t.flag("enforce", True)
    t.done()
    try:
        policies = Policies.load(path)  # loaded again by the server; a broken policy stops it here
    except PolicyError as exc:
        raise ConfigError(t.file, "policy.dir", str(exc)) from None
    for i, route in enumerate(routes):  # else no policy could ever allow the route
        if not policies.declares(route.operation):
            problem = f"{route.operation!r} is not an action of {path / SCHEMA_FILE}"
            raise ConfigError(t.file, f"routes[{i}].operation", problem)
    return {"policy_dir": path, "policy_enforce": enforce}


def _store_path(t: Table) -> Path:
    path = t.path("path")
    if not path.parent.is_dir():
        raise t.fail("path", f"folder {path.parent} does not exist")
    t.done()
    return path
