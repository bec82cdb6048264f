"""The agent-facing approval API (``proto/approvals.proto``), served beside ``Check``.

Agents reach it through Envoy as ``GET /.well-known/agent-authz/approvals/{id}``: ext_authz
verifies their mTLS identity first and names them in ``x-agent-id`` (a header no client can
supply: Envoy strips client copies, agent-authz sets it), and the grpc_json_transcoder turns
the call into gRPC. Each agent sees only the requests it filed; any other id is NOT_FOUND, so
an agent cannot even learn that someone else's request exists.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

import grpc

from authz._proto import approvals_pb2 as pb
from authz._proto import approvals_pb2_grpc as pb_grpc
from authz.store import StoreUnavailable
from authz.store.queue import ApprovalQueue, ApprovalRequest, RequestStatus

_STATUS = {
    RequestStatus.PENDING: pb.ApprovalRequestStatus.PENDING,
    RequestStatus.APPROVED: pb.ApprovalRequestStatus.APPROVED,
    RequestStatus.DENIED: pb.ApprovalRequestStatus.DENIED,
    RequestStatus.EXPIRED: pb.ApprovalRequestStatus.EXPIRED,
}


class AgentApprovals(pb_grpc.AgentApprovalsServicer):  # type: ignore[misc]
    def __init__(self, queue: ApprovalQueue, poll_interval: int) -> None:
        self._queue, self._interval = queue, poll_interval

    def GetApprovalRequest(self, request: Any, context: Any) -> Any:  # noqa: N802
        agent = dict(context.invocation_metadata()).get("x-agent-id")
        if not agent:
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "no agent identity: call through the proxy")
        try:
            found = self._queue.get(request.request_id, now=time.time())
        except StoreUnavailable:
            _abort(context, grpc.StatusCode.UNAVAILABLE, "the approval queue cannot be read")
        if found is None or found.new.agent != agent:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"no approval request {request.request_id} of yours")
        return self._status(found)

    def _status(self, r: ApprovalRequest) -> Any:
        status = pb.ApprovalRequestStatus(
            request_id=r.request_id,
            status=_STATUS[r.status],
            approved_by=r.approvers,
            approvers_needed=r.new.approvers_needed,
            operation=r.new.operation,
            principal=r.new.principal,
            task=r.new.task_id,
            expires=int(r.new.expires),
        )
        if r.status is RequestStatus.PENDING:
            status.interval = self._interval
        elif r.status is RequestStatus.APPROVED:
            status.approval_header = ",".join(token for _, token in r.approvals)
        elif r.status is RequestStatus.DENIED:
            status.reason = r.reason or ""
        return status


def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)  # raises
    raise AssertionError("context.abort returned")


def add_to_server(servicer: AgentApprovals, server: grpc.Server) -> None:
    pb_grpc.add_AgentApprovalsServicer_to_server(servicer, server)
