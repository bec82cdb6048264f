"""The published approval token vectors (tests/fixtures/vectors/): this code hashes their requests
and produces exactly these strings from their inputs (``authz/tokens/approval.py``), accepts
them, and they have the wire format the README documents."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authz.config import ApprovalsConfig, Approver, Route
from authz.model import Operation, RequestContext
from authz.stages.approval import ApprovalStage
from authz.store.sqlite import SqliteStore
from authz.tokens.approval import APPROVAL_TYP, request_hash, sign_approval
from authz.tokens.jws import JwsVerifier
from authz.tokens.task import Task
from unit.tokens.vectors import APPROVALS, DOC, TASKS, b64, ids, private_key, task_stage

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.mark.parametrize("vector", DOC["request_hashes"], ids=lambda v: f"{v['method']} {v['path']}")
def test_request_hash(vector: dict[str, Any]) -> None:
    method, path, body = vector["method"], vector["path"], vector["body"].encode()
    body_sha256 = b64(hashlib.sha256(body).digest())
    material = f"{method}\n{path}\n{body_sha256}"
    assert (vector["body_sha256"], vector["material"]) == (body_sha256, material)
    assert (
        request_hash(method, path, body) == vector["req"] == b64(hashlib.sha256(material.encode()).digest())
    )


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
