"""The agent-facing approval API over gRPC: CIBA-style answers, and only the caller's own requests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from authz._proto import approvals_pb2 as pb
from authz._proto import approvals_pb2_grpc as pb_grpc
from authz.server.approvals_api import AgentApprovals, add_to_server
from authz.store.queue import NewRequest
from authz.store.sqlite import SqliteStore
from authz.store.sqlite_queue import SqliteQueue

BOT = "spiffe://agents.example.org/agent/helpdesk-bot"
NEW = NewRequest(BOT, "it-helpdesk@example.org", "t1", None, "credential_recovery", None, None,
                 "user.password.reset", "credential_change", "alice", "POST",
                 "/v1/users/alice/password/reset", b"{}", "req", 1, 4_000_000_000.0)  # fmt: skip
Status = pb.ApprovalRequestStatus


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[pb_grpc.AgentApprovalsStub, SqliteQueue]]:
    store = SqliteStore(tmp_path / "state.db")
    queue = SqliteQueue(store)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_to_server(AgentApprovals(queue, poll_interval=7), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb_grpc.AgentApprovalsStub(channel), queue
    channel.close()
    server.stop(None).wait()
    store.close()


def ask(stub: pb_grpc.AgentApprovalsStub, request_id: str, agent: str | None = BOT) -> Status:
    metadata = [("x-agent-id", agent)] if agent else []
    return stub.GetApprovalRequest(pb.GetApprovalRequestRequest(request_id=request_id), metadata=metadata)


def file(queue: SqliteQueue, new: NewRequest = NEW) -> str:
    filed = queue.file(new, now=1_800_000_000, per_agent=10, window=60)
    assert filed is not None
    return filed[0]


def test_pending_approved_denied_expired(api: tuple[pb_grpc.AgentApprovalsStub, SqliteQueue]) -> None:
    stub, queue = api
    request_id = file(queue)
    pending = ask(stub, request_id)
    assert (pending.status, pending.interval, pending.approval_header) == (Status.PENDING, 7, "")
    queue.add_approval(request_id, "dana", "signed.approval.token", now=1_800_000_001)
    approved = ask(stub, request_id)
    assert (approved.status, approved.approval_header, list(approved.approved_by)) == (
        Status.APPROVED,
        "signed.approval.token",
        ["dana"],
    )
    denied_id = file(queue, replace(NEW, req="r2"))
    queue.deny(denied_id, by="erik", reason="not on the ticket", now=1_800_000_001)
    assert (ask(stub, denied_id).status, ask(stub, denied_id).reason) == (Status.DENIED, "not on the ticket")
    expired_id = file(queue, replace(NEW, req="r3", expires=1_000_000_000.0))  # long past
    assert ask(stub, expired_id).status == Status.EXPIRED


def test_attack_another_agents_request_is_not_found(
    api: tuple[pb_grpc.AgentApprovalsStub, SqliteQueue],
) -> None:
    stub, queue = api
    request_id = file(queue)
    queue.add_approval(request_id, "dana", "signed.approval.token", now=1_800_000_001)
    for who in ("spiffe://agents.example.org/agent/audit-bot", None):
        with pytest.raises(grpc.RpcError) as info:
            ask(stub, request_id, who)
        code = grpc.StatusCode.NOT_FOUND if who else grpc.StatusCode.UNAUTHENTICATED
        assert info.value.code() is code and "signed" not in str(info.value.details())
    with pytest.raises(grpc.RpcError) as unknown:
        ask(stub, "apr-0000000000000000")
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
