"""A request under a task, fresh or reused: its route, body and headers, the one mutation its
plan names (of the source, token, scope, path, method, query, headers or body), and its
approvals."""

from __future__ import annotations

from urllib.parse import quote

from authz.model import RequestContext
from fuzz import mutations as m
from fuzz.choices import Choices
from fuzz.grammar.cases import Case, Ids, Plan, TaskEntry, envoy_headers
from fuzz.grammar.plans import narrow, plan_request
from fuzz.grammar.tables import BODIES, GARBAGE, INTENTS, NOISE_HEADERS, OTHERS, REASONS, ROUTES
from fuzz.grammar.token_recipes import TokenMaker
from fuzz.world import AUDIT_BOT, FuzzWorld


class RequestMaker:
    """Builds the request of a case under a task (``task_case``)."""

    def __init__(self, world: FuzzWorld, ids: Ids) -> None:
        self.w, self._id = world, ids
        self.tokens = TokenMaker(world, ids)

    def task_case(self, c: Choices, kind: str, entry: TaskEntry | None) -> Case:
        p = plan_request(c, entry)
        svid = self.w.svids[p.cert]
        if entry is None:
            facts, entry = self.tokens.new_task(c, p)
        else:
            facts = entry.facts
            if p.category == "scope":
                narrow(c, p, entry)
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
        ctx = RequestContext(
            method, path, envoy_headers(headers), raw, principal, certificate, self._id("req")
        )
        case = Case(kind, p.cert, f"{p.category}:{p.mutation}", ctx, facts, {}, entry, p.op, p.target)
        if ROUTES[p.op][2] != "read" or (p.category == "approval" and c.chance(50)):
            self.tokens.approve(c, p, case, svid.spiffe_id)
        return case

    def _certificate(self, c: Choices, mutation: str, pem: str) -> str:
        """``source.certificate`` other than Envoy's URL-encoded PEM of one leaf. (The cut of a
        truncated one is drawn from a fixed range: a PEM's length varies between runs with its
        signature's, and the draws must not, or one seed would give two runs.)"""
        other = self.w.svids["audit"].issued.cert_pem.decode()
        value = {
            "cert-empty": "", "cert-truncated": quote(pem[: min(c.integer(1, 799), len(pem) - 1)], safe=""),
            "cert-two": quote(pem + other, safe=""), "cert-raw-pem": pem,
            "cert-double-encoded": quote(quote(pem, safe=""), safe=""),
            "cert-garbage": c.pick(["%ZZ", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                    m.text(c, 40)]),
            "cert-with-ca": quote(pem + (self.w.root / "pki" / "ca.crt").read_text(), safe=""),
        }[mutation]  # fmt: skip
        return value

    def _route(self, c: Choices, p: Plan) -> tuple[str, str, int]:
        method, template, _ = ROUTES[p.op]
        segments = template.lstrip("/").split("/")
        at = segments.index("{user}") if "{user}" in segments else segments.index("{group}")
        for i, seg in enumerate(segments):
            if seg in ("{user}", "{group}"):
                value = m.encode(p.target if seg == "{user}" else str(p.group))
                segments[i] = m.encode_one_letter(c, value) if c.chance(6) else value
        return method, "/" + "/".join(segments), at

    def _body(self, c: Choices, p: Plan) -> m.Body:
        shape = c.weighted(BODIES[p.op])
        if shape is None:
            return m.Body(None)
        values = {"user": p.target, "notify": c.chance(50), "reason": c.pick(REASONS),
                  "role": c.pick(["member", "viewer"])}  # fmt: skip
        return m.Body([(k, values[k]) for k in shape], ascii=c.chance(70))

    def _task_headers(self, c: Choices, p: Plan, token: str) -> list[tuple[str, str]]:
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
        self, c: Choices, p: Plan, headers: list[tuple[str, str]], method: str, other: str
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
