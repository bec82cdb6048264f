"""Stage 8 — policy: Cedar decides what stages 1-7 did not rule out (docs/design.md).

Cedar decides each action of the request (most requests have one; a SCIM PATCH may have
several), and the request is allowed only if every action is. principal = the agent, action =
the action's operation, resource = its target with its live attributes,
context = intent, break-glass, on-behalf-of, delegation depth, approvals, task usage,
reversibility, hour and the group a membership change touches, with its directory attributes.
The resource and the group are the directory's canonical entries (stage 7), never the spelling
the request used: a policy on ``carol`` or on privileged groups holds however the request
writes them. A deny carries the deciding forbid's ``@reason``:
a reason code agent-authz knows (e.g. ``approvals_insufficient``) is used as the reason itself,
any other is reported as ``policy_denied`` with the policy's reason beside it.

How many approvers a request needs is the policy's to say (``context.approvals``): on a deny,
``approvals_needed`` asks Cedar again with more approvers, to tell the agent how many would do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from authz.config import Agent, Intent, Route
from authz.directory import Group, Principal
from authz.model import Action, Context, Decision
from authz.names import name_key
from authz.policy.engine import Policies, PolicyInput, PolicyVerdict
from authz.reasons import NOT_DENIES, STAGE_OF, Denied, Reason
from authz.tokens.task import Task

_KNOWN = {r.value: r for r in Reason}
POLICY_STAGE = STAGE_OF[Reason.POLICY_DENIED]
_NO_GROUP = Group("", exists=False)  # the request touches no group


class PolicyStage:
    def __init__(self, policies: Policies, intents: Mapping[str, Intent], enforce: bool = True) -> None:
        self._policies, self._intents, self._enforce = policies, intents, enforce

    def enforced(self, route: Route) -> bool:
        return self._enforce and route.enforce

    def check(self, d: Decision, now: dt.datetime) -> tuple[tuple[str, ...], dict[str, Any] | None]:
        """The deciding policies, and the decision shadow mode did not enforce (None if none);
        raises Denied when Cedar denies an action of the request (one approvers may lift, on a
        route approvals count on)."""
        assert d.agent and d.operation and d.task and d.context
        verdict, action = self._verdict(d, d.context, d.approvers, now)
        if verdict.allowed:
            return verdict.policies, None
        detail = {"policy": {"reason": verdict.reason, "policies": list(verdict.policies)}}
        if not self.enforced(d.operation.route):
            # Shadow mode: the real decision is audited and counted, the request goes on.
            # Only this stage can be shadowed: stages 1-6 are invariants (docs/design.md).
            return verdict.policies, {"decision": "deny", **detail["policy"]}
        if verdict.errors:
            message = "the policy could not be evaluated; denied"
            raise Denied(Reason.POLICY_DENIED, message, detail, POLICY_STAGE)
        reason = _KNOWN.get(verdict.reason or "", Reason.POLICY_DENIED)
        if reason in NOT_DENIES:
            reason = Reason.POLICY_DENIED  # a policy cannot claim those
        by = ", ".join(verdict.policies) or "no policy permits it (default deny)"
        message = f"{action.name} on {action.target} is denied by policy: {by}"
        liftable = d.operation.takes_approvals
        raise Denied(reason, message, detail, POLICY_STAGE, liftable=liftable)

    def approvals_needed(self, d: Decision, context: Context, now: dt.datetime, most: int) -> int | None:
        """The fewest distinct approvers (more than the request has, at most ``most``) with
        which the policy would allow every action of this request; None when no such number would.

        Asked only on the deny path. The approvers not yet known are placeholders, so a policy
        that names particular approvers is not satisfied by them. Where the policy is not
        enforced (shadow mode) it is asked only for the floor, and the answer is one approver.
        """
        assert d.agent and d.operation and d.task
        have = d.approvers
        if not self.enforced(d.operation.route):
            return 1
        for n in range(len(have) + 1, most + 1):
            pending = have + [f"(approver {i})" for i in range(len(have) + 1, n + 1)]
            if self._verdict(d, context, pending, now)[0].allowed:
                return n
        return None

    def _verdict(
        self, d: Decision, context: Context, approvers: list[str], now: dt.datetime
    ) -> tuple[PolicyVerdict, Action]:
        """Cedar's verdict on each action in turn: the first deny, else an allow naming the
        policies that allowed any action."""
        assert d.agent and d.operation and d.task
        route, calls, actions = d.operation.route, context.task_calls, d.operation.actions
        if len(actions) == 1:  # most requests: one action, on the context's target
            one = self._decide(
                d.agent, actions[0], route, d.task, context.target, context.group, calls, approvers, now
            )
            return one, actions[0]
        allowing: list[str] = []
        for action, (target, group) in zip(actions, context.each, strict=True):
            verdict = self._decide(d.agent, action, route, d.task, target, group, calls, approvers, now)
            if not verdict.allowed:
                return verdict, action
            allowing.extend(verdict.policies)
        return PolicyVerdict(True, None, tuple(dict.fromkeys(allowing))), actions[0]

    def _decide(
        self,
        agent: Agent,
        action: Action,
        route: Route,
        task: Task,
        target: Principal,
        group_entry: Group | None,
        calls: int,
        approvers: list[str],
        now: dt.datetime,
    ) -> PolicyVerdict:
        resource = target.name if target.exists else name_key(action.target, route.names)
        group = group_entry or _NO_GROUP
        intent = self._intents.get(task.intent)
        # Everything Cedar will see, flat: a repeated call costs one tuple and one lookup.
        key = (
            agent.spiffe_id, agent.owner, agent.status.value, action.name, resource,
            target.exists, target.kind, target.privileged, target.groups, target.active, target.roles,
            task.intent,
            task.on_behalf_of, task.delegation_depth, tuple(approvers), calls,
            action.reversible, now.hour, group.name, group.exists, group.privileged,
        )  # fmt: skip
        return self._policies.remembered(
            key,
            lambda: PolicyInput(
                agent=agent.spiffe_id,
                agent_attrs={"owner": agent.owner, "status": str(agent.status)},
                action=action.name,
                principal=resource,
                principal_attrs={
                    "exists": target.exists,
                    "kind": target.kind,
                    "privileged": target.privileged,
                    "groups": sorted(target.groups),
                    "active": target.active,
                    "roles": sorted(target.roles),
                },
                context={
                    "intent": task.intent,
                    "break_glass": bool(intent and intent.break_glass),
                    "on_behalf_of": task.on_behalf_of or "",
                    "delegation_depth": task.delegation_depth,
                    "approvals": len(approvers),
                    "approvers": approvers,
                    "task_calls": calls,
                    "reversible": action.reversible,
                    "hour": now.hour,
                    "group": group.name,
                    "group_exists": group.exists,
                    "group_privileged": group.privileged,
                },
            ),
        )
