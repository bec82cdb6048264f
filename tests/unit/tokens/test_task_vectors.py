"""The published task token vectors (tests/fixtures/vectors/): this code produces exactly these
strings from their inputs (``authz/tokens/task.py``), accepts them, and they have the wire
format the README documents; the keys and the certificate they are made with agree with
themselves (approval tokens: ``test_approval_vectors.py``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authz.store.sqlite import SqliteStore
from authz.tokens.jws import JwsVerifier
from authz.tokens.keys import algorithm_of
from authz.tokens.task import DETAILS_TYPE, TASK_TYP, issue_token, thumbprint
from unit.tokens.vectors import APPROVALS, DOC, TASKS, b64, certificate, ids, private_key, task_stage, unb64

TASK_CLAIMS = {"iss", "aud", "jti", "iat", "nbf", "exp", "sub", "act", "cnf", "intent"}
TASK_CLAIMS |= {"authorization_details", "budget"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


# -- keys, certificate, request hashes


@pytest.mark.parametrize("role", ["issuer_key", "approver_key"])
def test_key_pair_forms_agree(role: str) -> None:
    entry, key = DOC[role], private_key(role)
    public = key.public_key()
    assert algorithm_of(key) == entry["alg"] == "EdDSA"
    spki = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki.decode() == entry["public_key_pem"]
    raw = serialization.Encoding.Raw
    assert entry["jwk"] == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(public.public_bytes(raw, serialization.PublicFormat.Raw)),
        "d": b64(key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())),
    }


def test_certificate_thumbprint_is_rfc8705_x5t_s256() -> None:
    cert, entry = certificate(), DOC["certificate"]
    der = cert.public_bytes(serialization.Encoding.DER)
    assert thumbprint(cert) == entry["x5t#S256"] == b64(hashlib.sha256(der).digest())
    assert "=" not in entry["x5t#S256"] and len(entry["x5t#S256"]) == 43
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [entry["spiffe_id"]]


# -- task tokens


@pytest.mark.parametrize("vector", TASKS, ids=ids(TASKS))
def test_issue_token_produces_the_task_vector(vector: dict[str, Any]) -> None:
    token = issue_token(key=private_key("issuer_key"), agent_cert=certificate(), **vector["inputs"])
    assert token == vector["token"]


@pytest.mark.parametrize("vector", [*TASKS, *APPROVALS], ids=ids(TASKS) + ids(APPROVALS))
def test_vector_serialization_is_the_documented_one(vector: dict[str, Any]) -> None:
    header, payload, signature = vector["token"].split(".")
    assert json.loads(unb64(header)) == vector["header"] and json.loads(unb64(payload)) == vector["claims"]
    compact = (",", ":")
    assert header == b64(json.dumps(vector["header"], sort_keys=True, separators=compact).encode())
    assert payload == b64(json.dumps(vector["claims"], separators=compact).encode())
    assert len(unb64(signature)) == 64 and b64(unb64(signature)) == signature


@pytest.mark.parametrize("vector", TASKS, ids=ids(TASKS))
def test_task_vector_is_accepted(vector: dict[str, Any], store: SqliteStore) -> None:
    inputs = vector["inputs"]
    verifier = JwsVerifier(
        TASK_TYP, {inputs["kid"]: private_key("issuer_key").public_key()}, frozenset({"EdDSA"})
    )
    assert verifier.claims(vector["token"]) == (inputs["kid"], vector["claims"])
    task = task_stage(vector, store).verify(
        vector["token"], inputs["agent_id"], DOC["certificate"]["x5t#S256"], vector["verify_at"]
    )
    assert (task.task_id, task.agent, task.intent) == (
        inputs["task_id"],
        inputs["agent_id"],
        inputs["intent"],
    )
    assert (task.principals, task.actions) == (frozenset(inputs["principals"]), frozenset(inputs["actions"]))
    assert (task.issued_at, task.expires) == (inputs["now"], inputs["now"] + inputs["ttl"])
    assert task.on_behalf_of == inputs.get("on_behalf_of") and task.max_calls == inputs.get("max_calls")
    assert task.actors == ((inputs["agent_id"], *inputs.get("delegation", ())) if task.on_behalf_of else ())


@pytest.mark.parametrize("vector", TASKS, ids=ids(TASKS))
def test_task_vector_wire_format(vector: dict[str, Any]) -> None:
    """README "Task tokens" and DESIGN §3.1: typ task+jwt, EdDSA, kid; cnf x5t#S256 of the
    agent's certificate; exactly one agent_task authorization detail; sub/act by who acts."""
    header, claims, inputs = vector["header"], vector["claims"], vector["inputs"]
    assert header == {"alg": "EdDSA", "kid": DOC["issuer_key"]["kid"], "typ": "task+jwt"}
    assert set(claims) <= TASK_CLAIMS and set(claims) >= TASK_CLAIMS - {"act", "budget"}
    assert claims["cnf"] == {"x5t#S256": DOC["certificate"]["x5t#S256"]}
    assert claims["authorization_details"] == [
        {"type": DETAILS_TYPE, "actions": inputs["actions"], "principals": inputs["principals"]}
    ]
    assert claims["nbf"] == claims["iat"] and claims["exp"] - claims["iat"] == inputs["ttl"]
    if "on_behalf_of" in inputs:
        assert claims["sub"] == inputs["on_behalf_of"]
        assert claims["act"] == {"sub": inputs["agent_id"], "act": {"sub": inputs["delegation"][0]}}
        assert claims["budget"] == {"max_calls": inputs["max_calls"]}
    else:
        assert claims["sub"] == inputs["agent_id"] and "act" not in claims
