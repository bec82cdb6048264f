"""Configuration: TOML, validated once at start into frozen dataclasses.

Anything wrong — a missing file, bad TOML, an unknown or mistyped key, a bundle that does not
parse — is a ``ConfigError`` naming the file and the key, and the server does not start.
Relative paths are resolved against the config file's folder.
"""

from authz.config.load import load_config
from authz.config.model import (
    DERIVE_READERS,
    GATED_CLASSES,
    MEMBER_FORMS,
    METHODS,
    OPERATION_CLASSES,
    READ_CLASSES,
    Agent,
    AgentStatus,
    ApprovalsConfig,
    Approver,
    AttributeRule,
    AuditConfig,
    Config,
    ConfigError,
    Derive,
    DirectoryConfig,
    Intent,
    JsonType,
    Route,
    ServerConfig,
    TasksConfig,
    TrustDomain,
)

__all__ = [
    "DERIVE_READERS",
    "GATED_CLASSES",
    "MEMBER_FORMS",
    "METHODS",
    "OPERATION_CLASSES",
    "READ_CLASSES",
    "Agent",
    "AttributeRule",
    "AgentStatus",
    "ApprovalsConfig",
    "Approver",
    "AuditConfig",
    "Config",
    "ConfigError",
    "Derive",
    "DirectoryConfig",
    "Intent",
    "JsonType",
    "Route",
    "ServerConfig",
    "TasksConfig",
    "TrustDomain",
    "load_config",
]
