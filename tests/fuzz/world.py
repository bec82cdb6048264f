"""The world a fuzz run decides in: the demo config, a dev PKI, keys, a file directory, the
real ``Authorizer`` with its SQLite store and audit log — all in one temporary folder.

Time is frozen at ``now`` (the wall clock when the world is made): every token is signed
relative to it and the authorizer's clock always answers it, so a token's validity depends
only on its claims, never on how long the run has taken. The SVIDs are made once per world.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from factories import BOT, ROGUE, SUSPENDED, TRUST_DOMAIN, envoy_cert, make_world

from authz.audit import AuditLog
from authz.config import Config, load_config
from authz.devkit.pki import Issued, make_ca, make_svid
from authz.metrics import Metrics
from authz.pipeline import Authorizer
from authz.store.sqlite import SqliteStore
from authz.store.sqlite_queue import SqliteQueue
from authz.tokens.keys import PrivateKey, load_private_key

AUDIT_BOT = f"spiffe://{TRUST_DOMAIN}/agent/audit-bot"
ORCHESTRATOR = f"spiffe://{TRUST_DOMAIN}/agent/orchestrator"
APPROVERS = ("dana", "erik", "bob")


@dataclass(frozen=True)
class Svid:
    """A client certificate the grammar can present: its label, the SPIFFE ID it was issued
    for (the first URI SAN), and ``source.certificate`` as Envoy sends it."""

    label: str
    spiffe_id: str
    issued: Issued
    certificate: str


@dataclass
class FuzzWorld:
    root: Path
    config_path: Path
    config: Config
    now: int
    svids: dict[str, Svid]
    issuer_key: PrivateKey
    approver_keys: dict[str, PrivateKey]
    stray_ed25519: ed25519.Ed25519PrivateKey  # configured nowhere
    stray_p256: ec.EllipticCurvePrivateKey  # configured nowhere (and ES256 is not allowed)
    store: SqliteStore

    @property
    def now_dt(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now, dt.UTC)

    def authorizer(self, audit_path: Path) -> tuple[Authorizer, AuditLog]:
        """A fresh Authorizer over the world's store, writing a new audit log at ``audit_path``."""
        audit = AuditLog(audit_path, fsync=self.config.audit.fsync)
        frozen = self.now_dt
        authz = Authorizer(
            self.config, audit, self.store, Metrics(), clock=lambda: frozen, queue=SqliteQueue(self.store)
        )
        return authz, audit

    def close(self) -> None:
        self.store.close()


def build_world(root: Path) -> FuzzWorld:
    world = make_world(root)
    text = world.config_path.read_text()
    if text.count("fsync = true") != 1:
        raise RuntimeError("the demo config has no single 'fsync = true' line to turn off")
    world.config_path.write_text(text.replace("fsync = true", "fsync = false"))
    config = load_config(world.config_path)
    now = int(time.time())
    ca = world.ca
    day = dt.timedelta(days=1)
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    issued = {
        "helpdesk": (BOT, world.bot),
        "helpdesk-2": (BOT, make_svid(ca, BOT)),  # the same agent, another key: another thumbprint
        "audit": (AUDIT_BOT, make_svid(ca, AUDIT_BOT)),
        "rogue": (ROGUE, make_svid(ca, ROGUE)),  # valid SVID, unregistered agent
        "suspended": (SUSPENDED, make_svid(ca, SUSPENDED)),
        "foreign": (BOT, make_svid(make_ca(TRUST_DOMAIN), BOT)),  # another CA, same trust domain
        "expired": (BOT, make_svid(ca, BOT, not_before=start - 2 * day, not_after=start - day)),
        "two-sans": (BOT, make_svid(ca, [BOT, AUDIT_BOT])),
        "ca-leaf": (BOT, make_svid(ca, BOT, is_ca=True)),
    }
    svids = {
        label: Svid(label, spiffe_id, cert, envoy_cert(cert)) for label, (spiffe_id, cert) in issued.items()
    }
    keys = root / "keys"
    return FuzzWorld(
        root=root,
        config_path=world.config_path,
        config=config,
        now=now,
        svids=svids,
        issuer_key=load_private_key(keys / "task-issuer.key"),
        approver_keys={a: load_private_key(keys / f"approver-{a}.key") for a in APPROVERS},
        stray_ed25519=ed25519.Ed25519PrivateKey.generate(),
        stray_p256=ec.generate_private_key(ec.SECP256R1()),
        store=SqliteStore(config.store_path),
    )
