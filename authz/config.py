"""Configuration: TOML, validated once at start into frozen dataclasses.

Anything wrong — a missing file, bad TOML, an unknown or mistyped key, a bundle that does not
parse — is a ``ConfigError`` naming the file and the key, and the server does not start.
Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509

from authz.directory.file import DirectoryFileError, FileDirectory
from authz.keys import KeyFileError, PublicKey, algorithm_of, load_public_key
from authz.spiffe import SpiffeIdError, parse_spiffe_id


class ConfigError(Exception):
    """A configuration problem found at start-up; names the file and the key."""

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        where = f"{file}: {key}" if key else str(file)
        super().__init__(f"{where}: {problem}")
        self.file, self.key, self.problem = str(file), key, problem


class AgentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


OPERATION_CLASSES = ("read", "write", "credential_change", "privilege_change", "key_export")
#: Classes whose allow changes state, so its audit record must be on disk before the allow.
READ_CLASSES = frozenset({"read"})
#: Classes that always need human approval (stage 6); a route can ask for it too.
GATED_CLASSES = frozenset({"credential_change", "privilege_change", "key_export"})
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,=-]+$")
_OPERATION = re.compile(r"^[a-z][a-z0-9_.-]*$")


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:9001"
    metrics_listen: str = "127.0.0.1:9464"
    workers: int = 4


@dataclass(frozen=True)
class AuditConfig:
    path: Path
    fsync: bool = True


@dataclass(frozen=True)
class TrustDomain:
    name: str
    bundle_path: Path
    bundle: tuple[x509.Certificate, ...] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Agent:
    spiffe_id: str
    owner: str
    status: AgentStatus
    description: str = ""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    operation: str
    op_class: str
    principal_param: str | None
    principal_body_field: str | None
    reversible: bool
    allow_query: bool = False
    approval: bool = False  # needs human approval even though its class does not

    @property
    def gated(self) -> bool:
        return self.approval or self.op_class in GATED_CLASSES

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    @property
    def state_changing(self) -> bool:
        return self.op_class not in READ_CLASSES


@dataclass(frozen=True)
class TasksConfig:
    """How task tokens are verified (DESIGN §3.1); algorithms and keys never come from a token."""

    issuer: str
    audience: str
    keys: Mapping[str, PublicKey] = field(repr=False)  # kid → key; several for rotation
    algorithms: frozenset[str] = frozenset({"EdDSA"})
    max_ttl: int = 900
    leeway: int = 30
    max_token_bytes: int = 4096
    max_delegation_depth: int = 2


@dataclass(frozen=True)
class Intent:
    id: str
    description: str
    operations: frozenset[str]
    agents: frozenset[str]  # SPIFFE IDs that may declare it
    break_glass: bool = False


@dataclass(frozen=True)
class Approver:
    id: str
    name: str
    key: PublicKey = field(repr=False)
    classes: frozenset[str]  # operation classes this approver may approve


@dataclass(frozen=True)
class ApprovalsConfig:
    """Who may approve what, how approval tokens are checked, and how many approvers it takes.

    The audience of an approval is the task audience: the protected API.
    """

    approvers: Mapping[str, Approver] = field(default_factory=dict)
    algorithms: frozenset[str] = frozenset({"EdDSA"})
    max_ttl: int = 900
    max_tokens: int = 4  # approval tokens one request may carry
    max_token_bytes: int = 4096
    required: Mapping[str, int] = field(default_factory=dict)  # class → distinct approvers (≥ 1)
    break_glass_required: int = 2
    privileged_required: int = 2
    privileged_principals: frozenset[str] = frozenset()
    requests_per_agent: int = 10  # new approval requests an agent may file per window
    requests_window: int = 60  # seconds
    poll_interval: int = 5  # seconds an agent waits between polls of a pending request
    webhook_url: str | None = None  # JSON POST for every new approval request
    webhook_timeout: int = 2  # seconds per attempt

    def threshold(self, op_class: str, break_glass: bool, principal: str) -> int:
        """Distinct approvers needed: the class's count, raised for break-glass and privileged."""
        needed = max(1, self.required.get(op_class, 1))
        if break_glass:
            needed = max(needed, self.break_glass_required)
        if principal in self.privileged_principals:
            needed = max(needed, self.privileged_required)
        return needed


