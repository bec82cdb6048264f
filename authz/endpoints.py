"""The well-known endpoints: paths agent-authz answers for the agent itself, before the pipeline.

They reach agent-authz through the proxy like any call, so they are decided here, each by the
stages it needs and nothing else:

- ``GET /.well-known/agent-authz/approvals/{id}`` — an agent polls its approval request. The
  caller's identity (stage 1) is enough, and the request must be the caller's: any other id is
  ``approval_request_unknown`` (404, in the shape of every deny), so an agent cannot learn that
  someone else's request exists. The approval API, served behind the allow, checks again.
- ``POST /.well-known/agent-authz/task/complete`` — an agent ends its own task: identity and the
  task token (stages 1 and 3); the answer is agent-authz's own (``task_completed``), and the
  task's revocation is an effect stage 10 applies. Nothing reaches the API.
- ``GET /.well-known/agent-authz/ready`` — a readiness probe of the whole path (a deployment's,
  or the demo's): identity only; answered ``200 ready`` by agent-authz, audited and counted as
  ``ready``, never as a deny of an unknown route. Nothing reaches the API.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from authz.config import Route
from authz.effects import Revoke
from authz.model import Decision, Operation
from authz.reasons import Denied, Reason
from authz.stages.identity import IdentityStage
from authz.stages.task import TaskStage
from authz.store.queue import ApprovalQueue
from authz.wellknown import COMPLETE_TASK_PATH, POLL_PATH, READY_PATH

TASK_HEADER = "x-agent-task-token"
_REQUEST_ID = re.compile(r"apr-[0-9a-f]{16}")
#: The agent-facing approval API (``GET`` + request id), answered by agent-authz's gRPC service.
POLL_ROUTE = Route(
    "GET", POLL_PATH + "{request_id}", "approval_request.poll", "read", "request_id", None, reversible=True
)
Endpoint = Callable[[Decision, dt.datetime], None]


class WellKnown:
    def __init__(self, identity: IdentityStage, task: TaskStage, queue: ApprovalQueue | None = None) -> None:
        self._identity, self._task, self._queue = identity, task, queue

    def route(self, method: str, path: str) -> Endpoint | None:
        """The endpoint answering ``method path``, or None: the request goes through the pipeline."""
        if method == "POST" and path == COMPLETE_TASK_PATH:
            return self._complete_task
        if method == "GET" and path.startswith(POLL_PATH):
            return self._poll
        if method == "GET" and path == READY_PATH:
            return self._ready
        return None

    def _ready(self, d: Decision, now: dt.datetime) -> None:
        r = d.request
        d.caller = self._identity.verify(r.principal, r.certificate, now)
        d.deny(Reason.READY, "agent-authz answers through the proxy")

    def _poll(self, d: Decision, now: dt.datetime) -> None:
        """An agent asks after an approval request: identity is enough, the API checks whose it is."""
        r = d.request
        d.caller = self._identity.verify(r.principal, r.certificate, now)
        request_id = r.path[len(POLL_PATH) :]
        if not _REQUEST_ID.fullmatch(request_id):
            raise Denied(Reason.MALFORMED_REQUEST, "not an approval request id")
        if self._queue is not None:
            found = self._queue.get(request_id, now=now.timestamp())
            if found is None or found.new.agent != d.caller.agent.spiffe_id:
                raise Denied(Reason.APPROVAL_REQUEST_UNKNOWN, f"no approval request {request_id} of yours")
        d.operation = Operation(POLL_ROUTE, request_id)
        d.allow()

    def _complete_task(self, d: Decision, now: dt.datetime) -> None:
        r = d.request
        d.caller = self._identity.verify(r.principal, r.certificate, now)
        d.task = self._task.verify_for(r.headers.get(TASK_HEADER), d.caller, int(now.timestamp()))
        d.effects.revoke = Revoke(d.task.task_id, reason="completed", by=d.task.agent)
        d.deny(Reason.TASK_COMPLETED, f"task {d.task.task_id} is complete; its token no longer works")
        d.body_extra = {"task": d.task.task_id}
