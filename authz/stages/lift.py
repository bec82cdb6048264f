"""How many approvers would lift a deny — asked here, and only here.

Two denies can be lifted by approvers: stage 6's floor (an approval-gated operation carried
none) and a policy deny on a route approvals count on. For both, the pipeline asks this module
once the deny is known: it asks the policy (stage 8) again with more approvers, on the deny path
only, and completes the deny with the ``approval`` object that tells the agent what to get
approved — operation, principal, task, ``req`` hash, how many approvers — and, when some number
would do, the approval request for the humans (``Effects.file``, filed by stage 10). A deny no
number of approvers could lift (a service account's password reset) says ``approvers_needed:
null`` and files nothing; so does the floor while the directory cannot answer (how many it
takes is not known then).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from authz.model import Context, Decision
from authz.reasons import Denied, Reason
from authz.stages.context import ContextStage
from authz.stages.policy import PolicyStage
from authz.store.queue import NewRequest
from authz.tokens.approval import request_hash

FLOOR_STAGE = 6


class Lift:
    def __init__(self, policy: PolicyStage, context: ContextStage, most: int) -> None:
        self._policy, self._context = policy, context
        self._most = most  # approval tokens a request may carry: no policy can usefully ask more

    def complete(self, d: Decision, denied: Denied, now: dt.datetime) -> Denied:
        """``denied``, completed with what would lift it when approvers could."""
        if not denied.liftable or d.task is None or d.operation is None:
            return denied
        if denied.stage == FLOOR_STAGE:
            return self._floor(d, denied, now)
        assert d.context is not None  # a policy deny: stage 7 ran
        needed = self._needed(d, d.context, now)
        if needed is None:
            return denied
        message = f"{denied.message}; {needed} distinct approvers would do"
        return self._ask(d, Denied(denied.reason, message, denied.extra, denied.stage), needed)

    def _floor(self, d: Decision, denied: Denied, now: dt.datetime) -> Denied:
        """Stage 6's floor: how many approvers the policy asks for this request, which needs the
        context stage 7 would have gathered (kept on the decision, for the audit record)."""
        assert d.operation and d.task
        name = d.operation.name
        try:
            d.context = self._context.gather(d.operation, d.task)
        except Denied:
            message = f"{name} needs human approval (how many: unknown while the directory is down)"
            return self._ask(d, Denied(denied.reason, message), None)
        needed = self._needed(d, d.context, now)
        if needed is None:
            message = f"{name} needs human approval, and no number of approvers lets the policy allow it"
        else:
            message = f"{name} needs human approval: {needed} distinct approver(s)"
        return self._ask(d, Denied(Reason.APPROVAL_REQUIRED, message), needed)

    def _needed(self, d: Decision, context: Context, now: dt.datetime) -> int | None:
        return self._policy.approvals_needed(d, context, now, self._most)

    def _ask(self, d: Decision, denied: Denied, needed: int | None) -> Denied:
        """``denied`` with the deny body's ``approval`` object; when ``needed`` approvers would
        do, the request to file for the humans (stage 10 files it and says where to poll)."""
        assert d.task and d.operation
        r, task, operation, approvers = d.request, d.task, d.operation, d.approvers
        req = request_hash(r.method, r.path, r.body)
        details: dict[str, Any] = {
            "operation": operation.name,
            "principal": operation.target,
            "task": task.task_id,
            "req": req,
            "approvers_required": None if needed is None else needed - len(approvers),
            "approvers_needed": needed,
            "approved_by": approvers,
            "expires": task.expires,
        }
        if operation.derived:  # a request that does several things: each of them
            details["actions"] = [{"operation": a.name, "principal": a.target} for a in operation.actions]
        if needed is None:
            details["queued"] = False
        else:
            d.effects.file = new_request(d, req, needed)
        return Denied(denied.reason, denied.message, {**denied.extra, "approval": details}, denied.stage)


def new_request(d: Decision, req: str, needed: int) -> NewRequest:
    """The approval request the humans see, for ``d`` denied for want of ``needed`` approvers."""
    assert d.agent and d.task and d.operation
    r, agent, task, operation = d.request, d.agent, d.task, d.operation
    return NewRequest(
        agent=agent.spiffe_id,
        owner=agent.owner,
        task_id=task.task_id,
        on_behalf_of=task.on_behalf_of,
        intent=task.intent,
        justification=r.note("x-agent-justification"),
        prompt_ref=r.note("x-agent-prompt-ref"),
        operation=operation.name,
        op_class=operation.op_class,
        principal=operation.target,
        method=r.method,
        path=r.path,
        body=r.body,
        req=req,
        approvers_needed=needed,
        expires=task.expires,
    )
