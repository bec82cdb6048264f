"""The decision pipeline (DESIGN §2): stages in order, the first failure denies.

Pure of gRPC: it takes a ``RequestContext`` and returns a ``Decision``. Every unexpected
exception becomes an explicit ``internal_error`` deny.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable

from authz.audit import AuditLog
from authz.config import Config, Route
from authz.directory import Directory
from authz.duties import Identities
from authz.metrics import Metrics
from authz.model import Decision, RequestContext
from authz.policy.engine import Policies
from authz.reasons import Denied, Reason
from authz.stages.approval import POLL_PATH, ApprovalStage
from authz.stages.binding import check_binding
from authz.stages.context import ContextStage, directory_from
from authz.stages.identity import IdentityStage
from authz.stages.intent import IntentStage
from authz.stages.operation import Operation, OperationStage
from authz.stages.policy import PolicyStage
from authz.stages.record import RecordStage
from authz.stages.task import TaskStage
from authz.store import StateStore, StoreUnavailable
from authz.store.queue import ApprovalQueue

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]

_REQUEST_ID = re.compile(r"apr-[0-9a-f]{16}")
#: The agent-facing approval API (``GET`` + request id), answered by agent-authz's gRPC service.
POLL_ROUTE = Route(
    "GET", POLL_PATH + "{request_id}", "approval_request.poll", "read", "request_id", None, reversible=True
)
#: ``POST`` here through the proxy ends the caller's task: its token stops working.
COMPLETE_TASK_PATH = "/.well-known/agent-authz/task/complete"
TASK_HEADER = "x-agent-task-token"
INTENT_HEADER = "x-agent-intent"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DecisionIds:
    """Unique decision ids, 32 hex digits: a random per-process prefix and a counter.

    Not ``uuid4``: reading the OS's random source on every request releases the GIL, and each
    hand-off of the GIL between busy threads costs more than the rest of a read's decision.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


