"""Task and approval tokens for a planned request: a task valid or with one thing wrong
(``new_task``), and the approvals a gated change needs, signed for exactly the request, or with
one thing wrong (``approve``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from factories import BOT

from authz.tokens.approval import request_hash
from fuzz.choices import Choices
from fuzz.grammar.cases import Case, Ids, Plan, TaskEntry, with_header
from fuzz.grammar.tables import (
    APPROVER_CLASSES,
    APPROVER_PEOPLE,
    HEADER_TOKEN_MUTATIONS,
    INTENTS,
    OTHERS,
    PRIVILEGED,
    ROUTES,
    TARGETS,
    person,
)
from fuzz.oracle import TokenFacts
from fuzz.signing import VALID_TASK_VARIANTS, ApprovalSpec, TaskSpec, sign_approval, sign_task, thumbprint
from fuzz.world import AUDIT_BOT, ORCHESTRATOR, FuzzWorld

_DER = Encoding.DER


class TokenMaker:
    """Signs the tokens of a planned request as the world's keys would, or with one thing wrong."""

    def __init__(self, world: FuzzWorld, ids: Ids) -> None:
        self.w, self._id = world, ids

    def new_task(self, c: Choices, p: Plan) -> tuple[TokenFacts, TaskEntry | None]:
        principals, actions, intent = [p.target], [p.op], p.intent
        if c.chance(30):
            principals.append(c.weighted(TARGETS))
        if c.chance(40):
            actions += [o for o in INTENTS.get(intent, ()) if o != p.op and c.chance(50)]
        if p.category == "scope":
            if p.mutation == "principal-missing":
                principals = [c.pick([o for o in OTHERS if o != p.target])]
            elif p.mutation == "action-missing":
                actions = [o for o in ROUTES if o != p.op][: c.integer(1, 3)]
            elif p.mutation == "intent-not-permitting":
                intent = c.pick([i for i, ops in INTENTS.items() if p.op not in ops])
            elif p.mutation == "case-variant":
                principals = [c.pick([p.target.upper(), p.target.capitalize(), p.target.lower()])]
        p.intent = intent
        mutation = (
            p.mutation
            if p.category == "token" and p.mutation not in dict(HEADER_TOKEN_MUTATIONS)
            else "valid"
        )
        svid = self.w.svids[p.cert]
        delegation = (ORCHESTRATOR,) if p.on_behalf_of and c.chance(10) else ()
        spec = TaskSpec(
            agent=svid.spiffe_id, thumbprint=thumbprint(svid.issued.cert.public_bytes(_DER)),
            task_id=self._id("task"), intent=intent, principals=tuple(dict.fromkeys(principals)),
            actions=tuple(dict.fromkeys(actions)), on_behalf_of=p.on_behalf_of, delegation=delegation,
            max_calls=None if c.chance(80) else c.integer(1, 3), ttl=c.pick([300, 600, 900]),
        )  # fmt: skip
        other_agent = AUDIT_BOT if svid.spiffe_id != AUDIT_BOT else BOT
        other_cert = self.w.svids[
            c.pick([x for x in ("helpdesk", "helpdesk-2", "audit") if x != p.cert])
        ].issued.cert
        other = thumbprint(other_cert.public_bytes(_DER)) if mutation == "cnf-other-cert" else other_agent
        facts = sign_task(self.w, spec, mutation, other=other, pick=c.integer(0, 11))
        if mutation not in VALID_TASK_VARIANTS:
            return facts, None
        entry = TaskEntry(facts, p.cert, intent, tuple(spec.principals), tuple(spec.actions), p.on_behalf_of)
        return facts, entry

    def approve(self, c: Choices, p: Plan, case: Case, agent: str) -> None:
        mutation = p.approval = p.mutation if p.category == "approval" else "valid"
        if mutation == "missing":
            return
        op_class = ROUTES[p.op][2]
        needed = 2 if person(p.target) in PRIVILEGED or p.intent == "emergency_access" else 1
        if p.group is not None and "admins" in p.group.lower():
            needed = 2
        eligible = [a for a, who in APPROVER_PEOPLE.items() if op_class in APPROVER_CLASSES[a]
                    and who not in (person(p.target), person(p.on_behalf_of))]  # fmt: skip
        start = c.integer(0, max(0, len(eligible) - 1))
        chosen = [eligible[(start + i) % len(eligible)] for i in range(min(needed, len(eligible)))] or [
            "dana"
        ]
        if mutation in ("self-target", "self-on-behalf-of") and p.approver_self:
            chosen = [p.approver_self]
        elif mutation == "class-not-allowed":
            chosen = ["bob" if op_class == "privilege_change" else "erik"]
        r, task_id = case.ctx, str(case.task.claims.get("jti")) if case.task else "no-task"
        base = ApprovalSpec(
            "dana", agent, task_id, p.op, p.target, request_hash(r.method, r.path, r.body), ""
        )
        tokens = [
            self._approval(c, base, a, mutation if mutation != "one-good-one-bad" else "valid")
            for a in chosen
        ]
        if mutation == "one-good-one-bad":
            tokens.append(
                self._approval(c, base, c.pick(chosen), c.pick(["other-body", "expired", "other-task"]))
            )
        elif mutation == "twice":
            tokens.append(tokens[0])
        elif mutation == "too-many":
            tokens += [self._approval(c, base, c.pick(chosen), "valid") for _ in range(4)]
        case.approvals = {t.token: t for t in tokens}
        values = [t.token for t in tokens]
        if mutation == "garbage":
            values.append(c.pick(["garbage", "e30.e30.", values[0][:-2]]))
        separator = c.pick([",", ", ", " , "]) if c.chance(20) else ","
        case.ctx = with_header(case.ctx, "x-approval-token", separator.join(values))

    def _approval(self, c: Choices, base: ApprovalSpec, approver: str, mutation: str) -> TokenFacts:
        s = ApprovalSpec(approver, base.agent, base.task_id, base.operation, base.principal, base.req,
                         self._id("apv"))  # fmt: skip
        if mutation == "other-body":
            s = _replace(s, req=request_hash(*_method_path(base), b'{"user":"mallory"}'))
        elif mutation == "other-path":
            s = _replace(s, req=request_hash("POST", "/v1/users/mallory/password/reset", b""))
        elif mutation == "other-method":
            s = _replace(s, req=request_hash("PUT", "/v1/users/alice", b""))
        elif mutation == "other-principal":
            s = _replace(s, principal=c.pick([o for o in OTHERS if o != base.principal]))
        elif mutation == "other-op":
            s = _replace(s, operation=c.pick([o for o in ROUTES if o != base.operation]))
        elif mutation == "other-task":
            s = _replace(s, task_id=self._id("task"))
        elif mutation == "other-agent":
            s = _replace(s, agent=AUDIT_BOT if base.agent != AUDIT_BOT else BOT)
        return sign_approval(self.w, s, mutation, pick=c.integer(0, 3))


def _method_path(s: ApprovalSpec) -> tuple[str, str]:
    method, template, _ = ROUTES.get(s.operation, ("POST", "/x", ""))
    return method, template.replace("{user}", s.principal).replace("{group}", "staff")


def _replace(s: ApprovalSpec, **changes: Any) -> ApprovalSpec:
    return dataclasses.replace(s, **changes)
