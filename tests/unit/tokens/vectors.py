"""The published token vectors (tests/fixtures/vectors/), read for ``test_task_vectors.py`` and
``test_approval_vectors.py``: their keys, certificate and tokens, and a stage 3 that accepts
the task tokens."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.config import TasksConfig
from authz.stages.task import TaskStage
from authz.store.sqlite import SqliteStore

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors"
DOC: dict[str, Any] = json.loads((VECTORS / "tokens.json").read_text())
TASKS: list[dict[str, Any]] = DOC["task_tokens"]
APPROVALS: list[dict[str, Any]] = DOC["approval_tokens"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@cache
def private_key(role: str) -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(DOC[role]["private_key_pem"].encode(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


@cache
def certificate() -> x509.Certificate:
    return x509.load_pem_x509_certificate((VECTORS / DOC["certificate"]["file"]).read_bytes())


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def task_stage(vector: dict[str, Any], store: SqliteStore) -> TaskStage:
    inputs = vector["inputs"]
    settings = TasksConfig(
        issuer=inputs["issuer"],
        audience=inputs["audience"],
        keys={inputs["kid"]: private_key("issuer_key").public_key()},
        algorithms=frozenset({"EdDSA"}),
    )
    return TaskStage(settings, store)
