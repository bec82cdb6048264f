"""Shared test factories: a PKI and config on disk, requests as Envoy would send them."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from cryptography import x509
from envoy.service.auth.v3 import external_auth_pb2 as pb

from authz.audit import AuditLog
from authz.config import Config, load_config
from authz.devkit.pki import DevPki, Issued, make_svid
from authz.devkit.world import (
    ISSUER_KID,
    copy_demo_policies,
    demo_config,
    sign_demo_approval,
    sign_demo_task,
    write_demo_directory,
    write_demo_keys,
)
from authz.directory import Directory, DirectoryUnavailable, Group, Principal
from authz.metrics import Metrics
from authz.model import RequestContext
from authz.names import NameRule
from authz.pipeline import Authorizer
from authz.store import StateStore
from authz.store.open import open_store
from authz.store.queue import ApprovalQueue
from authz.tokens.keys import PrivateKey, load_private_key

TRUST_DOMAIN = "agents.example.org"
BOT = f"spiffe://{TRUST_DOMAIN}/agent/helpdesk-bot"
SUSPENDED = f"spiffe://{TRUST_DOMAIN}/agent/suspended-bot"
ROGUE = f"spiffe://{TRUST_DOMAIN}/agent/rogue-bot"


def envoy_cert(issued: Issued) -> str:
    """``source.certificate`` as Envoy sends it: the URL-encoded PEM of the leaf."""
    return quote(issued.cert_pem.decode(), safe="")


KID = ISSUER_KID  # the demo config's task issuer key


@dataclass
class World:
    """A dev PKI, a task issuer key and the demo config, written to a temporary folder."""

    root: Path
    pki: DevPki
    config_path: Path
    bot: Issued  # an SVID of the registered helpdesk-bot

    @property
    def issuer_key(self) -> PrivateKey:
        return load_private_key(self.root / "keys" / "task-issuer.key")

    def token(self, svid: Issued, **kwargs: Any) -> str:
        """A task token for ``svid``'s agent (defaults: read alice under account_support)."""
        return sign_demo_task(self.root, self.config(), svid.cert, **kwargs)

    @property
    def ca(self) -> Issued:
        return self.pki.load_ca()

    def config(self) -> Config:
        return load_config(self.config_path)

    def svid(self, spiffe_id: str = BOT, **kwargs: object) -> Issued:
        return make_svid(self.ca, spiffe_id, **kwargs)  # type: ignore[arg-type]

    def approval(
        self,
        approver: str,
        task_token: str,
        method: str,
        path: str,
        operation: str,
        principal: str,
        *,
        body: bytes = b"",
        agent: str = BOT,
        **kwargs: Any,
    ) -> str:
        """An approval token by ``approver`` (signed with its demo key unless ``key=``) for one request."""
        return sign_demo_approval(
            self.root, self.config(), approver, task_token, method, path, body,
            agent_id=agent, operation=operation, principal=principal, **kwargs,
        )  # fmt: skip

    def request(
        self,
        method: str = "GET",
        path: str = "/v1/users/alice",
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        svid: Issued | None = None,
        principal: str | None = None,
        task: str | None = None,
    ) -> RequestContext:
        """A request as Envoy describes it; ``task`` adds the token and its intent header, and a
        body comes with ``content-type: application/json`` unless ``headers`` say otherwise."""
        leaf = svid or self.bot
        if task is not None:
            headers = {"x-agent-task-token": task, "x-agent-intent": "account_support", **(headers or {})}
        if body:
            headers = {"content-type": "application/json", **(headers or {})}
        if principal is None:
            san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            uris = san.get_values_for_type(x509.UniformResourceIdentifier)
            principal = uris[0] if uris else ""
        return RequestContext(
            method=method,
            path=path,
            headers=headers or {},
            body=body,
            principal=principal,
            certificate=envoy_cert(leaf),
            request_id="req-1",
        )


def make_world(root: Path, audit_path: Path | None = None) -> World:
    pki = DevPki.create(root / "pki", TRUST_DOMAIN, ["helpdesk-bot"])
    write_demo_keys(root / "keys")
    write_demo_directory(root / "directory.json")
    copy_demo_policies(root)
    text = demo_config(directory_file="directory.json")
    if audit_path is not None:
        text = text.replace('path = "audit.jsonl"', f'path = "{audit_path}"')
    config_path = root / "agent-authz.toml"
    config_path.write_text(text)
    return World(root, pki, config_path, make_svid(pki.load_ca(), BOT))


@dataclass
class Decider:
    """A world and the real pipeline over it: its audit log, state store and approval queue."""

    world: World
    authz: Authorizer
    audit: AuditLog
    store: StateStore
    queue: ApprovalQueue
    metrics: Metrics

    def records(self) -> list[dict[str, Any]]:
        """The audit records so far (the log is closed first: decide nothing after)."""
        self.audit.close()
        return [json.loads(line) for line in self.audit.path.read_text().splitlines()]


D = TypeVar("D", bound=Decider)


def deciding(
    world: World,
    kind: type[D],
    *,
    config: Config | None = None,
    audit_path: Path | None = None,
    directory: Directory | None = None,
) -> Iterator[D]:
    """A ``kind`` of Decider over ``world`` (its config unless ``config``), for a fixture to
    ``yield from``: the store and the audit log are closed afterwards."""
    config = config or world.config()
    audit, metrics = AuditLog(audit_path or config.audit.path), Metrics()
    store, queue = open_store(config)
    try:
        authz = Authorizer(config, audit, store, metrics, queue=queue, directory=directory)
        yield kind(world, authz, audit, store, queue, metrics)
    finally:
        store.close()
        audit.close()


def policies_with(world: World, extra_policy: str, folder: str = "custom-policies") -> Path:
    """A copy of the world's policies plus one more file: for ``replace(config, policy_dir=…)``."""
    target = world.root / folder
    shutil.copytree(world.root / "policies", target)
    (target / "zz-extra.cedar").write_text(extra_policy)
    return target


def check_request(ctx: RequestContext) -> pb.CheckRequest:
    """The CheckRequest Envoy would send for ``ctx``."""
    req = pb.CheckRequest()
    attrs = req.attributes
    attrs.source.principal = ctx.principal
    attrs.source.certificate = ctx.certificate
    http = attrs.request.http
    http.method, http.path, http.id = ctx.method, ctx.path, ctx.request_id
    http.headers.update(ctx.headers)
    http.raw_body = ctx.body
    return req


class DownDirectory:
    """A directory that cannot answer (down, timing out)."""

    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        raise DirectoryUnavailable("connection refused")

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        raise DirectoryUnavailable("connection refused")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
