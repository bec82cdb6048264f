"""One error hierarchy: ``AuthzError`` at the root, one narrow base per area.

::

    AuthzError
    ├── ConfigError          a configuration problem found at start-up (names file and key)
    ├── IdentityError        SPIFFE IDs and trust bundles         (authz/svid/)
    ├── TokenError           task and approval tokens, keys       (authz/tokens/)
    ├── StoreError           the state store and approval queue   (authz/store/)
    ├── DirectoryError       live identity context                (authz/directory/)
    ├── PolicyError          Cedar policies and their tests       (authz/policy/)
    ├── AuditError           the hash-chained audit log           (authz/audit/)
    ├── RequestFileError     a request described for `agent-authz check`
    └── Denied               a request refused by a stage, with its stable reason code
                             (authz/reasons.py)

Each area's module defines the narrow classes (``JwsError(TokenError)``,
``StoreUnavailable(StoreError)``, ``AmbiguousName(DirectoryError)``, …) with their data and a
message built in ``__init__`` where they carry data. Request failures never escape the
pipeline as exceptions: every one becomes a deny with a reason code.
"""

from __future__ import annotations

from pathlib import Path


class AuthzError(Exception):
    """Root of every error agent-authz raises on purpose."""


class ConfigError(AuthzError):
    """A configuration problem found at start-up; names the file and the key."""

    def __init__(self, file: Path | str, key: str, problem: str, line: int | None = None) -> None:
        at = f"{file}:{line}" if line else str(file)
        where = f"{at}: {key}" if key else at
        super().__init__(f"{where}: {problem}")
        self.file, self.key, self.problem, self.line = str(file), key, problem, line


class IdentityError(AuthzError):
    """A SPIFFE ID or trust bundle that breaks the SPIFFE standards."""


class TokenError(AuthzError):
    """A task or approval token, or a key, that cannot be used."""


class StoreError(AuthzError):
    """The state store (or its approval queue) cannot do what was asked."""


class DirectoryError(AuthzError):
    """The directory cannot give a usable answer."""


class PolicyError(AuthzError):
    """Cedar policies, their schema or their tests cannot be used."""


class AuditError(AuthzError):
    """The audit log cannot be opened, continued or written."""


class RequestFileError(AuthzError, ValueError):
    """A request file for `agent-authz check` that cannot be read."""
