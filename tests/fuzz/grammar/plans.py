"""Planning a request under a task: which mutation it gets, and for a fresh task the
certificate, operation, target, intent and on-behalf-of user; for a reused one, a scope
mutation narrows what it asks for."""

from __future__ import annotations

from collections.abc import Sequence

from fuzz import mutations as m
from fuzz.choices import Choices
from fuzz.grammar.cases import Plan, TaskEntry
from fuzz.grammar.tables import (
    APPROVER_PEOPLE,
    AUDIT_OPS,
    CATEGORIES,
    CERTS,
    CHANGES,
    GROUPS,
    HEADER_TOKEN_MUTATIONS,
    INTENTS,
    ON_BEHALF_OF,
    OPS,
    OTHERS,
    REUSE_TOKEN_MUTATIONS,
    ROUTES,
    SCOPE_MUTATIONS,
    SOURCE_MUTATIONS,
    TARGETS,
    person,
)
from fuzz.signing import APPROVAL_MUTATIONS, TASK_MUTATIONS


def plan_request(c: Choices, entry: TaskEntry | None) -> Plan:
    """What the request will be: its category and mutation, certificate, operation, target, intent."""
    category = c.weighted(CATEGORIES)
    if entry is None:
        cert = c.weighted(CERTS)
        op = c.weighted(AUDIT_OPS if cert == "audit" else CHANGES if category == "approval" else OPS)
        target, obo = c.weighted(TARGETS), None if c.chance(65) else c.pick(ON_BEHALF_OF)
        intents = [
            i for i, ops in INTENTS.items() if op in ops and (cert != "audit" or i == "account_support")
        ]
        intent = c.pick(intents) if intents else "account_support"
    else:
        changes = [a for a in entry.actions if a != "user.read"]
        actions = changes if category == "approval" and changes else entry.actions
        cert, op, target = entry.cert, c.pick(actions), c.pick(entry.principals)
        obo, intent = entry.on_behalf_of, entry.intent
    plan = Plan(category, "none", cert, op, target, intent, obo)
    if op.startswith("group."):
        plan.group = c.weighted(GROUPS)
    tables: dict[str, Sequence[tuple[str, int]]] = {
        "token": (TASK_MUTATIONS + HEADER_TOKEN_MUTATIONS) if entry is None else REUSE_TOKEN_MUTATIONS,
        "scope": SCOPE_MUTATIONS, "path": m.PATH_MUTATIONS, "method": m.METHOD_MUTATIONS,
        "header": m.HEADER_MUTATIONS, "body": m.BODY_MUTATIONS, "approval": APPROVAL_MUTATIONS,
    }  # fmt: skip
    if category in tables:
        plan.mutation = c.weighted(tables[category])
    elif category == "source":
        plan.mutation = c.pick(SOURCE_MUTATIONS)
    elif category == "query":
        plan.mutation = c.pick(m.QUERIES)
    if category == "approval" and plan.mutation in ("self-target", "self-on-behalf-of"):
        _self_approval(c, plan, entry)
    if plan.mutation == "class-not-allowed" and entry is None and cert != "audit":
        plan.op, plan.intent = c.pick(["group.member.add", "group.member.remove"]), "access_change"
        plan.group = c.weighted(GROUPS)  # privilege_change, which bob may not approve
    return plan


def _self_approval(c: Choices, plan: Plan, entry: TaskEntry | None) -> None:
    """Make the approver someone the request is about: the target, or the on-behalf-of user."""
    names = {
        "bob": ("bob", "bob@example.org", "Bob.Builder", "BOB"),
        "dana": ("dana", "dana@example.org"),
        "erik": ("erik", "erik@example.org", "ERIK"),
    }
    if plan.mutation == "self-target" and entry is None:
        plan.approver_self = c.pick(
            ["dana", "erik"] if plan.op.startswith("group.") else ["bob", "dana", "erik"]
        )
        plan.target = c.pick(names[plan.approver_self])
    elif plan.mutation == "self-on-behalf-of" and entry is None:
        plan.approver_self = c.pick(
            ["dana", "erik"] if plan.op.startswith("group.") else ["bob", "dana", "erik"]
        )
        plan.on_behalf_of = c.pick(names[plan.approver_self])
    else:
        who = person(plan.target if plan.mutation == "self-target" else plan.on_behalf_of)
        plan.approver_self = who if who in APPROVER_PEOPLE else None


def narrow(c: Choices, p: Plan, entry: TaskEntry) -> None:
    """A scope mutation of a reused task: a target or an operation it does not name."""
    if p.mutation in ("principal-missing", "case-variant"):
        variants = [p.target.upper(), p.target.capitalize(), *OTHERS]
        p.target = c.pick([v for v in variants if v not in entry.principals] or ["mallory"])
    else:
        p.op = c.pick([o for o in ROUTES if o not in entry.actions] or ["user.read"])
        if p.op.startswith("group.") and p.group is None:
            p.group = c.weighted(GROUPS)
