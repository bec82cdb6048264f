"""The configuration as frozen dataclasses, and ``ConfigError``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from cryptography import x509

from authz.errors import ConfigError
from authz.names import NameRule
from authz.tokens.keys import PublicKey

__all__ = ["ConfigError"]  # defined in authz.errors, part of this package's interface


class AgentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


OPERATION_CLASSES = ("read", "write", "credential_change", "privilege_change", "key_export")


#: Classes whose allow changes state, so its audit record must be on disk before the allow.
READ_CLASSES = frozenset({"read"})


#: Classes that always need human approval (stage 6); a route can ask for it too.
GATED_CLASSES = frozenset({"credential_change", "privilege_change", "key_export"})


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class ServerTls:
    """TLS with client certificates on the Check port: only the listed SPIFFE IDs (Envoy
    sidecars) may ask for decisions."""

    cert: Path
    key: Path
    client_ca: Path  # the bundle client certificates must chain to
    allowed_clients: tuple[str, ...]  # SPIFFE IDs


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:9001"
    metrics_listen: str = "127.0.0.1:9464"
    workers: int = 4
    outcome_streams: int = 32  # Envoy access-log streams served at once, each holding a thread
    tls: ServerTls | None = None  # None: plaintext, for loopback (or allow_plaintext)
    allow_plaintext: bool = False  # a plaintext Check port off loopback, knowingly

    @property
    def plaintext_exposed(self) -> bool:
        """A plaintext Check port that is not on loopback: anyone who reaches it gets decisions."""
        host = self.listen.rpartition(":")[0].strip("[]")
        loopback = host in ("::1", "localhost") or host.startswith("127.")
        return self.tls is None and not loopback


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


#: JSON types a body schema can name; ``object`` and ``array`` come from nested tables and lists.
JSON_SCALARS = ("string", "integer", "number", "boolean")


@dataclass(frozen=True)
class JsonType:
    """The shape a route accepts for a JSON value: a scalar, an object with exactly these keys
    (each optional), or an array of one element type."""

    kind: str  # one of JSON_SCALARS, "object" or "array"
    fields: tuple[tuple[str, JsonType], ...] = ()  # object: the keys it may hold, and their types
    items: JsonType | None = None  # array: the type of every element
    nullable: bool = False  # ``"string?"``: null is accepted too

    @cached_property
    def field_map(self) -> dict[str, JsonType]:
        return dict(self.fields)


#: How a route reads its operations from the body (``authz/stages/derive/``).
DERIVE_READERS = ("attributes", "scim-patch", "scim-bulk")

#: How a membership attribute names its principals: ``{"value": …}`` objects (SCIM), plain
#: strings, or OData references (``https://…/directoryObjects/{id}``, Microsoft Graph).
MEMBER_FORMS = ("value", "string", "odata-id")

#: How a route's paths and bodies name accounts: as tasks do (``names``), or by the upstream's
#: own ids, which the directory maps to names (``directory``: SCIM ids, Keycloak's UUIDs).
ID_SCHEMES = ("names", "directory")


@dataclass(frozen=True)
class AttributeRule:
    """A body attribute that makes the request another operation than the route's own."""

    name: str  # compared as a lenient upstream would (``key_skeleton``): any case, any separators
    operation: str
    op_class: str
    reversible: bool = True
    equals: bool | None = None  # only when the attribute is set to this value (``active = false``)
    ops: frozenset[str] | None = None  # SCIM PATCH: only for these ``op``s (add, remove, replace)
    members: str | None = None  # its values are principals, in one of MEMBER_FORMS


@dataclass(frozen=True)
class Derive:
    """A route whose operations are read from its body: by ``reader``, under ``rules``."""

    reader: str  # one of DERIVE_READERS
    rules: tuple[AttributeRule, ...] = ()


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
    enforce: bool = True  # False: shadow mode for this route's policy decisions (audited, not enforced)
    query_names: frozenset[str] | None = None  # allow_query with these parameter names only
    body: JsonType | None = None  # the body schema; None: any keys, within the reading rules
    names: NameRule = NameRule.EXACT  # how the upstream compares principal and group names
    group_param: str | None = None  # the {param} naming the group a membership change touches
    derive: Derive | None = None  # operations read from the body
    refuse: str | None = None  # matched only to be refused, with this reason (``PUT`` full replaces…)
    pack: str | None = None  # the route pack it comes from
    ids: str = "names"  # one of ID_SCHEMES
    line: int | None = field(default=None, compare=False)  # where the route is in its file

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(s[1:-1] for s in self.segments if s.startswith("{"))

    @property
    def takes_body(self) -> bool:
        return self.principal_body_field is not None or self.body is not None or self.derive is not None

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class TasksConfig:
    """How task tokens are verified (docs/tokens.md); algorithms and keys never come from a token."""

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
    principal: str = ""  # the approver's own name in the directory (default: the id)

    @property
    def identity(self) -> str:
        return self.principal or self.id


