"""The oracle's facts: its own copy of what the config and the directory say (``Facts``, read
with ``tomllib``/``json``), what the generator says of each token it made (``TokenFacts``), the
request as Envoy describes it (``Request``), and how names are folded."""

from __future__ import annotations

import json
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

GATED_CLASSES = frozenset({"credential_change", "privilege_change", "key_export"})
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


def carried_task(r: Request, task: TokenFacts | None) -> TokenFacts | None:
    """The generator's facts of the task token this request carries (None: none it made)."""
    header = r.headers.get(TASK_HEADER)
    if task is None or header is None or header.strip() != task.token:
        return None
    return task


def fold(text: str) -> str:
    """Case- and compatibility-insensitive, format characters and outer spaces dropped."""
    once = unicodedata.normalize("NFKC", text)
    once = "".join(c for c in once if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", once.casefold()).strip()


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
