"""The published token vectors (tests/fixtures/vectors/): this code produces exactly these
strings from their inputs, accepts them, and they have the wire format the README documents."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.config import ApprovalsConfig, Approver, Route, TasksConfig
from authz.model import Operation, RequestContext
from authz.stages.approval import ApprovalStage
from authz.stages.task import TaskStage
from authz.store.sqlite import SqliteStore
from authz.tokens.approval import APPROVAL_TYP, request_hash, sign_approval
from authz.tokens.jws import JwsVerifier
from authz.tokens.keys import algorithm_of
from authz.tokens.task import DETAILS_TYPE, TASK_TYP, Task, issue_token, thumbprint

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "vectors"
DOC: dict[str, Any] = json.loads((VECTORS / "tokens.json").read_text())
TASKS: list[dict[str, Any]] = DOC["task_tokens"]
APPROVALS: list[dict[str, Any]] = DOC["approval_tokens"]
TASK_CLAIMS = {"iss", "aud", "jti", "iat", "nbf", "exp", "sub", "act", "cnf", "intent"}
TASK_CLAIMS |= {"authorization_details", "budget"}
APPROVAL_CLAIMS = {"iss", "sub", "aud", "jti", "iat", "exp", "task", "op", "principal", "req"}
RESET_ROUTE = Route(
    method="POST",
    path="/v1/users/{user}/password/reset",
    operation="user.password.reset",
    op_class="credential_change",
    principal_param="user",
    principal_body_field="user",
    reversible=False,
)


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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def task_stage(vector: dict[str, Any], store: SqliteStore) -> TaskStage:
    inputs = vector["inputs"]
    settings = TasksConfig(
        issuer=inputs["issuer"],
        audience=inputs["audience"],
        keys={inputs["kid"]: private_key("issuer_key").public_key()},
        algorithms=frozenset({"EdDSA"}),
    )
    return TaskStage(settings, store)


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


@pytest.mark.parametrize("vector", DOC["request_hashes"], ids=lambda v: f"{v['method']} {v['path']}")
def test_request_hash(vector: dict[str, Any]) -> None:
    method, path, body = vector["method"], vector["path"], vector["body"].encode()
    body_sha256 = b64(hashlib.sha256(body).digest())
    material = f"{method}\n{path}\n{body_sha256}"
    assert (vector["body_sha256"], vector["material"]) == (body_sha256, material)
    assert (
        request_hash(method, path, body) == vector["req"] == b64(hashlib.sha256(material.encode()).digest())
    )


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


# -- approval tokens


@pytest.mark.parametrize("vector", APPROVALS, ids=ids(APPROVALS))
def test_sign_approval_produces_the_approval_vector(vector: dict[str, Any]) -> None:
    assert sign_approval(key=private_key("approver_key"), **vector["inputs"]) == vector["token"]


@pytest.mark.parametrize("vector", APPROVALS, ids=ids(APPROVALS))
def test_approval_vector_wire_format(vector: dict[str, Any]) -> None:
    """README "Approvals" and DESIGN §3.2: typ approval+jwt, kid = iss = the approver id, and
    req the hash of the exact request."""
    header, claims, request = vector["header"], vector["claims"], vector["request"]
    approver = DOC["approver_key"]["id"]
    assert header == {"alg": "EdDSA", "kid": approver, "typ": APPROVAL_TYP}
    assert set(claims) == APPROVAL_CLAIMS and claims["iss"] == approver
    assert claims["req"] == request_hash(request["method"], request["path"], request["body"].encode())
    assert claims["task"] == TASKS[0]["claims"]["jti"] and claims["sub"] == TASKS[0]["inputs"]["agent_id"]


@pytest.mark.parametrize("vector", APPROVALS, ids=ids(APPROVALS))
def test_approval_vector_is_accepted(vector: dict[str, Any], store: SqliteStore) -> None:
    approver, claims, request = DOC["approver_key"], vector["claims"], vector["request"]
    public = private_key("approver_key").public_key()
    verifier = JwsVerifier(APPROVAL_TYP, {approver["id"]: public}, frozenset({"EdDSA"}))
    assert verifier.claims(vector["token"]) == (approver["id"], claims)

    task_vector = TASKS[0]
    agent = task_vector["inputs"]["agent_id"]
    task: Task = task_stage(task_vector, store).verify(
        task_vector["token"], agent, DOC["certificate"]["x5t#S256"], task_vector["verify_at"]
    )
    settings = ApprovalsConfig(
        approvers={approver["id"]: Approver(approver["id"], "Dana", public, frozenset({"credential_change"}))}
    )
    stage = ApprovalStage(settings, claims["aud"], 30, store)
    ctx = RequestContext(
        method=request["method"],
        path=request["path"],
        headers={"x-approval-token": vector["token"]},
        body=request["body"].encode(),
        principal=agent,
        certificate="",
        request_id="vector",
    )
    (approval,) = stage.verify(
        ctx, agent, task, Operation(RESET_ROUTE, claims["principal"]), vector["verify_at"]
    )
    assert (approval.approval_id, approval.approver, approval.req) == (claims["jti"], "dana", claims["req"])
