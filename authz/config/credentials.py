"""Config sections for credentials: task issuer keys, the intent catalogue, approvers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from authz.config.model import (
    OPERATION_CLASSES,
    ApprovalsConfig,
    Approver,
    Config,
    ConfigError,
    Intent,
    TasksConfig,
)
from authz.config.table import Table, string_list
from authz.names import fold
from authz.tokens.keys import KeyFileError, PublicKey, algorithm_of, load_public_key

_ALGORITHMS = ("EdDSA", "ES256")
MAX_DELEGATION_DEPTH = 16  # nested `act` claims; the JWS parser refuses deeper JSON anyway


def tasks_section(t: Table) -> TasksConfig:
    d = TasksConfig("", "", {})
    algorithms = _algorithms(t)
    keys: dict[str, PublicKey] = {}
    for k in t.tables("keys"):
        kid = k.text("kid")
        key = _public_key(k, algorithms)
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
    if cfg.max_delegation_depth > MAX_DELEGATION_DEPTH:
        raise t.fail("max_delegation_depth", f"must be at most {MAX_DELEGATION_DEPTH}")
    t.done()
    return cfg


def _algorithms(t: Table) -> frozenset[str]:
    algorithms = frozenset(string_list(t, "algorithms", ["EdDSA"]))
    if not algorithms <= set(_ALGORITHMS):
        raise t.fail("algorithms", f"only {', '.join(_ALGORITHMS)} are supported")
    return algorithms


def _public_key(t: Table, algorithms: frozenset[str]) -> PublicKey:
    try:
        key = load_public_key(t.path("public_key"))
    except KeyFileError as exc:
        raise t.fail("public_key", str(exc)) from None
    if algorithm_of(key) not in algorithms:
        raise t.fail("public_key", f"its algorithm {algorithm_of(key)} is not among the accepted algorithms")
    return key


#: Keys of earlier versions: how many approvers a request needs moved into the Cedar policies.
_THRESHOLDS = ("required", "break_glass_required", "privileged_required", "privileged_principals")


def approvals_section(t: Table) -> ApprovalsConfig:
    d = ApprovalsConfig()
    algorithms = _algorithms(t)
    approvers: dict[str, Approver] = {}
    for a in t.tables("approvers"):
        approver = Approver(
            id=a.text("id"),
            name=a.text("name"),
            key=_public_key(a, algorithms),
            classes=frozenset(string_list(a, "classes")),
            principal=a.opt_str("principal") or "",
        )
        if unknown := sorted(approver.classes - set(OPERATION_CLASSES)):
            raise a.fail("classes", f"unknown operation class(es) {unknown}")
        if approver.id in approvers:
            raise a.fail("id", "listed twice")
        mine = {fold(approver.id), fold(approver.identity)}
        if same := next((o.id for o in approvers.values() if mine & {fold(o.id), fold(o.identity)}), None):
            raise a.fail("principal", f"{approver.id} and {same} are one person: one entry per approver")
        approvers[approver.id] = approver
        a.done()
    for moved in _THRESHOLDS:
        if moved in t.data:
            raise t.fail(moved, "how many approvers it takes is policy now (context.approvals)")
    cfg = ApprovalsConfig(
        approvers=approvers,
        algorithms=algorithms,
        max_ttl=t.integer("max_ttl", d.max_ttl),
        max_tokens=t.integer("max_tokens", d.max_tokens),
        max_token_bytes=t.integer("max_token_bytes", d.max_token_bytes, minimum=256),
        requests_per_agent=t.integer("requests_per_agent", d.requests_per_agent),
        requests_window=t.integer("requests_window", d.requests_window),
        poll_interval=t.integer("poll_interval", d.poll_interval),
        webhook_url=_webhook_url(t),
        webhook_timeout=t.integer("webhook_timeout", d.webhook_timeout),
    )
    t.done()
    return cfg


def _webhook_url(t: Table) -> str | None:
    url = t.opt_str("webhook_url")
    if url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", url):
        raise t.fail("webhook_url", "must be an http:// or https:// URL")
    return url


def intents_section(top: Table) -> Mapping[str, Intent]:
    intents: dict[str, Intent] = {}
    for t in top.tables("intents"):
        intent = Intent(
            id=t.text("id"),
            description=t.text("description"),
            operations=frozenset(string_list(t, "operations")),
            agents=frozenset(string_list(t, "agents")),
            break_glass=t.flag("break_glass", False),
        )
        if intent.id in intents:
            raise t.fail("id", "listed twice")
        intents[intent.id] = intent
        t.done()
    return intents


def check_intents(config: Config, file: Path) -> None:
    operations = set(config.actions)  # routes' operations and those their rules read from bodies
    for i, intent in enumerate(config.intents.values()):
        if unknown := sorted(intent.operations - operations):
            problem = f"no route or attribute rule has operation(s) {unknown}"
            raise ConfigError(file, f"intents[{i}].operations", problem)
        if unknown := sorted(intent.agents - set(config.agents)):
            raise ConfigError(file, f"intents[{i}].agents", f"not registered: {unknown}")
