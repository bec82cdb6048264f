"""The independent oracle: what DESIGN §2 says must hold of every allow, judged from its own
copy of the facts and its own, lenient reading of the request.

It imports nothing of agent-authz. Its facts come from the files the authorizer is started
with, read here with ``tomllib``/``json`` (agents, trust bundle, route table, intent
catalogue, approvers and their classes, task and approval settings, the directory's people
and their names), and from the generator, which knows how it made each token (``TokenFacts``:
signed with the configured key and header, and the exact claims). Everything else —
the certificate's SAN and thumbprint, what a lenient upstream takes the request to mean, the
``req`` hash, which tasks are revoked, how many calls a task has made, which approvals are
spent — it computes or tracks itself.

The six checks (``judge``), for an allow:

1. the certificate is a registered, active agent's SVID from the trust bundle, and
   ``source.principal`` is its SPIFFE ID;
2. the task token is one the generator made valid, bound to exactly this certificate and
   agent, unexpired, not revoked, within its budget;
3. exactly one principal under every lenient reading (path parameter decoded several ways,
   any body or query key that folds onto a principal field, at any depth, first and last of
   duplicates), named by the task exactly, and the audit record's ``target``;
4. exactly one operation under every reading of method (overrides, ``_method``) and path
   (decoded before or after splitting, dot segments, ``;`` parameters, literal case), in the
   task's actions and permitted by its intent for this agent, and the audit's ``operation``;
5. ``x-agent-intent`` is the task's intent, exactly;
6. a gated change carries at least one approval, and every approval it carries is valid: made
   by the generator with the approver's own key, for this agent, task, operation, principal
   and ``req`` (computed here), unexpired, unspent, from an approver allowed for the class who
   is neither the agent, the on-behalf-of user nor the target under any of their names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeGuard
from urllib.parse import parse_qsl, unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

GATED_CLASSES = frozenset({"credential_change", "privilege_change", "key_export"})
_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")
METHOD_OVERRIDE_HEADERS = _OVERRIDES + tuple(h.replace("-", "_") for h in _OVERRIDES)
POLL = re.compile(r"/\.well-known/agent-authz/approvals/apr-[0-9a-f]{16}")
UNROUTED = "<no route>"
TASK_HEADER, INTENT_HEADER, APPROVAL_HEADER = "x-agent-task-token", "x-agent-intent", "x-approval-token"


@dataclass(frozen=True)
class TokenFacts:
    """A token as the generator made it: ``signed_ok`` says it is signed with the configured
    key of whoever ``iss`` names, under that key's ``kid``, ``alg`` EdDSA, the right ``typ`` and
    no other header member; ``claims`` are exactly the claims signed."""

    token: str
    signed_ok: bool
    claims: Mapping[str, Any]
    made_as: str = "valid"  # the generator's label (for reports only; never trusted)


class Request(Protocol):
    """The request as Envoy describes it (agent-authz's ``RequestContext`` fits)."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> bytes: ...

    @property
    def principal(self) -> str: ...

    @property
    def certificate(self) -> str: ...


def fold(text: str) -> str:
    """Case- and compatibility-insensitive, format characters and outer spaces dropped."""
    once = unicodedata.normalize("NFKC", text)
    once = "".join(c for c in once if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", once.casefold()).strip()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def request_hash(method: str, path: str, body: bytes) -> str:
    """DESIGN §3.2 ``req``: base64url(SHA-256(method ⏎ path ⏎ base64url(SHA-256(body))))."""
    inner = b64url(hashlib.sha256(body).digest())
    return b64url(hashlib.sha256(f"{method}\n{path}\n{inner}".encode()).digest())


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]
    operation: str
    op_class: str
    path_param: str | None
    body_field: str | None
    approval: bool

    @property
    def gated(self) -> bool:
        return self.approval or self.op_class in GATED_CLASSES

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params = {}
        for template, seg in zip(self.segments, segments, strict=True):
            if template.startswith("{"):
                params[template[1:-1]] = seg
            elif fold(template) != fold(seg):
                return None
        return params


@dataclass(frozen=True)
class Facts:
    """The oracle's own copy of what the config and the directory say."""

    trust_domains: frozenset[str]
    bundle: tuple[x509.Certificate, ...]
    agents: Mapping[str, str]  # SPIFFE ID → status
    routes: tuple[Route, ...]
    intents: Mapping[str, tuple[frozenset[str], frozenset[str]]]  # id → (operations, agents)
    approvers: Mapping[str, tuple[str, frozenset[str]]]  # id → (directory identity, classes)
    issuer: str
    audience: str
    leeway: int
    task_max_ttl: int
    max_delegation: int
    approval_max_ttl: int
    people: tuple[frozenset[str], ...]  # each directory entry's folded names and address local parts

    @classmethod
    def load(cls, config_path: Path) -> Facts:
        folder = config_path.parent
        top = tomllib.loads(config_path.read_text())
        bundle: list[x509.Certificate] = []
        for domain in top["trust_domains"]:
            bundle += x509.load_pem_x509_certificates((folder / domain["bundle"]).read_bytes())
        routes = tuple(
            Route(
                r["method"],
                tuple(r["path"].strip("/").split("/")),
                r["operation"],
                r["class"],
                r.get("principal", {}).get("path_param"),
                r.get("principal", {}).get("body_field"),
                r.get("approval", False),
            )
            for r in top["routes"]
        )
        tasks, approvals = top["tasks"], top.get("approvals", {})
        directory = json.loads((folder / top["directory"]["path"]).read_text())
        people = tuple(
            _names_of({name, *entry.get("aliases", [])}) for name, entry in directory["principals"].items()
        )
        return cls(
            trust_domains=frozenset(d["name"] for d in top["trust_domains"]),
            bundle=tuple(bundle),
            agents={a["spiffe_id"]: a["status"] for a in top["agents"]},
            routes=routes,
            intents={
                i["id"]: (frozenset(i["operations"]), frozenset(i["agents"])) for i in top.get("intents", [])
            },
            approvers={
                a["id"]: (a.get("principal", a["id"]), frozenset(a["classes"]))
                for a in approvals.get("approvers", [])
            },
            issuer=tasks["issuer"],
            audience=tasks["audience"],
            leeway=tasks.get("leeway", 30),
            task_max_ttl=tasks.get("max_ttl", 900),
            max_delegation=tasks.get("max_delegation_depth", 2),
            approval_max_ttl=approvals.get("max_ttl", 900),
            people=people,
        )

    def identity(self, name: str) -> frozenset[str]:
        """Every name the holder of ``name`` may answer to: the most conservative reading."""
        names = set(_names_of({name}))
        for person in self.people:
            if names & person:
                names |= person
        return frozenset(names)


def _names_of(names: set[str]) -> frozenset[str]:
    folded = {fold(n) for n in names}
    folded |= {fold(n.rpartition("@")[0]) for n in names if "@" in n.strip("@")}
    return frozenset(folded)


# -- the lenient reading ---------------------------------------------------------------------


class _Object(list[tuple[str, Any]]):
    """A JSON object as the list of its members, duplicates kept in order."""


def _texts(body: bytes) -> Iterator[str]:
    """Every way a lenient reader might decode the body."""
    for encoding in ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"):
        try:
            yield body.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" and b"\x00" not in body:
            return


def _json_members(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, _Object):
        for key, member in value:
            yield key, member
            yield from _json_members(member)
    elif isinstance(value, list):
        for item in value:
            yield from _json_members(item)


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None and not isinstance(value, _Object):
        yield json.dumps(value)


def _body_members(body: bytes, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(key, value) of every member a lenient reader could find: JSON at any depth, form fields."""
    if not body:
        return []
    members: list[tuple[str, str]] = []
    form_declared = "form" in headers.get("content-type", "form").lower()
    for text in _texts(body):
        try:
            document = json.loads(text, object_pairs_hook=_Object, parse_constant=str, strict=False)
        except (ValueError, RecursionError):
            document = None
        if document is not None:
            members += [(k, s) for k, v in _json_members(document) for s in _scalars(v)]
        if document is None or form_declared:
            members += _query_members(text)
    return members


def _query_members(query: str) -> list[tuple[str, str]]:
    members = []
    for separator in ("&", ";"):
        for name, value in parse_qsl(query, keep_blank_values=True, separator=separator):
            members.append((name, value))
            members += [(piece, value) for piece in re.split(r"[\[\].]", name) if piece and piece != name]
    return members


def _path_readings(path: str) -> set[tuple[str, ...]]:
    """The segments a lenient server could route on: decoded per segment or before splitting
    (once or twice), backslashes as slashes, ``;`` parameters dropped, dot segments resolved."""
    raw = path.partition("?")[0].partition("#")[0]
    splits: list[list[str]] = [[unquote(s, errors="replace") for s in raw.split("/")]]
    once = unquote(raw, errors="replace")
    for text in (once, unquote(once, errors="replace")):
        splits += [text.split("/"), text.replace("\\", "/").split("/")]
    readings = set()
    for segments in splits:
        for plain in (segments, [s.partition(";")[0] for s in segments]):
            readings.add(tuple(plain[1:] if plain and plain[0] == "" else plain))
            resolved: list[str] = []
            for s in plain:
                if s == "..":
                    resolved = resolved[:-1]
                elif s not in ("", "."):
                    resolved.append(s)
            readings.add(tuple(resolved))
    return readings


@dataclass(frozen=True)
class Reading:
    operations: frozenset[str]  # UNROUTED among them if some reading matches no route
    principals: frozenset[str]
    routes: tuple[Route, ...]


def read_request(facts: Facts, r: Request) -> Reading:
    query = r.path.partition("?")[2].partition("#")[0]
    query_members = _query_members(query)
    body_members = _body_members(r.body, r.headers)
    methods = {r.method, r.method.upper()}
    for name in METHOD_OVERRIDE_HEADERS:
        if (value := r.headers.get(name)) is not None:
            methods |= {v.strip().upper() for v in value.split(",")}
    methods |= {v.strip().upper() for k, v in query_members + body_members if fold(k) == "_method"}
    if "HEAD" in methods:
        methods.add("GET")
    operations, principals, routes = set(), set(), []
    for segments in _path_readings(r.path):
        for method in methods:
            matched = [
                (rt, p)
                for rt in facts.routes
                if rt.method == method and (p := rt.match(segments)) is not None
            ]
            if not matched:
                operations.add(UNROUTED)
            for route, params in matched:
                operations.add(route.operation)
                routes.append(route)
                if route.path_param is not None:
                    principals.add(params[route.path_param])
    fields = {fold(f) for rt in routes for f in (rt.path_param, rt.body_field) if f}
    principals |= {v for k, v in query_members + body_members if fold(k) in fields}
    return Reading(frozenset(operations), frozenset(principals), tuple(dict.fromkeys(routes)))


# -- the judge -------------------------------------------------------------------------------


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _names(value: Any) -> list[str] | None:
    ok = isinstance(value, list) and value and all(_is_text(v) for v in value)
    return value if ok else None


def _details(claims: Mapping[str, Any]) -> tuple[list[str], list[str]] | None:
    """(principals, actions) of the one ``agent_task`` entry; None unless it is well formed."""
    details = claims.get("authorization_details")
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], Mapping):
        return None
    entry = details[0]
    principals, actions = _names(entry.get("principals")), _names(entry.get("actions"))
    if entry.get("type") != "agent_task" or principals is None or actions is None:
        return None
    return principals, actions


def _actors(act: Any) -> list[str] | None:
    """The ``act`` chain, outermost first; None unless each link is ``{"sub": str, "act"?: …}``."""
    actors: list[str] = []
    while act is not None:
        if not isinstance(act, Mapping) or set(act) - {"sub", "act"} or not _is_text(act.get("sub")):
            return None
        actors.append(act["sub"])
        act = act.get("act")
    return actors


@dataclass(frozen=True)
class Peer:
    """The oracle's own reading of ``source.certificate``."""

    spiffe_id: str | None
    thumbprint: str | None
    problem: str | None


@dataclass
class Oracle:
    facts: Facts
    now: int
    consumed: set[str] = field(default_factory=set)  # approval jtis spent by allows
    calls: dict[str, int] = field(default_factory=dict)  # allows per task
    revoked: set[str] = field(default_factory=set)  # tasks completed or intent-changed
    _peers: dict[str, Peer] = field(default_factory=dict)

    def peer(self, certificate: str) -> Peer:
        if certificate not in self._peers:
            self._peers[certificate] = self._read_peer(certificate)
        return self._peers[certificate]

    def _read_peer(self, certificate: str) -> Peer:
        try:
            certs = x509.load_pem_x509_certificates(unquote(certificate).encode())
        except ValueError:
            return Peer(None, None, "not a PEM certificate")
        leaf = certs[0]
        thumb = b64url(hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).digest())
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return Peer(None, thumb, "no subject alternative name")
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        if len(certs) != 1 or len(uris) != 1:
            return Peer(None, thumb, f"{len(certs)} certificates, {len(uris)} URI SANs")
        spiffe_id = uris[0]
        if spiffe_id.partition("spiffe://")[2].partition("/")[0] not in self.facts.trust_domains:
            return Peer(None, thumb, f"{spiffe_id} is in no trusted domain")
        try:
            if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                return Peer(None, thumb, "the leaf is a CA")
        except x509.ExtensionNotFound:
            pass
        if not self._chains(leaf):
            return Peer(None, thumb, "not issued by the trust bundle, or out of its validity")
        return Peer(spiffe_id, thumb, None)

    def _chains(self, leaf: x509.Certificate) -> bool:
        for ca in self.facts.bundle:
            key = ca.public_key()
            if ca.subject != leaf.issuer or not isinstance(key, ec.EllipticCurvePublicKey):
                continue
            try:
                assert leaf.signature_hash_algorithm is not None
                key.verify(
                    leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm)
                )
            except InvalidSignature:
                continue
            return all(
                c.not_valid_before_utc.timestamp() <= self.now <= c.not_valid_after_utc.timestamp()
                for c in (ca, leaf)
            )
        return False

    def task_of(self, r: Request, task: TokenFacts | None) -> TokenFacts | None:
        """The generator's facts of the task token this request carries (None: none it made)."""
        header = r.headers.get(TASK_HEADER)
        if task is None or header is None or header.strip() != task.token:
            return None
        return task

    def judge(
        self,
        r: Request,
        task: TokenFacts | None,
        approvals: Mapping[str, TokenFacts],
        record: Mapping[str, Any] | None,
    ) -> list[str]:
        """Every invariant this allow breaks (empty: a rightful allow)."""
        found: list[str] = []
        peer = self.peer(r.certificate)
        # 1. identity
        if peer.problem or peer.spiffe_id is None:
            found.append(f"1 identity: the certificate is no valid SVID ({peer.problem})")
        elif self.facts.agents.get(peer.spiffe_id) != "active":
            found.append(f"1 identity: {peer.spiffe_id} is not a registered, active agent")
        elif r.principal != peer.spiffe_id:
            found.append(f"1 identity: source.principal {r.principal!r} is not the SAN {peer.spiffe_id}")
        if r.method == "GET" and POLL.fullmatch(r.path):
            return found  # the agent-facing approval API: identity is all it takes
        if record is None or record.get("decision") != "allow":
            found.append("10 record: no audit record of this allow")
            record = {}
        reading = read_request(self.facts, r)
        found += self._task(r, peer, self.task_of(r, task))
        claims = task.claims if task is not None and self.task_of(r, task) else {}
        principals, actions = _details(claims) or ([], [])
        # 3. principal
        if len(reading.principals) != 1:
            found.append(
                f"3 principal: a lenient upstream reads {sorted(reading.principals)}, not exactly one"
            )
        principal = next(iter(reading.principals), None)
        if principal is not None and principal not in principals:
            found.append(f"3 principal: {principal!r} is not among the task's principals {principals}")
        if principal is not None and record.get("target") != principal:
            found.append(f"3 principal: the audit's target is {record.get('target')!r}, not {principal!r}")
        # 4. operation
        if len(reading.operations) != 1 or UNROUTED in reading.operations:
            found.append(f"4 operation: a lenient upstream performs {sorted(reading.operations)}")
        operation = next(iter(reading.operations - {UNROUTED}), None)
        intent = claims.get("intent")
        if operation is not None:
            if operation not in actions:
                found.append(f"4 operation: {operation} is not among the task's actions {actions}")
            ops, agents = self.facts.intents.get(str(intent), (frozenset(), frozenset()))
            if operation not in ops or peer.spiffe_id not in agents:
                found.append(f"4 operation: intent {intent!r} does not permit {operation} for this agent")
            if record.get("operation") != operation:
                found.append(f"4 operation: the audit's operation is {record.get('operation')!r}")
        # 5. intent
        if claims and r.headers.get(INTENT_HEADER) != intent:
            found.append(f"5 intent: x-agent-intent {r.headers.get(INTENT_HEADER)!r} is not {intent!r}")
        # 6. approvals
        route = reading.routes[0] if len(reading.routes) == 1 else None
        if route is not None and route.gated and principal is not None and operation is not None:
            found += self._approvals(r, peer, claims, approvals, route, principal)
        return found

    def _task(self, r: Request, peer: Peer, task: TokenFacts | None) -> list[str]:
        """2. the task token: made valid, for this certificate and agent, live, within budget."""
        if task is None:
            return ["2 task: the request carries no task token the generator made"]
        c, f, found = task.claims, self.facts, []
        if not task.signed_ok:
            found.append(f"2 task: the token is not signed as a task token ({task.made_as})")
        iat, nbf, exp = c.get("iat"), c.get("nbf"), c.get("exp")
        if c.get("iss") != f.issuer or c.get("aud") != f.audience:
            found.append(f"2 task: iss/aud {c.get('iss')!r}/{c.get('aud')!r}")
        if not all(_is_int(t) for t in (iat, nbf, exp)):
            found.append(f"2 task: iat/nbf/exp {iat!r}/{nbf!r}/{exp!r} are not all integers")
        else:
            assert isinstance(iat, int) and isinstance(nbf, int) and isinstance(exp, int)
            if self.now > exp + f.leeway or self.now + f.leeway < max(iat, nbf) or exp <= nbf:
                found.append(f"2 task: not valid now (iat {iat}, nbf {nbf}, exp {exp}, now {self.now})")
            if exp - iat > f.task_max_ttl:
                found.append(f"2 task: lives {exp - iat} s, more than {f.task_max_ttl}")
        if (c.get("cnf") or {}).get("x5t#S256") != peer.thumbprint:
            found.append("2 task: bound (cnf) to another certificate")
        actors = _actors(c.get("act"))
        if actors is None:
            found.append(f"2 task: act {c.get('act')!r} is not a delegation chain")
            actors = []
        if not _is_text(c.get("sub")) or (actors[0] if actors else c.get("sub")) != peer.spiffe_id:
            found.append(f"2 task: its actor is {actors[0] if actors else c.get('sub')!r}")
        if len(actors) > f.max_delegation:
            found.append(f"2 task: delegation chain of {len(actors)}")
        if _details(c) is None:
            found.append(
                "2 task: authorization_details is not one agent_task entry with actions and principals"
            )
        if not _is_text(c.get("intent")):
            found.append(f"2 task: intent {c.get('intent')!r} is not a name")
        task_id = c.get("jti")
        if not _is_text(task_id):
            found.append(f"2 task: jti {task_id!r} is not a task id")
        if task_id in self.revoked:
            found.append(f"2 task: task {task_id} was revoked (completed or intent changed)")
        budget = c.get("budget")
        if budget is not None:
            most = budget.get("max_calls") if isinstance(budget, Mapping) else None
            if not _is_int(most) or most < 1:
                found.append(f"2 task: budget {budget!r} is not a call budget")
            elif self.calls.get(str(task_id), 0) >= most:
                found.append(f"2 task: budget of {most} calls already spent")
        return found

    def _approvals(
        self,
        r: Request,
        peer: Peer,
        claims: Mapping[str, Any],
        approvals: Mapping[str, TokenFacts],
        route: Route,
        principal: str,
    ) -> list[str]:
        """6. a gated change: at least one approval, and each one valid for exactly this request."""
        tokens = [t.strip() for t in r.headers.get(APPROVAL_HEADER, "").split(",") if t.strip()]
        if not tokens:
            return [f"6 approval: {route.operation} ({route.op_class}) allowed without approval"]
        found = []
        if len(set(tokens)) != len(tokens):
            found.append("6 approval: the same approval twice")
        req = request_hash(r.method, r.path, r.body)
        obo = claims.get("sub") if claims.get("act") else None
        for number, token in enumerate(tokens, 1):
            facts = approvals.get(token)
            if facts is None:
                found.append(f"6 approval {number}: not an approval the generator made")
                continue
            for problem in self._approval(facts, peer, claims, route, principal, req, obo):
                found.append(f"6 approval {number} ({facts.made_as}): {problem}")
        return found

    def _approval(
        self,
        a: TokenFacts,
        peer: Peer,
        task: Mapping[str, Any],
        route: Route,
        principal: str,
        req: str,
        obo: str | None,
    ) -> Iterator[str]:
        c, f = a.claims, self.facts
        if not a.signed_ok:
            yield "not signed with its approver's own key as an approval"
        bound = {"sub": peer.spiffe_id, "aud": f.audience, "task": task.get("jti"),
                 "op": route.operation, "principal": principal, "req": req}  # fmt: skip
        for claim, expected in bound.items():
            if c.get(claim) != expected:
                yield f"bound to {claim} {c.get(claim)!r}, not {expected!r}"
        iat, exp = c.get("iat"), c.get("exp")
        if not _is_text(c.get("jti")):
            yield f"jti {c.get('jti')!r} is not an approval id"
        if not _is_int(iat) or not _is_int(exp):
            yield f"iat/exp {iat!r}/{exp!r} are not integers"
        elif self.now > exp + f.leeway or self.now + f.leeway < iat or exp - iat > f.approval_max_ttl:
            yield f"not valid now (iat {iat}, exp {exp}, now {self.now})"
        if c.get("jti") in self.consumed:
            yield f"already spent by an earlier allow ({c.get('jti')})"
        approver = f.approvers.get(str(c.get("iss")))
        if approver is None:
            yield f"{c.get('iss')!r} is not a configured approver"
            return
        identity, classes = approver
        if route.op_class not in classes:
            yield f"{c.get('iss')} may not approve {route.op_class}"
        own = f.identity(identity) | {fold(str(c.get("iss")))}
        for role, name in (
            ("the agent", peer.spiffe_id),
            ("the on-behalf-of user", obo),
            ("the target", principal),
        ):
            if name is not None and own & f.identity(str(name)):
                yield f"{c.get('iss')} is {role} ({name})"

    def observe(
        self,
        r: Request,
        task: TokenFacts | None,
        approvals: Mapping[str, TokenFacts],
        allowed: bool,
        reason: str,
    ) -> None:
        """Track what an outcome changes: calls charged and approvals spent by an allow, tasks
        revoked by a completion or a changed intent (as the authorizer reports them)."""
        carried = self.task_of(r, task)
        task_id = str(carried.claims.get("jti")) if carried is not None else None
        if allowed:
            if task_id is not None:
                self.calls[task_id] = self.calls.get(task_id, 0) + 1
            if any(rt.op_class != "read" for rt in read_request(self.facts, r).routes):
                for token in r.headers.get(APPROVAL_HEADER, "").split(","):
                    if (a := approvals.get(token.strip())) is not None:
                        self.consumed.add(str(a.claims.get("jti")))
        elif task_id is not None and carried is not None:
            declared = r.headers.get(INTENT_HEADER)
            if reason == "task_completed" or (
                reason == "intent_mismatch" and declared != carried.claims.get("intent")
            ):
                self.revoked.add(task_id)