@dataclass(frozen=True)
class ApprovalsConfig:
    """Who may approve what, and how approval tokens are checked. How many approvers a request
    needs is the policy's to say (``context.approvals``); one is the floor for gated classes.

    The audience of an approval is the task audience: the protected API.
    """

    approvers: Mapping[str, Approver] = field(default_factory=dict)
    algorithms: frozenset[str] = frozenset({"EdDSA"})
    max_ttl: int = 900
    max_tokens: int = 4  # approval tokens one request may carry
    max_token_bytes: int = 4096
    requests_per_agent: int = 10  # new approval requests an agent may file per window
    requests_window: int = 60  # seconds
    poll_interval: int = 5  # seconds an agent waits between polls of a pending request
    webhook_url: str | None = None  # JSON POST for every new approval request
    webhook_timeout: int = 2  # seconds per attempt


@dataclass(frozen=True)
class DirectoryConfig:
    """Where live attributes of target principals come from (stage 7)."""

    kind: str  # "http" | "file" | "scim"
    url: str | None = None  # http: with {name}; scim: the SCIM base URL
    path: Path | None = None  # file: {"principals": {name: entry}}
    ttl: int = 30
    timeout_ms: int = 500
    max_concurrency: int = 8
    reads_when_unavailable: str = "deny"  # the pre-approved degraded rule for reads: deny | allow
    group_url: str | None = None  # http: group lookups, with {name}
    unknown_targets: str = "deny"  # changes to a principal or group the directory does not know
    token: str | None = field(default=None, repr=False)  # scim: bearer token (from token_file)
    service_types: tuple[str, ...] = ()  # scim: userTypes of service accounts (default: SERVICE_TYPES)
    privileged_roles: tuple[str, ...] = ("*",)  # scim: globs of roles that make an account privileged
    privileged_groups: tuple[str, ...] = ()  # scim: globs of privileged groups' displayNames


@dataclass(frozen=True)
class TracingConfig:
    """OpenTelemetry traces: off unless ``[tracing] otlp_endpoint`` is set."""

    otlp_endpoint: str = ""
    service_name: str = "agent-authz"
    sample_ratio: float = 1.0  # of traces that do not come with a sampling decision of their own
    insecure: bool = True  # plaintext gRPC to the collector (a local agent or sidecar)


@dataclass(frozen=True)
class StoreConfig:
    """Where revocations, suspensions, budgets, consumed approvals and the approval queue live."""

    kind: str = "sqlite"  # "sqlite" (one host) | "redis" (several)
    path: Path | None = None  # sqlite: the database file
    url: str | None = None  # redis: redis[s]://host:port/db
    password: str | None = field(default=None, repr=False)  # redis: from password_file or _env
    ca_file: Path | None = None  # rediss: the CA bundle the server's certificate chains to
    timeout_ms: int = 250  # per command and per connect
    retries: int = 1  # a failed command is tried again this many times
    pool_size: int = 32  # connections per process
    replicas: int = 0  # an allow that consumes an approval waits for this many replicas (WAIT)
    key_prefix: str = "authz"
    reads_when_unavailable: str = "deny"  # the degraded rule: "allow" serves reads from memory
    max_staleness: int = 5  # seconds: the oldest state an allowed read may be decided on
    sentinels: tuple[tuple[str, int], ...] = ()  # redis-sentinel addresses (instead of url's host)
    sentinel_service: str = "mymaster"


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
    store: StoreConfig
    policy_dir: Path  # Cedar policies and their schema (stage 8)
    max_body_bytes: int = 65536
    approvals: ApprovalsConfig = field(default_factory=ApprovalsConfig)
    directory: DirectoryConfig | None = None  # None: no live context (targets are "unknown")
    policy_enforce: bool = True  # False: shadow mode for every policy decision
    warnings: tuple[str, ...] = ()  # what `config check` points out without refusing
    tracing: TracingConfig | None = None  # None: no traces

    @property
    def store_path(self) -> Path:
        """The SQLite file (a ``ConfigError`` for a Redis store: callers that need a file)."""
        if self.store.path is None:
            raise ConfigError(self.source, "store.path", f"the {self.store.kind} store has no file")
        return self.store.path

    @cached_property
    def actions(self) -> dict[str, str]:
        """Every operation the route table can decide on, with its class."""
        return route_actions(self.routes)


def route_actions(routes: tuple[Route, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for route in routes:
        found.setdefault(route.operation, route.op_class)
        for rule in route.derive.rules if route.derive else ():
            found.setdefault(rule.operation, rule.op_class)
    return found