class Authorizer:
    def __init__(
        self,
        config: Config,
        audit: AuditLog,
        store: StateStore,
        metrics: Metrics,
        clock: Clock = utc_now,
        queue: ApprovalQueue | None = None,
        directory: Directory | None = None,
    ) -> None:
        settings = config.directory
        if directory is None and settings is not None:
            directory = directory_from(settings)
        self._identity = IdentityStage(config.trust_domains, config.agents, store)
        self._operation = OperationStage(config.routes, config.max_body_bytes)
        self._task = TaskStage(config.tasks, store)
        self._intent = IntentStage(config.intents, store, on_revoke=metrics.revocations.inc)
        self._approval = ApprovalStage(
            config.approvals, config.tasks.audience, config.tasks.leeway, store, queue, Identities(directory)
        )
        self._record = RecordStage(audit, store, metrics)
        self._context = ContextStage(
            directory,
            settings.reads_when_unavailable if settings else "deny",
            settings.unknown_targets if settings else "deny",
        )
        self._policy = PolicyStage(Policies.load(config.policy_dir), config.intents, config.policy_enforce)
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._ids = DecisionIds()

    def check(self, request: RequestContext) -> Decision:
        started = time.perf_counter()
        now = self._clock()
        decision = Decision(self._ids.next(), request)
        try:
            self._decide(decision, now)
        except Denied as denied:
            decision.deny(denied.reason, denied.message)
            decision.body_extra, decision.denied_at = denied.extra, denied.stage
        except StoreUnavailable:
            self._metrics.store_errors.inc()
            decision.deny(Reason.STORE_UNAVAILABLE, "the state store cannot be read; the request is denied")
        except Exception:
            log.exception("internal error in decision %s", decision.decision_id)
            decision.deny(Reason.INTERNAL_ERROR, "the authorizer failed; the request is denied")
        return self._record.record(decision, now, time.perf_counter() - started)

    def _decide(self, d: Decision, now: dt.datetime) -> None:
        r, seconds = d.request, int(now.timestamp())
        caller = self._identity.verify(r.principal, r.certificate, now)  # 1
        d.agent = caller.agent
        if r.method == "POST" and r.path == COMPLETE_TASK_PATH:
            d.task = self._task.verify(
                r.headers.get(TASK_HEADER), d.agent.spiffe_id, caller.thumbprint, seconds
            )
            return self._complete_task(d)
        if r.method == "GET" and r.path.startswith(POLL_PATH):
            return self._poll(d)
        d.operation = self._operation.resolve(r.method, r.path, r.headers, r.body)  # 2
        d.task = self._task.verify(
            r.headers.get(TASK_HEADER), d.agent.spiffe_id, caller.thumbprint, seconds
        )  # 3
        check_binding(d.task, d.operation)  # 4
        self._intent.check(r.headers.get(INTENT_HEADER), d.task, d.operation)  # 5
        d.approvals = self._approval.verify(r, d.agent.spiffe_id, d.task, d.operation, seconds)  # 6
        unapproved = d.operation.route.gated and not d.approvals  # the floor: at least one approver
        try:
            target = self._context.target(d.operation)  # 7
            d.target, d.group, d.context_degraded = target.principal, target.group, target.degraded
        except Denied:
            if unapproved:  # stage 6 denies first, though how many approvers it takes is unknown now
                raise self._approval_required(d, now, None) from None
            raise
        calls = self._store.task_calls(d.task.task_id) if d.task.max_calls is not None else 0
        if unapproved:
            raise self._approval_required(d, now, calls)
        try:
            self._policy.check(d, now, calls)  # 8
        except Denied as denied:
            raise self._with_approvers_needed(d, now, calls, denied) from None
        if d.task.max_calls is not None and calls >= d.task.max_calls:  # 9
            raise Denied(
                Reason.BUDGET_EXHAUSTED, f"task {d.task.task_id} has used its {d.task.max_calls} calls"
            )
        d.allow()  # 10: the store commit and the audit record follow in RecordStage

    def _approval_required(self, d: Decision, now: dt.datetime, calls: int | None) -> Denied:
        """Stage 6's floor: the deny says how many approvers the policy asks for this request
        (``calls`` None: unknown, the directory is down) and files it for approval."""
        assert d.operation
        name, needed = d.operation.name, None
        if calls is None:
            message = f"{name} needs human approval (how many: unknown while the directory is down)"
        elif (needed := self._policy.approvals_needed(d, now, calls, self._approval.most)) is None:
            message = f"{name} needs human approval, and no number of approvers lets the policy allow it"
        else:
            message = f"{name} needs human approval: {needed} distinct approver(s)"
        return self._approval.ask(d, Denied(Reason.APPROVAL_REQUIRED, message), needed, int(now.timestamp()))

    def _with_approvers_needed(self, d: Decision, now: dt.datetime, calls: int, denied: Denied) -> Denied:
        """A policy deny that more approvers would lift says how many, and is filed for approval."""
        assert d.operation
        if not self._approval.counts(d.operation):
            return denied
        needed = self._policy.approvals_needed(d, now, calls, self._approval.most)
        if needed is None:
            return denied
        liftable = Denied(
            denied.reason,
            f"{denied.message}; {needed} distinct approvers would do",
            denied.extra,
            denied.stage,
        )
        return self._approval.ask(d, liftable, needed, int(now.timestamp()))

    def _poll(self, d: Decision) -> None:
        """An agent asks after an approval request: identity is enough, the API checks whose it is."""
        request_id = d.request.path[len(POLL_PATH) :]
        if not _REQUEST_ID.fullmatch(request_id):
            raise Denied(Reason.MALFORMED_REQUEST, "not an approval request id")
        d.operation = Operation(POLL_ROUTE, request_id)
        d.allow()

    def _complete_task(self, d: Decision) -> None:
        assert d.task is not None
        if self._store.revoke_task(d.task.task_id, reason="completed", by=d.task.agent):
            self._metrics.revocations.inc()
        d.deny(Reason.TASK_COMPLETED, f"task {d.task.task_id} is complete; its token no longer works")
        d.body_extra = {"task": d.task.task_id}