@dataclass(frozen=True)
class DirectoryConfig:
    """Where live attributes of target principals come from (stage 7)."""

    kind: str  # "http" | "file"
    url: str | None = None  # http: with {name}
    path: Path | None = None  # file: {"principals": {name: entry}}
    ttl: int = 30
    timeout_ms: int = 500
    max_concurrency: int = 8
    reads_when_unavailable: str = "deny"  # the pre-approved degraded rule for reads: deny | allow


@dataclass(frozen=True)
class Config:
    source: Path
    server: ServerConfig
    audit: AuditConfig
    trust_domains: tuple[TrustDomain, ...]
    agents: Mapping[str, Agent]
    routes: tuple[Route, ...]
    tasks: TasksConfig
    intents: Mapping[str, Intent]
    store_path: Path
    max_body_bytes: int = 65536
    approvals: ApprovalsConfig = field(default_factory=ApprovalsConfig)
    directory: DirectoryConfig | None = None  # None: no live context (targets are "unknown")


class _Table:
    """A TOML table being read: every key is taken at most once, leftovers are errors."""

    def __init__(self, file: Path, prefix: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(file, prefix, "must be a table")
        self.file, self.prefix, self.data = file, prefix, dict(data)

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _take(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if name not in self.data:
            if default is _REQUIRED:
                raise ConfigError(self.file, self._key(name), "is required")
            return default
        value = self.data.pop(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(self.file, self._key(name), f"has the wrong type ({type(value).__name__})")
        return value

    def text(self, name: str, default: Any = None, *, nonempty: bool = True) -> Any:
        value = self._take(name, str, _REQUIRED if default is None else default)
        if nonempty and isinstance(value, str) and not value.strip():
            raise ConfigError(self.file, self._key(name), "must not be empty")
        return value

    def opt_str(self, name: str) -> str | None:
        value = self._take(name, str, None)
        if value is not None and not value.strip():
            raise ConfigError(self.file, self._key(name), "must not be empty")
        return value  # type: ignore[no-any-return]

    def flag(self, name: str, default: bool) -> bool:
        return self._take(name, bool, default)  # type: ignore[no-any-return]

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value: int = self._take(name, int, default)
        if value < minimum:
            raise ConfigError(self.file, self._key(name), f"must be at least {minimum}")
        return value

    def path(self, name: str) -> Path:
        value = self.text(name)
        path = Path(value)
        return path if path.is_absolute() else (self.file.parent / path)

    def tables(self, name: str) -> list[_Table]:
        items = self._take(name, list, [])
        return [_Table(self.file, f"{self._key(name)}[{i}]", item) for i, item in enumerate(items)]

    def table(self, name: str) -> _Table:
        return _Table(self.file, self._key(name), self._take(name, dict, {}))

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self._key(name), problem)

    def done(self) -> None:
        if self.data:
            unknown = ", ".join(sorted(self.data))
            raise ConfigError(self.file, self.prefix or "(top level)", f"unknown key(s): {unknown}")


_REQUIRED = object()


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
    top = _Table(file, "", raw)
    config = Config(
        source=file,
        server=_server(top.table("server")),
        audit=_audit(top.table("audit")),
        trust_domains=_trust_domains(top),
        agents=_agents(top),
        routes=_routes(top),
        tasks=_tasks(top.table("tasks")),
        intents=_intents(top),
        store_path=_store_path(top.table("store")),
        max_body_bytes=top.integer("max_body_bytes", 65536),
        approvals=_approvals(top.table("approvals")),
        directory=_directory(top.table("directory")) if "directory" in top.data else None,
    )
    top.done()
    _check_agents_in_trust_domains(config, file)
    _check_intents(config, file)
    return config


def _server(t: _Table) -> ServerConfig:
    d = ServerConfig()
    cfg = ServerConfig(
        listen=_address(t, "listen", d.listen),
        metrics_listen=_address(t, "metrics_listen", d.metrics_listen),
        workers=t.integer("workers", d.workers),
    )
    t.done()
    return cfg


def _address(t: _Table, name: str, default: str) -> str:
    value: str = t.text(name, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise t.fail(name, f"must be HOST:PORT, got {value!r}")
    return value


def _audit(t: _Table) -> AuditConfig:
    cfg = AuditConfig(path=t.path("path"), fsync=t.flag("fsync", True))
    if cfg.path.is_file() is False and not cfg.path.parent.is_dir():
        raise t.fail("path", f"folder {cfg.path.parent} does not exist")
    t.done()
    return cfg


def _trust_domains(top: _Table) -> tuple[TrustDomain, ...]:
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


def _read_bundle(t: _Table, path: Path) -> tuple[x509.Certificate, ...]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise t.fail("bundle", f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise t.fail("bundle", f"{path} holds no valid PEM certificate") from None
    return tuple(certs)


def _agents(top: _Table) -> Mapping[str, Agent]:
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


def _routes(top: _Table) -> tuple[Route, ...]:
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
        )
        t.done()
        if any((r.method, r.segments) == (route.method, route.segments) for r in routes):
            raise t.fail("path", f"{method} {path} is listed twice")
        routes.append(route)
    if not routes:
        raise top.fail("routes", "at least one route is required")
    return tuple(routes)


def _template_params(t: _Table, path: str) -> list[str]:
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


_ALGORITHMS = ("EdDSA", "ES256")


def _tasks(t: _Table) -> TasksConfig:
    d = TasksConfig("", "", {})
    algorithms = frozenset(_string_list(t, "algorithms", sorted(d.algorithms)))
    if not algorithms <= set(_ALGORITHMS):
        raise t.fail("algorithms", f"only {', '.join(_ALGORITHMS)} are supported")
    keys: dict[str, PublicKey] = {}
    for k in t.tables("keys"):
        kid = k.text("kid")
        try:
            key = load_public_key(k.path("public_key"))
        except KeyFileError as exc:
            raise k.fail("public_key", str(exc)) from None
        if algorithm_of(key) not in algorithms:
            raise k.fail("public_key", f"its algorithm {algorithm_of(key)} is not in tasks.algorithms")
        if kid in keys:
            raise k.fail("kid", "listed twice")
        keys[kid] = key
        k.done()
    if not keys:
        raise t.fail("keys", "at least one issuer key is required")
    cfg = TasksConfig(
        issuer=t.text("issuer"),
        audience=t.text("audience"),
        keys=keys,
        algorithms=algorithms,
        max_ttl=t.integer("max_ttl", d.max_ttl),
        leeway=t.integer("leeway", d.leeway, minimum=0),
        max_token_bytes=t.integer("max_token_bytes", d.max_token_bytes, minimum=256),
        max_delegation_depth=t.integer("max_delegation_depth", d.max_delegation_depth, minimum=0),
    )
    t.done()
    return cfg


def _algorithms(t: _Table) -> frozenset[str]:
    algorithms = frozenset(_string_list(t, "algorithms", ["EdDSA"]))
    if not algorithms <= set(_ALGORITHMS):
        raise t.fail("algorithms", f"only {', '.join(_ALGORITHMS)} are supported")
    return algorithms


def _public_key(t: _Table, algorithms: frozenset[str]) -> PublicKey:
    try:
        key = load_public_key(t.path("public_key"))
    except KeyFileError as exc:
        raise t.fail("public_key", str(exc)) from None
    if algorithm_of(key) not in algorithms:
        raise t.fail("public_key", f"its algorithm {algorithm_of(key)} is not among the accepted algorithms")
    return key


def _approvals(t: _Table) -> ApprovalsConfig:
    d = ApprovalsConfig()
    algorithms = _algorithms(t)
    approvers: dict[str, Approver] = {}
    for a in t.tables("approvers"):
        approver = Approver(
            id=a.text("id"),
            name=a.text("name"),
            key=_public_key(a, algorithms),
            classes=frozenset(_string_list(a, "classes")),
        )
        if unknown := sorted(approver.classes - set(OPERATION_CLASSES)):
            raise a.fail("classes", f"unknown operation class(es) {unknown}")
        if approver.id in approvers:
            raise a.fail("id", "listed twice")
        approvers[approver.id] = approver
        a.done()
    required_table = t.table("required")
    required = {c: required_table.integer(c, 1) for c in OPERATION_CLASSES if c in required_table.data}
    required_table.done()
    cfg = ApprovalsConfig(
        approvers=approvers,
        algorithms=algorithms,
        max_ttl=t.integer("max_ttl", d.max_ttl),
        max_tokens=t.integer("max_tokens", d.max_tokens),
        max_token_bytes=t.integer("max_token_bytes", d.max_token_bytes, minimum=256),
        required=required,
        break_glass_required=t.integer("break_glass_required", d.break_glass_required),
        privileged_required=t.integer("privileged_required", d.privileged_required),
        privileged_principals=frozenset(_strings_or_empty(t, "privileged_principals")),
        requests_per_agent=t.integer("requests_per_agent", d.requests_per_agent),
        requests_window=t.integer("requests_window", d.requests_window),
        poll_interval=t.integer("poll_interval", d.poll_interval),
        webhook_url=_webhook_url(t),
        webhook_timeout=t.integer("webhook_timeout", d.webhook_timeout),
    )
    t.done()
    return cfg


def _webhook_url(t: _Table) -> str | None:
    url = t.opt_str("webhook_url")
    if url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", url):
        raise t.fail("webhook_url", "must be an http:// or https:// URL")
    return url


def _strings_or_empty(t: _Table, name: str) -> list[str]:
    value = t._take(name, list, [])
    if not all(isinstance(v, str) and v for v in value):
        raise t.fail(name, "must be a list of non-empty strings")
    return list(value)


def _string_list(t: _Table, name: str, default: list[str] | None = None) -> list[str]:
    value = t._take(name, list, _REQUIRED if default is None else default)
    if not value or not all(isinstance(v, str) and v for v in value):
        raise t.fail(name, "must be a non-empty list of strings")
    return list(value)


def _intents(top: _Table) -> Mapping[str, Intent]:
    intents: dict[str, Intent] = {}
    for t in top.tables("intents"):
        intent = Intent(
            id=t.text("id"),
            description=t.text("description"),
            operations=frozenset(_string_list(t, "operations")),
            agents=frozenset(_string_list(t, "agents")),
            break_glass=t.flag("break_glass", False),
        )
        if intent.id in intents:
            raise t.fail("id", "listed twice")
        intents[intent.id] = intent
        t.done()
    return intents


def _check_intents(config: Config, file: Path) -> None:
    operations = {r.operation for r in config.routes}
    for i, intent in enumerate(config.intents.values()):
        if unknown := sorted(intent.operations - operations):
            raise ConfigError(file, f"intents[{i}].operations", f"no route has operation(s) {unknown}")
        if unknown := sorted(intent.agents - set(config.agents)):
            raise ConfigError(file, f"intents[{i}].agents", f"not registered: {unknown}")


def _directory(t: _Table) -> DirectoryConfig:
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


def _store_path(t: _Table) -> Path:
    path = t.path("path")
    if not path.parent.is_dir():
        raise t.fail("path", f"folder {path.parent} does not exist")
    t.done()
    return path
