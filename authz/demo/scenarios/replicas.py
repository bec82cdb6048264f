"""Replicas (``agent-authz demo --store redis`` only): a revocation made through one agent-authz
process is refused by the other. Each is asked directly over gRPC, as Envoy asks it — Envoy
itself would pick either — with the agent's certificate as Envoy forwards it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import grpc
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc

from authz.demo.scenarios.harness import BOT, Demo, Outcome

PROPAGATION_LIMIT = 1.0  # seconds: within this, every replica refuses a revoked task


def ask(d: Demo, replica: str, token: str, intent: str) -> tuple[int, str]:
    """(HTTP status, reason) of one replica's Check of a read of alice with ``token``."""
    req = pb.CheckRequest()
    req.attributes.source.principal = d.stack.pki.spiffe_id(BOT)
    req.attributes.source.certificate = quote(d.stack.pki.agent_cert(BOT).read_text(), safe="")
    http = req.attributes.request.http
    http.method, http.path, http.id = "GET", "/v1/users/alice", f"demo-{replica}"
    http.headers.update({"x-agent-task-token": token, "x-agent-intent": intent})
    with grpc.insecure_channel(f"127.0.0.1:{d.stack.ports[replica]}") as channel:
        answer = pb_grpc.AuthorizationStub(channel).Check(req, timeout=10)
    if answer.status.code == 0:
        return 200, ""
    headers = {h.header.key: h.header.value for h in answer.denied_response.headers}
    return int(answer.denied_response.status.code), headers.get("x-authz-reason", "")


def revoked_through_one_replica(d: Demo) -> Iterator[Outcome]:
    if d.stack.authz_processes < 2:
        return
    task = d.token()
    status, reason = ask(d, "authz2", task, "account_support")
    yield Outcome("replica 2 allows a task's read", 200, status, "", reason)
    status, reason = ask(d, "authz", task, "credential_recovery")  # a changed intent revokes the task
    yield Outcome("replica 1: the intent changes mid-task", 403, status, "intent_mismatch", reason)
    deadline = time.monotonic() + PROPAGATION_LIMIT
    while True:  # a bounded wait for the push, not a guess
        status, reason = ask(d, "authz2", task, "account_support")
        if reason == "task_revoked" or time.monotonic() > deadline:
            break
    yield Outcome(
        f"replica 2 refuses the task replica 1 revoked (within {PROPAGATION_LIMIT:.0f} s)",
        403, status, "task_revoked", reason,
    )  # fmt: skip
