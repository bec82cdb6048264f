"""The request grammar: valid requests from the demo config's routes, intents and directory,
and single mutations of every field — certificate, source principal, task token, task scope,
path, method, query, headers, body, approvals — plus sequences: reused tasks (budgets,
revocation), exact replays of allowed requests (spent approvals), task completion, polls.

Every choice comes from ``Choices``, so the same grammar runs on hypothesis draws (``st.data()``)
or on a ``random.Random`` seeded by hypothesis. The generator knows what it made (``Case``:
the request as Envoy describes it, and ``TokenFacts`` for its task and approval tokens) and
never reuses a task it may have revoked without knowing it (sent with another intent, or
completed, and not denied for exactly that): such tasks are *tainted* and dropped.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from cryptography.hazmat.primitives.serialization import Encoding
from factories import BOT
from hypothesis import strategies as st

from authz.model import RequestContext
from authz.tokens.approval import request_hash
from fuzz import mutations as m
from fuzz.oracle import TokenFacts
from fuzz.signing import (
    APPROVAL_MUTATIONS,
    TASK_MUTATIONS,
    VALID_TASK_VARIANTS,
    ApprovalSpec,
    TaskSpec,
    sign_approval,
    sign_task,
    thumbprint,
)
from fuzz.world import AUDIT_BOT, ORCHESTRATOR, FuzzWorld

T = TypeVar("T")
_DER = Encoding.DER

ROUTES = {  # operation → (method, path template, class)
    "user.read": ("GET", "/v1/users/{user}", "read"),
    "user.password.reset": ("POST", "/v1/users/{user}/password/reset", "credential_change"),
    "user.mfa.reset": ("POST", "/v1/users/{user}/mfa/reset", "credential_change"),
    "user.api_key.rotate": ("POST", "/v1/users/{user}/api-keys/rotate", "credential_change"),
    "group.member.add": ("POST", "/v1/groups/{group}/members", "privilege_change"),
    "group.member.remove": ("DELETE", "/v1/groups/{group}/members/{user}", "privilege_change"),
}
INTENTS = {
    "account_support": ("user.read",),
    "credential_recovery": ("user.read", "user.password.reset", "user.mfa.reset"),
    "key_rotation": ("user.read", "user.api_key.rotate"),
    "access_change": ("user.read", "group.member.add", "group.member.remove"),
    "emergency_access": ("group.member.add",),
}
BODIES: dict[str, tuple[tuple[tuple[str, ...] | None, int], ...]] = {  # None: no body; (): {}
    "user.read": ((None, 85), ((), 15)),
    "user.password.reset": (
        (None, 20), ((), 10), (("user",), 25), (("user", "notify"), 10), (("reason",), 10),
        (("user", "reason", "notify"), 25),
    ),
    "user.mfa.reset": ((None, 30), ((), 10), (("user",), 30), (("user", "reason"), 30)),
    "user.api_key.rotate": ((None, 40), ((), 20), (("reason",), 40)),
    "group.member.add": ((("user",), 40), (("user", "role"), 30), (("role", "user", "reason"), 30)),
    "group.member.remove": ((None, 80), ((), 20)),
}  # fmt: skip
REASONS = ("ticket 4711", "locked out after travel", "Zugang gesperrt — bitte zurücksetzen", "✓ ünïcödé", "")
OPS = (("user.read", 34), ("user.password.reset", 16), ("user.mfa.reset", 10), ("user.api_key.rotate", 10),
       ("group.member.add", 15), ("group.member.remove", 15))  # fmt: skip
CHANGES = tuple((op, w) for op, w in OPS if op != "user.read")
AUDIT_OPS = (("user.read", 9), ("user.password.reset", 1))
TARGETS = (
    ("alice", 24), ("bob", 12), ("dana", 8), ("erik", 8), ("carol", 6), ("svc-backup", 8), ("svc-payroll", 3),
    ("bob@example.org", 5), ("Bob.Builder", 3), ("alice@example.org", 3), ("CAROL", 2), ("Alice", 2),
    ("zoë", 2), ("ａlice", 1), ("nobody", 2), ('al"ice', 1), ("alice'", 1), ("ALICE@EXAMPLE.ORG", 1),
    ("alice\u0301", 1), ("bob+1@example.org", 1),
)  # fmt: skip
OTHERS = ("bob", "alice", "carol", "mallory", "svc-payroll", "Bob.Builder", "root")
ON_BEHALF_OF = ("alice", "bob", "bob@example.org", "Bob.Builder", "BOB", "dana", "dana@example.org", "erik",
                "carol", "frank")  # fmt: skip
GROUPS = (("staff", 40), ("helpdesk", 30), ("it-admins", 12), ("backup", 6), ("IT-Admins", 3), ("nogroup", 3))
CERTS = (("helpdesk", 82), ("audit", 8), ("helpdesk-2", 2), ("rogue", 2), ("suspended", 2), ("foreign", 1),
         ("expired", 1), ("two-sans", 1), ("ca-leaf", 1))  # fmt: skip
KINDS = (("fresh", 58), ("reuse", 26), ("replay", 8), ("complete", 4), ("poll", 4))
CATEGORIES = (
    ("none", 46), ("source", 2), ("token", 12), ("scope", 6), ("path", 8), ("method", 3), ("query", 4),
    ("header", 8), ("body", 9), ("approval", 10),
)  # fmt: skip
SCOPE_MUTATIONS = (("principal-missing", 3), ("action-missing", 2), ("intent-not-permitting", 2),
                   ("case-variant", 2))  # fmt: skip
HEADER_TOKEN_MUTATIONS = (("garbage", 3), ("missing", 3), ("repeated", 1))
REUSE_TOKEN_MUTATIONS = (("cert-swap", 3), *HEADER_TOKEN_MUTATIONS)
SOURCE_MUTATIONS = (AUDIT_BOT, BOT, "", BOT + "/", BOT.replace("agents", "AGENTS"), "spiffe://evil.example/agent/x",
                    "cert-empty", "cert-truncated", "cert-two", "cert-raw-pem", "cert-double-encoded",
                    "cert-garbage", "cert-with-ca")  # fmt: skip
NOISE_HEADERS = (
    ("x-agent-justification", "ticket INC-4711"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("x-request-id", "r-1"),
)
GARBAGE = ("garbage", "Bearer {t}", "{t}x", "{t}.", "{t} ", "{head}", "e30.e30.", "null")
#: (approver, the directory people who are that approver), and the classes each may approve.
APPROVER_PEOPLE = {"dana": "dana", "erik": "erik", "bob": "bob"}
APPROVER_CLASSES = {
    "dana": {"credential_change", "privilege_change", "key_export"},
    "erik": {"credential_change", "privilege_change"},
    "bob": {"credential_change"},
}
PEOPLE = {"alice": ("alice", "alice@example.org"), "bob": ("bob", "bob@example.org", "bob.builder"),
          "carol": ("carol", "carol@example.org"), "dana": ("dana", "dana@example.org"),
          "erik": ("erik", "erik@example.org")}  # fmt: skip
PRIVILEGED = {"carol", "svc-payroll"}
POOLABLE = ("helpdesk", "audit")


def person(name: str | None) -> str | None:
    """Whom ``name`` names, as the generator guesses it (for picking approvers only)."""
    if name is None:
        return None
    folded = name.casefold()
    return next((p for p, names in PEOPLE.items() if folded in names), folded)


# -- where choices come from --------------------------------------------------------------------


class RandomChoices:
    """Choices from a seeded ``random.Random``: the fast path (one hypothesis draw per batch)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def weighted(self, table: Sequence[tuple[T, int]]) -> T:
        return _weighted(table, self._rng.randrange(_total(table)))

    def chance(self, percent: int) -> bool:
        return self._rng.randrange(100) < percent

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)


