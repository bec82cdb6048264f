"""The decision pipeline (DESIGN §2): stages in order, the first failure denies.

Pure of gRPC: it takes a ``RequestContext`` and returns a ``Decision``. Every unexpected
exception becomes an explicit ``internal_error`` deny.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from authz.audit import AuditLog
from authz.config import Config
from authz.metrics import Metrics
from authz.model import Decision, RequestContext
from authz.reasons import Denied, Reason
from authz.stages.identity import IdentityStage
from authz.stages.operation import Operation, OperationStage
from authz.stages.record import RecordStage

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Authorizer:
    def __init__(self, config: Config, audit: AuditLog, metrics: Metrics, clock: Clock = utc_now) -> None:
        self._identity = IdentityStage(config.trust_domains, config.agents)
        self._operation = OperationStage(config.routes, config.max_body_bytes)
        self._record = RecordStage(audit, metrics)
        self._clock = clock

    def check(self, request: RequestContext) -> Decision:
        started = time.perf_counter()
        now = self._clock()
        decision = Decision(uuid.uuid4().hex, request)
        try:
            self._decide(decision, now)
        except Denied as denied:
            decision.deny(denied.reason, denied.message)
        except Exception:
            log.exception("internal error in decision %s", decision.decision_id)
            decision.deny(Reason.INTERNAL_ERROR, "the authorizer failed; the request is denied")
        return self._record.record(decision, now, time.perf_counter() - started)

    def _decide(self, d: Decision, now: dt.datetime) -> None:
        r = d.request
        d.agent = self._identity.verify(r.principal, r.certificate, now)  # 1
        d.operation = self._operation.resolve(r.method, r.path, r.headers, r.body)  # 2
        _until_tasks_land(d.operation)  # 3-9
        d.allow()  # 10: recorded by the caller


_GATED = frozenset({"credential_change", "privilege_change", "key_export"})


def _until_tasks_land(operation: Operation) -> None:
    """Stages 3-9 (task, binding, intent, approval, context, policy, budget) are not built yet.

    Until they are, identity alone reaches read routes and everything else is refused.
    """
    if operation.op_class == "read":
        return
    if operation.op_class in _GATED:
        raise Denied(Reason.APPROVAL_REQUIRED, f"{operation.name} needs human approval")
    raise Denied(Reason.POLICY_DENIED, f"{operation.name} is not yet permitted for agents")
