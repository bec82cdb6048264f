"""Turns a corpus case into a request against a running stack: certificates, tokens, approvals.

Everything is made with the stack's own facilities: its PKI (``stack.pki``, the CA key from
``load_ca()``), its task issuer key and approver keys under ``keys/``, its config. Tokens are
signed with ``authz.tokens.task.issue_token`` and ``authz.tokens.approval.sign_approval``, or built by hand
(``sign``, ``compact``) for the forgeries.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.config import load_config
from authz.demo.stack import Stack
from authz.devkit.pki import Issued, make_ca, make_svid
from authz.devkit.world import ISSUER_KID
from authz.store.sqlite import SqliteStore
from authz.tokens.approval import request_hash, sign_approval
from authz.tokens.keys import PrivateKey, load_private_key
from authz.tokens.task import issue_token

from .model import TASK_INTENT, Approve, Case, Svid, Task

OTHER_DOMAIN = "evil.example.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def as_json(part: Mapping[str, Any] | bytes) -> bytes:
    return part if isinstance(part, bytes) else json.dumps(part, separators=(",", ":")).encode()


@dataclass
class Built:
    """A case made concrete for one stack: what ``Agent.request`` sends."""

    agent: str
    cert: tuple[Path, Path] | None  # a certificate made for the case (None: the agent's own)
    no_cert: bool
    method: str
    path: str
    body: bytes
    headers: dict[str, str | None]
    repeated: tuple[tuple[str, str], ...]
    token: str | None
    intent: str | None


class Forge:
    def __init__(self, stack: Stack, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.stack, self.folder = stack, folder
        self.config = load_config(stack.config_path)
        self.issuer_key = self._ed25519(stack.issuer_key_path)
        self.ca = stack.pki.load_ca()
        self.now = int(time.time())
        self._serial = itertools.count()
        self._approver_keys: dict[str, PrivateKey] = {}

    @staticmethod
    def _ed25519(path: Path) -> ed25519.Ed25519PrivateKey:
        key = load_private_key(path)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key

    @property
    def leeway(self) -> int:
        return self.config.tasks.leeway

    def build(self, case: Case) -> Built:
        self.now = int(time.time())
        made: tuple[Path, Path] | None = None
        sender_id = self.stack.pki.spiffe_id(case.agent)
        if case.cert is None or case.cert.issuer == "none":
            cert = self.agent_cert(case.agent)
        else:
            cert, made, sender_id = self.certificate(case.cert)
        token = self.task_token(case.task, cert, sender_id) if case.task else None
        intent = case.intent
        if intent == TASK_INTENT:
            intent = case.task.intent if case.task else "account_support"
        headers = dict(case.headers)
        sent = (case.method, case.path, case.body)
        if approvals := self.approvals(case, token, sent, sender_id):
            headers["x-approval-token"] = ",".join(approvals)
        no_cert = case.cert is not None and case.cert.issuer == "none"
        return Built(case.agent, made, no_cert, *sent, headers, case.repeated, token, intent)

    # -- certificates ----------------------------------------------------------------------------
    def agent_cert(self, agent: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.stack.pki.agent_cert(agent).read_bytes())

    def certificate(self, svid: Svid) -> tuple[x509.Certificate, tuple[Path, Path], str]:
        """The certificate ``svid`` describes, written under the forge's folder, and its ID."""
        domain = OTHER_DOMAIN if svid.issuer == "other-domain" else self.stack.pki.trust_domain
        spiffe_id = f"spiffe://{domain}/agent/{svid.agent}"
        issued: Issued
        if svid.issuer == "the-ca":
            issued, spiffe_id = self.ca, f"spiffe://{domain}"
        else:
            ca = self.ca if svid.issuer == "stack" else make_ca(domain)  # rogue-ca, other-domain
            options = dict(svid.options)
            if svid.valid_days is not None:
                today = dt.datetime.now(dt.UTC)
                options["not_before"] = today + dt.timedelta(days=svid.valid_days[0])
                options["not_after"] = today + dt.timedelta(days=svid.valid_days[1])
            issued = make_svid(ca, [spiffe_id, *svid.extra_ids], **options)
        n = next(self._serial)
        paths = (self.folder / f"svid-{n}.crt", self.folder / f"svid-{n}.key")
        issued.write(*paths)
        return issued.cert, paths, spiffe_id

    # -- task tokens ---------------------------------------------------------------------------
    def task_token(self, task: Task, cert: x509.Certificate, agent_id: str) -> str:
        if task.bound_to is not None:
            cert, agent_id = self.agent_cert(task.bound_to), self.stack.pki.spiffe_id(task.bound_to)
        token = issue_token(
            key=self.issuer_key,
            kid=ISSUER_KID,
            issuer=self.config.tasks.issuer,
            audience=self.config.tasks.audience,
            agent_id=agent_id,
            agent_cert=cert,
            intent=task.intent,
            principals=task.principals,
            actions=task.actions,
            ttl=300,
            now=self.now,
            on_behalf_of=task.on_behalf_of,
            max_calls=task.max_calls,
        )
        if task.forge is None:
            return token
        header = jwt.get_unverified_header(token)
        return task.forge(self, header, self.claims(token))

    @staticmethod
    def claims(token: str) -> dict[str, Any]:
        return dict(jwt.decode(token, options={"verify_signature": False}))

    def sign(
        self,
        header: Mapping[str, Any] | bytes,
        claims: Mapping[str, Any] | bytes,
        key: ed25519.Ed25519PrivateKey | None = None,
    ) -> str:
        """A compact JWS of exactly these bytes, signed (EdDSA) by the issuer key unless ``key``."""
        signing_input = f"{b64(as_json(header))}.{b64(as_json(claims))}"
        signature = (key or self.issuer_key).sign(signing_input.encode())
        return f"{signing_input}.{b64(signature)}"

    # -- approvals -----------------------------------------------------------------------------
    def approvals(
        self, case: Case, token: str | None, sent: tuple[str, str, bytes], sender_id: str
    ) -> list[str]:
        try:
            task_id = self.claims(token)["jti"] if token else uuid.uuid4().hex
        except (jwt.PyJWTError, KeyError):
            task_id = uuid.uuid4().hex
        tokens: list[str] = []
        for a in case.approvals:
            tokens.append(tokens[-1] if a.again else self.approval(a, case, task_id, sent, sender_id))
        return tokens

    def approval(
        self, a: Approve, case: Case, task_id: str, sent: tuple[str, str, bytes], sender_id: str
    ) -> str:
        key = ed25519.Ed25519PrivateKey.generate() if a.impostor else self._approver_key(a.approver)
        return sign_approval(
            key=key,
            approver=a.approver,
            audience=self.config.tasks.audience,
            agent=self.stack.pki.spiffe_id(a.agent) if a.agent else sender_id,
            task_id=uuid.uuid4().hex if a.other_task else task_id,
            operation=a.operation or case.operation,
            principal=a.principal or case.target,
            req=request_hash(*(a.covers or sent)),
            ttl=a.ttl,
            now=self.now - a.age,
        )

    def _approver_key(self, approver: str) -> PrivateKey:
        if approver not in self._approver_keys:
            path = self.stack.workdir / "keys" / f"approver-{approver}.key"
            self._approver_keys[approver] = load_private_key(path)
        return self._approver_keys[approver]

    # -- state ---------------------------------------------------------------------------------
    def revoke(self, token: str) -> None:
        """Revoke the token's task as an operator does (``agent-authz task revoke``)."""
        store = SqliteStore(self.stack.workdir / "state.db")
        try:
            store.revoke_task(self.claims(token)["jti"], reason="attack corpus", by="tests")
        finally:
            store.close()