class DrawChoices:
    """Choices drawn by hypothesis, one draw each (``st.data()``)."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(_integers(low, high))

    def pick(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def weighted(self, table: Sequence[tuple[T, int]]) -> T:
        return _weighted(table, self.integer(0, _total(table) - 1))

    def chance(self, percent: int) -> bool:
        return self.integer(0, 99) < percent


_STRATEGIES: dict[tuple[int, int], st.SearchStrategy[int]] = {}
_CUMULATIVE: dict[int, tuple[Sequence[Any], list[int]]] = {}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    if (low, high) not in _STRATEGIES:
        _STRATEGIES[low, high] = st.integers(low, high)
    return _STRATEGIES[low, high]


def _cumulative(table: Sequence[tuple[Any, int]]) -> list[int]:
    cached = _CUMULATIVE.get(id(table))
    if cached is None or cached[0] is not table:
        cached = (table, list(itertools.accumulate(w for _, w in table)))
        _CUMULATIVE[id(table)] = cached
    return cached[1]


def _total(table: Sequence[tuple[Any, int]]) -> int:
    return _cumulative(table)[-1]


def _weighted(table: Sequence[tuple[T, int]], roll: int) -> T:
    return table[bisect.bisect_right(_cumulative(table), roll)][0]


# -- what the generator made ------------------------------------------------------------------


@dataclass
class TaskEntry:
    """A task whose token was made valid, that later requests may reuse."""

    facts: TokenFacts
    cert: str
    intent: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    on_behalf_of: str | None


@dataclass
class Case:
    kind: str  # fresh | reuse | replay | complete | poll
    cert: str
    mutation: str  # "category:name", or "none"
    ctx: RequestContext
    task: TokenFacts | None = None  # the task token the generator put in the request
    approvals: dict[str, TokenFacts] = field(default_factory=dict)
    entry: TaskEntry | None = None  # the task whose valid token the request carries
    operation: str | None = None
    target: str | None = None


@dataclass
class Plan:
    """One request being built."""

    category: str
    mutation: str
    cert: str
    op: str
    target: str
    intent: str
    on_behalf_of: str | None
    group: str | None = None
    approval: str = "valid"  # the approval mutation
    approver_self: str | None = None  # the approver who is the target or the on-behalf-of user


class Generator:
    """Makes cases from ``Choices`` and remembers what later cases may reuse or replay."""

    def __init__(self, world: FuzzWorld, prefix: str) -> None:
        self.w, self.prefix = world, prefix
        self.counter = itertools.count()
        self.tasks: list[TaskEntry] = []
        self.replays: list[Case] = []
        self.tainted: set[str] = set()

    def forget(self) -> None:
        """Drop every pool (hypothesis's draw-by-draw mode: an example may depend only on its draws)."""
        self.tasks, self.replays = [], []

    def _id(self, kind: str) -> str:
        return f"{kind}-{self.prefix}-{next(self.counter)}"

    def next_case(self, c: m.Choices) -> Case:
        kind = c.weighted(KINDS)
        if kind == "reuse" and self.tasks:
            return self._task_case(c, "reuse", self.tasks[c.integer(0, len(self.tasks) - 1)])
        if kind == "replay" and self.replays:
            earlier = self.replays[c.integer(0, len(self.replays) - 1)]
            return Case("replay", earlier.cert, earlier.mutation, earlier.ctx, earlier.task,
                        earlier.approvals, earlier.entry, earlier.operation, earlier.target)  # fmt: skip
        if kind == "complete" and self.tasks:
            return self._complete(c, self.tasks[c.integer(0, len(self.tasks) - 1)])
        if kind == "poll":
            return self._poll(c)
        return self._task_case(c, "fresh", None)

    def observe(self, case: Case, allowed: bool, reason: str) -> None:
        """Keep what may be reused: a valid task not tainted; an allowed gated or budgeted request."""
        entry = case.entry
        if entry is None:
            return
        task_id = str(entry.facts.claims["jti"])
        declared = case.ctx.headers.get("x-agent-intent")
        if case.kind == "complete" and reason != "task_completed":
            self._taint(task_id)
        elif case.kind != "complete" and declared is not None and declared != entry.intent:
            if reason != "intent_mismatch":
                self._taint(task_id)
        if task_id in self.tainted:
            return
        if case.kind == "fresh" and entry.cert in POOLABLE:
            self.tasks.append(entry)
            del self.tasks[:-96]
        if allowed and case.kind != "replay" and (case.approvals or "budget" in entry.facts.claims):
            self.replays.append(case)
            del self.replays[:-48]

    def _taint(self, task_id: str) -> None:
        self.tainted.add(task_id)
        self.tasks = [t for t in self.tasks if t.facts.claims["jti"] != task_id]
        self.replays = [r for r in self.replays if r.entry is None or r.entry.facts.claims["jti"] != task_id]

    # -- a request under a task ---------------------------------------------------------------

    def _plan(self, c: m.Choices, entry: TaskEntry | None) -> Plan:
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
            self._self_approval(c, plan, entry)
        if plan.mutation == "class-not-allowed" and entry is None and cert != "audit":
            plan.op, plan.intent = c.pick(["group.member.add", "group.member.remove"]), "access_change"
            plan.group = c.weighted(GROUPS)  # privilege_change, which bob may not approve
        return plan

    def _self_approval(self, c: m.Choices, plan: Plan, entry: TaskEntry | None) -> None:
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

    def _task_case(self, c: m.Choices, kind: str, entry: TaskEntry | None) -> Case:
        p = self._plan(c, entry)
        svid = self.w.svids[p.cert]
        if entry is None:
            facts, entry = self._new_task(c, p)
        else:
            facts = entry.facts
            if p.category == "scope":
                self._narrow(c, p, entry)
            if p.mutation == "cert-swap":
                p.cert = c.pick([x for x in ("helpdesk-2", "audit", "helpdesk") if x != entry.cert])
                svid = self.w.svids[p.cert]
        method, path, at = self._route(c, p)
        body = self._body(c, p)
        headers = self._task_headers(c, p, facts.token)
        other = c.pick([o for o in OTHERS if o != p.target])
        if p.category == "path":
            segments = path.partition("?")[0].lstrip("/").split("/")
            path = m.mutate_path(c, p.mutation, segments, at, other)
        elif p.category == "method":
            method = m.mutate_method(c, p.mutation, method)
        elif p.category == "query":
            path = f"{path}?{m.query(c, p.mutation, p.target, other)}"
        elif p.category == "header":
            headers = self._mutate_headers(c, p, headers, method, other)
        elif p.category == "body":
            m.mutate_body(c, p.mutation, body, p.target, other)
        raw = body.bytes()
        if raw and body.content_type is not None:
            headers.append(
                (m.name_case(c, "content-type") if c.chance(5) else "content-type", body.content_type)
            )
        headers += body.extra_headers
        if c.chance(15):
            headers.append(c.pick(NOISE_HEADERS))
        principal, certificate = svid.spiffe_id, svid.certificate
        if p.category == "source" and p.mutation.startswith("cert-"):
            certificate = self._certificate(c, p.mutation, svid.issued.cert_pem.decode())
        elif p.category == "source":
            principal = p.mutation
        ctx = RequestContext(method, path, _envoy(headers), raw, principal, certificate, self._id("req"))
        case = Case(kind, p.cert, f"{p.category}:{p.mutation}", ctx, facts, {}, entry, p.op, p.target)
        if ROUTES[p.op][2] != "read" or (p.category == "approval" and c.chance(50)):
            self._approve(c, p, case, svid.spiffe_id)
        return case

    def _certificate(self, c: m.Choices, mutation: str, pem: str) -> str:
        """``source.certificate`` other than Envoy's URL-encoded PEM of one leaf."""
        other = self.w.svids["audit"].issued.cert_pem.decode()
        value = {
            "cert-empty": "", "cert-truncated": quote(pem[: c.integer(1, len(pem) - 1)], safe=""),
            "cert-two": quote(pem + other, safe=""), "cert-raw-pem": pem,
            "cert-double-encoded": quote(quote(pem, safe=""), safe=""),
            "cert-garbage": c.pick(["%ZZ", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                    m.text(c, 40)]),
            "cert-with-ca": quote(pem + (self.w.root / "pki" / "ca.crt").read_text(), safe=""),
        }[mutation]  # fmt: skip
        return value

    def _new_task(self, c: m.Choices, p: Plan) -> tuple[TokenFacts, TaskEntry | None]:
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

    def _narrow(self, c: m.Choices, p: Plan, entry: TaskEntry) -> None:
        """A scope mutation of a reused task: a target or an operation it does not name."""
        if p.mutation in ("principal-missing", "case-variant"):
            variants = [p.target.upper(), p.target.capitalize(), *OTHERS]
            p.target = c.pick([v for v in variants if v not in entry.principals] or ["mallory"])
        else:
            p.op = c.pick([o for o in ROUTES if o not in entry.actions] or ["user.read"])
            if p.op.startswith("group.") and p.group is None:
                p.group = c.weighted(GROUPS)

    def _route(self, c: m.Choices, p: Plan) -> tuple[str, str, int]:
        method, template, _ = ROUTES[p.op]
        segments = template.lstrip("/").split("/")
        at = segments.index("{user}") if "{user}" in segments else segments.index("{group}")
        for i, seg in enumerate(segments):
            if seg in ("{user}", "{group}"):
                value = m.encode(p.target if seg == "{user}" else str(p.group))
                segments[i] = m.encode_one_letter(c, value) if c.chance(6) else value
        return method, "/" + "/".join(segments), at

    def _body(self, c: m.Choices, p: Plan) -> m.Body:
        shape = c.weighted(BODIES[p.op])
        if shape is None:
            return m.Body(None)
        values = {"user": p.target, "notify": c.chance(50), "reason": c.pick(REASONS),
                  "role": c.pick(["member", "viewer"])}  # fmt: skip
        return m.Body([(k, values[k]) for k in shape], ascii=c.chance(70))

    def _task_headers(self, c: m.Choices, p: Plan, token: str) -> list[tuple[str, str]]:
        names = [m.name_case(c, n) if c.chance(5) else n for n in ("x-agent-task-token", "x-agent-intent")]
        headers = [(names[1], p.intent)]
        if p.mutation == "garbage" and p.category == "token":
            head = token.partition(".")[0]
            headers.append((names[0], c.pick(GARBAGE).format(t=token, head=head)))
        elif p.mutation == "repeated" and p.category == "token":
            headers += [(names[0], token), (names[0], token)]
        elif not (p.mutation == "missing" and p.category == "token"):
            headers.append((names[0], token))
        return headers

    def _mutate_headers(
        self, c: m.Choices, p: Plan, headers: list[tuple[str, str]], method: str, other: str
    ) -> list[tuple[str, str]]:
        mutation, intent_header = p.mutation, ("x-agent-intent", p.intent)
        if mutation == "override":
            headers.append((c.pick(m.OVERRIDE_NAMES), c.pick([x for x in m.OTHER_METHODS if x != method])))
        elif mutation == "path-override":
            headers.append((c.pick(["x-original-url", "x-rewrite-url"]), f"/v1/users/{other}"))
        elif mutation == "injected":  # a valid variant: agent-authz overwrites or strips these
            headers.append((c.pick(m.INJECTED), c.pick([AUDIT_BOT, "dana", other])))
        elif mutation == "name-case":  # a valid variant
            headers = [(m.name_case(c, n), v) for n, v in headers]
        elif mutation == "approval-noise":  # a valid variant: empty entries are skipped
            headers.append(("x-approval-token", c.pick(["", ",", " , "])))
        elif mutation.startswith("intent-"):
            headers = [(n, v) for n, v in headers if n.lower() != "x-agent-intent"]
            wrong = c.pick([i for i in INTENTS if i != p.intent])
            value = {
                "intent-missing": None, "intent-other": wrong, "intent-repeated": f"{p.intent},{wrong}",
                "intent-case": p.intent.upper(), "intent-space": f" {p.intent}", "intent-empty": "",
                "intent-random": m.text(c),
            }[mutation]  # fmt: skip
            if mutation == "intent-repeated" and c.chance(50):
                headers += [intent_header, intent_header]
            elif value is not None:
                headers.append(("x-agent-intent", value))
        return headers

    # -- approvals ----------------------------------------------------------------------------

    def _approve(self, c: m.Choices, p: Plan, case: Case, agent: str) -> None:
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
        case.ctx = _with_header(case.ctx, "x-approval-token", separator.join(values))

    def _approval(self, c: m.Choices, base: ApprovalSpec, approver: str, mutation: str) -> TokenFacts:
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

    # -- other kinds --------------------------------------------------------------------------

    def _complete(self, c: m.Choices, entry: TaskEntry) -> Case:
        svid = self.w.svids[entry.cert]
        headers = [("x-agent-task-token", entry.facts.token), ("x-agent-intent", entry.intent)]
        ctx = RequestContext("POST", "/.well-known/agent-authz/task/complete", _envoy(headers), b"",
                             svid.spiffe_id, svid.certificate, self._id("req"))  # fmt: skip
        return Case("complete", entry.cert, "none", ctx, entry.facts, {}, entry)

    def _poll(self, c: m.Choices) -> Case:
        cert = c.weighted(CERTS)
        svid = self.w.svids[cert]
        request_id = f"apr-{next(self.counter):016x}"
        path = "/.well-known/agent-authz/approvals/" + request_id
        mutation = c.pick(["none", "none", "upper", "short", "suffix", "query", "dotdot", "method"])
        path = {
            "upper": path.upper(), "short": path[:-1], "suffix": path + "/x", "query": path + "?user=bob",
            "dotdot": path + "/../../../../v1/users/bob",
        }.get(mutation, path)  # fmt: skip
        method = "POST" if mutation == "method" else "GET"
        ctx = RequestContext(method, path, {}, b"", svid.spiffe_id, svid.certificate, self._id("req"))
        return Case("poll", cert, f"poll:{mutation}", ctx)


def _method_path(s: ApprovalSpec) -> tuple[str, str]:
    method, template, _ = ROUTES.get(s.operation, ("POST", "/x", ""))
    return method, template.replace("{user}", s.principal).replace("{group}", "staff")


def _replace(s: ApprovalSpec, **changes: Any) -> ApprovalSpec:
    return dataclasses.replace(s, **changes)


def _envoy(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Headers as Envoy hands them to ext_authz: names lower-cased, repeats joined with ','."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _with_header(ctx: RequestContext, name: str, value: str) -> RequestContext:
    headers = dict(ctx.headers)
    headers[name] = f"{headers[name]},{value}" if name in headers else value
    return RequestContext(
        ctx.method, ctx.path, headers, ctx.body, ctx.principal, ctx.certificate, ctx.request_id
    )
