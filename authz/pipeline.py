"""The decision pipeline (docs/design.md): stages in order, the first deny ends it.

``Authorizer.check`` routes the well-known endpoints (``authz/endpoints.py``) before the
pipeline, runs stages 1-9 (``_decide``: one line each), completes a deny approvers could lift
(``authz/stages/lift.py``, the one place that asks how many), and ends with stage 10, which
applies the decision's effects (``authz/effects.py``) and writes the audit record. Pure of
gRPC: it takes a ``RequestContext`` and returns a ``Decision``. Every unexpected exception
becomes an explicit ``internal_error`` deny.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import secrets
import time
from collections.abc import Callable

from authz.audit import AuditLog
from authz.config import Config
from authz.directory import Directory
from authz.duties import Identities
from authz.endpoints import WellKnown
from authz.metrics import Metrics
from authz.model import Decision, RequestContext
from authz.policy.engine import Policies
from authz.reasons import Denied, Reason
from authz.stages.approval import ApprovalStage
from authz.stages.binding import check_binding
from authz.stages.budget import check_budget
from authz.stages.context import ContextStage, directory_from
from authz.stages.identity import IdentityStage
from authz.stages.intent import IntentStage
from authz.stages.lift import Lift
from authz.stages.operation import OperationStage
from authz.stages.policy import PolicyStage
from authz.stages.record import RecordStage
from authz.stages.task import TaskStage
from authz.store import StateStore, StoreUnavailable
from authz.store.queue import ApprovalQueue

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]

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
        self._operation = OperationStage(config.routes, config.max_body_bytes, directory)
        self._task = TaskStage(config.tasks, store)
        self._intent = IntentStage(config.intents)
        self._approval = ApprovalStage(
            config.approvals, config.tasks.audience, config.tasks.leeway, store, Identities(directory)
        )
        self._context = ContextStage(
            directory,
            store,
            settings.reads_when_unavailable if settings else "deny",
            settings.unknown_targets if settings else "deny",
        )
        self._policy = PolicyStage(
            Policies.load(config.policy_dir, config.actions), config.intents, config.policy_enforce
        )
        self._record = RecordStage(audit, store, metrics, queue, config.approvals)
        self._lift = Lift(self._policy, self._context, config.approvals.max_tokens)
        self._endpoints = WellKnown(self._identity, self._task, queue)
        self._metrics = metrics
        self._clock = clock
        self._ids = DecisionIds()

    def check(self, request: RequestContext) -> Decision:
        started = time.perf_counter()
        now = self._clock()
        d = Decision(self._ids.next(), request)
        try:
            decide = self._endpoints.route(request.method, request.path) or self._decide
            decide(d, now)
        except Denied as denied:
            d.refuse(self._lift.complete(d, denied, now))  # how many approvers would lift it: only here
        except StoreUnavailable:
            self._metrics.store_errors.inc()
            d.deny(Reason.STORE_UNAVAILABLE, "the state store cannot be read; the request is denied")
        except Exception:
            log.exception("internal error in decision %s", d.decision_id)
            d.deny(Reason.INTERNAL_ERROR, "the authorizer failed; the request is denied")
        return self._record.record(d, now, time.perf_counter() - started)  # 10: effects, audit, metrics

    def _decide(self, d: Decision, now: dt.datetime) -> None:
        """Stages 1-9 in order; the first deny raises. Stage 10 follows in ``check``."""
        r, seconds = d.request, int(now.timestamp())
        d.caller = self._identity.verify(r.principal, r.certificate, now)  # 1
        d.operation = self._operation.resolve(r.method, r.path, r.headers, r.body)  # 2
        d.task = self._task.verify_for(r.headers.get(TASK_HEADER), d.caller, seconds)  # 3
        check_binding(d.task, d.operation)  # 4
        self._intent.check(r.headers.get(INTENT_HEADER), d.task, d.operation)  # 5
        d.approvals = self._approval.verify(r, d.caller.agent.spiffe_id, d.task, d.operation, seconds)  # 6
        d.context = self._context.gather(d.operation, d.task)  # 7
        d.policies, d.shadow = self._policy.check(d, now)  # 8
        d.effects.spend = check_budget(d.task, d.context, d.approvals)  # 9
        d.allow()  # 10 commits the spend atomically with the allow (RecordStage)
