"""Shared test factories: a PKI and config on disk, requests as Envoy would send them."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from cryptography import x509
from envoy.service.auth.v3 import external_auth_pb2 as pb

from authz.approvals import request_hash, sign_approval
from authz.config import Config, load_config
from authz.demo.stack import copy_demo_policies, demo_config, write_demo_directory, write_demo_keys
from authz.issuer import issue
from authz.keys import PrivateKey, load_private_key
from authz.model import RequestContext
from authz.pki import DevPki, Issued, make_svid

TRUST_DOMAIN = "agents.example.org"
BOT = f"spiffe://{TRUST_DOMAIN}/agent/helpdesk-bot"
SUSPENDED = f"spiffe://{TRUST_DOMAIN}/agent/suspended-bot"
ROGUE = f"spiffe://{TRUST_DOMAIN}/agent/rogue-bot"


def envoy_cert(issued: Issued) -> str:
    """``source.certificate`` as Envoy sends it: the URL-encoded PEM of the leaf."""
    return quote(issued.cert_pem.decode(), safe="")


KID = "dev-issuer-1"


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

    def token(
        self,
        svid: Issued,
        *,
        intent: str = "account_support",
        principals: tuple[str, ...] = ("alice",),
        actions: tuple[str, ...] = ("user.read",),
        ttl: int = 300,
        **kwargs: object,
    ) -> str:
        return issue(
            self.config(),
            key=self.issuer_key,
            kid=KID,
            agent_cert=svid.cert,
            intent=intent,
            principals=principals,
            actions=actions,
            ttl=ttl,
            **kwargs,
        )  # type: ignore[arg-type]

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
        ttl: int = 300,
        now: int | None = None,
        key: PrivateKey | None = None,
        **kwargs: Any,
    ) -> str:
        """An approval token by ``approver`` (signed with its demo key unless ``key``) for one request."""
        task_id = jwt.decode(task_token, options={"verify_signature": False})["jti"]
        return sign_approval(
            key=key or load_private_key(self.root / "keys" / f"approver-{approver}.key"),
            approver=approver,
            audience=self.config().tasks.audience,
            agent=agent,
            task_id=task_id,
            operation=operation,
            principal=principal,
            req=request_hash(method, path, body),
            ttl=ttl,
            now=int(time.time()) if now is None else now,
            **kwargs,
        )

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
        """A request as Envoy describes it; ``task`` adds the token and its intent header."""
        leaf = svid or self.bot
        if task is not None:
            headers = {"x-agent-task-token": task, "x-agent-intent": "account_support", **(headers or {})}
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


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
