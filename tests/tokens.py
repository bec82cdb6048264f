"""Token factories for tests: an issuer key pair and task tokens, valid or deliberately not."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.devkit.pki import Issued
from authz.tokens.task import issue_token

ISSUER = "task-issuer"
AUDIENCE = "iam-api"
KID = "issuer-1"
T0 = 1_800_000_000


@dataclass
class Issuer:
    key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    kid: str = KID

    def token(self, svid: Issued, agent_id: str, **overrides: Any) -> str:
        args: dict[str, Any] = {
            "key": self.key,
            "kid": self.kid,
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "agent_id": agent_id,
            "agent_cert": svid.cert,
            "intent": "account_support",
            "principals": ["alice"],
            "actions": ["user.read"],
            "ttl": 300,
            "now": T0,
        }
        args.update(overrides)
        return issue_token(**args)


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )
