"""A real stack (sample API, agent-authz, Envoy) over mTLS, shared by the e2e tests.

Every request a test sends through Envoy goes through ``Agent.request`` (or, for a stack this
process did not start, ``Ledger.send``), which gives it a marker and notes, from the answer, what
it must have done. When the stack stops, the sample API's record must show exactly that: no
marker of a request that was not answered by the API, each marker of one that was exactly once,
and nothing without a marker. ``test_marker_check.py`` keeps the test modules from sending any
other way.
"""

from __future__ import annotations

import contextlib
import enum
import json
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from authz.audit import is_decision
from authz.demo.client import AgentClient, Response
from authz.demo.sample_api import READING_HEADER
from authz.demo.stack import Stack
from authz.model import CREDENTIAL_HEADERS
from authz.tokens.task import IssueError

MARKER = "x-test-request"
DEFAULT_PRINCIPALS = ("alice", "bob", "carol")
#: Routed by Envoy to agent-authz itself (the approval API, completing a task), never to the API.
AUTHZ_PATHS = ("/.well-known/agent-authz/", "/agent_authz.")


class Default(enum.Enum):
    TOKEN = "the agent's default task token"


@dataclass
class Sent(Response):
    """An answer, with what was sent: the marker to look for in the API's record."""

    marker: str = ""
    agent: str = ""
    method: str = ""
    path: str = ""

    def __str__(self) -> str:
        return f"{self.agent} {self.method} {self.path} -> {self.status} {self.reason}".rstrip()


#: Headers to send; None: not sent (e.g. no ``content-type`` with a body).
Headers = Mapping[str, str | None]


class Client(Protocol):
    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: Headers | None = None,
        repeated: Sequence[tuple[str, str]] = (),
    ) -> Response: ...


def answered_by_the_api(path: str, resp: Response) -> bool:
    """Envoy passed the request on to the sample API: its answer names the API's reading (a 404
    for an unknown account too), or a 200 that neither agent-authz nor Envoy wrote.

    A wrong guess cannot pass silently: the record check fails on either side of it.
    """
    if READING_HEADER in resp.headers:
        return True
    return resp.status == 200 and not resp.reason and not path.startswith(AUTHZ_PATHS)


def read_record(path: Path) -> list[dict[str, Any]]:
    """The sample API's record; it creates the file at start-up, so a missing file fails."""
    assert path.is_file(), f"{path} is missing: the sample API did not record (its check would be vacuous)"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


class Ledger:
    """Every request sent through Envoy, by marker: kept from the API, or answered by it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kept: dict[str, str] = {}  # marker -> what was sent
        self.reached: dict[str, str] = {}

    def send(
        self,
        client: Client,
        agent: str,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: Headers | None = None,
        repeated: Sequence[tuple[str, str]] = (),
    ) -> Sent:
        names = {name.lower() for name in headers or {}} | {name.lower() for name, _ in repeated}
        assert MARKER not in names, "the marker is the ledger's to set"
        marker = uuid.uuid4().hex
        with self._lock:  # kept until the API answers: also a request that fails in the handshake
            self.kept[marker] = f"{agent} {method} {path}"
        resp = client.request(method, path, body, {**(headers or {}), MARKER: marker}, repeated)
        sent = Sent(resp.status, resp.headers, resp.body, marker, agent, method, path)
        if answered_by_the_api(path, resp):
            with self._lock:
                self.reached[marker] = self.kept.pop(marker)
        return sent

    def check(self, record: list[dict[str, Any]]) -> None:
        """The record shows each request as its answer said: kept ones never, answered ones once."""
        seen = Counter(r["headers"].get(MARKER) for r in record)
        leaked = [what for marker, what in self.kept.items() if seen[marker]]
        assert not leaked, f"{len(leaked)} request(s) not answered by the API reached it: {leaked}"
        lost = [(what, seen[marker]) for marker, what in self.reached.items() if seen[marker] != 1]
        assert not lost, f"answered by the API, but not recorded exactly once (times seen): {lost}"
        sent = self.kept.keys() | self.reached.keys()
        unknown = [f"{r['method']} {r['path']}" for r in record if r["headers"].get(MARKER) not in sent]
        assert not unknown, f"the API executed request(s) that no test sent through the ledger: {unknown}"


class Agent:
    """An agent calling through Envoy; by default with a read task on alice, bob and carol."""

    def __init__(self, ledger: Ledger, stack: Stack, name: str, client: Client) -> None:
        self._ledger, self._client = ledger, client
        self.stack, self.name = stack, name
        self._default_token: str | None = None

    def token(self, **kwargs: Any) -> str:
        return self.stack.task_token(self.name, **kwargs)

    @property
    def default_token(self) -> str:
        if self._default_token is None:
            try:
                self._default_token = self.token(principals=DEFAULT_PRINCIPALS)
            except IssueError:  # unregistered or suspended: the issuer refuses; borrow helpdesk-bot's
                self._default_token = self.stack.task_token("helpdesk-bot", principals=DEFAULT_PRINCIPALS)
        return self._default_token

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: Headers | None = None,
        *,
        token: str | None | Default = Default.TOKEN,
        intent: str | None = "account_support",
        repeated: Sequence[tuple[str, str]] = (),
    ) -> Sent:
        """``token=None`` and ``intent=None`` send no such header; ``repeated`` are extra header
        lines, also with a name already sent."""
        clash = {name.lower() for name in headers or {}} & {"x-agent-task-token", "x-agent-intent"}
        assert not clash, f"pass {clash} as token= or intent="
        own: dict[str, str | None] = {}
        if token is not None:
            own["x-agent-task-token"] = self.default_token if token is Default.TOKEN else token
        if intent:
            own["x-agent-intent"] = intent
        return self._ledger.send(
            self._client, self.name, method, path, body, {**own, **(headers or {})}, repeated
        )


class E2E:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.ledger = Ledger()

    def agent(
        self, name: str = "helpdesk-bot", *, cert: Path | None = None, key: Path | None = None
    ) -> Agent:
        return Agent(self.ledger, self.stack, name, self.stack.client(name, cert=cert, key=key))

    def agent_without_client_certificate(self) -> Agent:
        """A client that trusts Envoy but shows no certificate of its own (send ``token=None``)."""
        context = ssl.create_default_context(cafile=str(self.stack.pki.bundle))
        return Agent(
            self.ledger, self.stack, "no-certificate", AgentClient(self.stack.ports["envoy"], context)
        )

    def record(self) -> list[dict[str, Any]]:
        return read_record(self.stack.record_path)

    def _of_decision(self, decision_id: str) -> list[dict[str, Any]]:
        """Every audit record of a decision (its own, then its outcomes), from any process."""
        found = []
        for path in sorted(self.stack.workdir.glob("audit*.jsonl")):
            for line in path.read_text().splitlines():
                record = json.loads(line) if decision_id in line else {}
                if record.get("decision_id") == decision_id:
                    found.append(record)
        return found

    def audited(self, decision_id: str) -> dict[str, Any]:
        """The audit record of a decision, from any agent-authz process of the stack."""
        decisions = [r for r in self._of_decision(decision_id) if is_decision(r)]
        assert decisions, f"no audit record of decision {decision_id!r}"
        return decisions[0]

    def outcome(self, decision_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The outcome record of a decision (Envoy's access log reaches the audit within a second)."""
        deadline = time.monotonic() + timeout
        while not (found := [r for r in self._of_decision(decision_id) if r.get("record") == "outcome"]):
            assert time.monotonic() < deadline, f"no outcome record of decision {decision_id!r}"
            time.sleep(0.05)
        return found[0]

    def entries(self, sent: Sent) -> list[dict[str, Any]]:
        """What the API's record shows of ``sent`` (nothing, for a request kept from it)."""
        return [r for r in self.record() if r["headers"].get(MARKER) == sent.marker]

    def allowed_entry(self, sent: Sent) -> tuple[dict[str, Any], dict[str, Any]]:
        """The one record entry of ``sent`` and the audit record of its allow: it reached the API
        exactly once, with the headers agent-authz injected for that decision, and no credentials."""
        entries = self.entries(sent)
        assert len(entries) == 1, f"{sent}: reached the API {len(entries)} times"
        entry = entries[0]
        headers = entry["headers"]
        audited = self.audited(headers.get("x-authz-decision-id", ""))
        assert audited["decision"] == "allow", audited
        assert (entry["method"], entry["path"].partition("?")[0]) == (audited["method"], audited["path"])
        assert headers["x-agent-id"] == audited["agent"] == self.stack.pki.spiffe_id(sent.agent)
        assert headers["x-agent-owner"] == audited["owner"]
        assert headers.get("x-agent-task") == audited["task"]
        assert headers.get("x-approved-by") == (",".join(audited["approvers"]) or None)
        assert not set(CREDENTIAL_HEADERS) & set(headers), f"{sent}: credentials reached the API"
        return dict(entry), audited

    def reached_once(self, sent: Sent, *, approved_by: str | None = None) -> dict[str, Any]:
        """The one record entry of ``sent`` (see ``allowed_entry``); ``approved_by`` is the
        ``x-approved-by`` a change must carry."""
        entry, audited = self.allowed_entry(sent)
        if entry["method"] != "GET" or approved_by is not None:
            approvers = entry["headers"].get("x-approved-by")
            assert approvers == approved_by, f"{sent}: approvers {audited['approvers']}"
        return entry

    def acted_as_audited(self, sent: Sent) -> dict[str, Any]:
        """``sent`` reached the API once, and the API did what agent-authz decided on, as the
        API read the request: the method, path and operation, the principal as named
        (``target``) and the account it resolved to (``target_attributes.name``), the group's."""
        entry, audited = self.allowed_entry(sent)
        executed = entry["executed"]
        did = {k: executed[k] for k in ("method", "path", "operation", "user", "account", "group_account")}
        attributes, group = audited["target_attributes"] or {}, audited["group"] or {}
        decided = {
            "method": audited["method"],
            "path": audited["path"],
            "operation": audited["operation"],
            "user": audited["target"],
            "account": attributes.get("name") if attributes.get("exists") else None,
            "group_account": group.get("name") if group.get("exists") else None,
        }
        assert did == decided, f"{sent}: the API acted on {did}, agent-authz decided on {decided}"
        return entry

    def assert_denied_never_reached_upstream(self) -> None:
        """The record exists and shows what each answer said (``Ledger.check``); every change in
        it reached the API with approvers named by agent-authz."""
        record = self.record()
        self.ledger.check(record)
        unapproved = [r for r in record if r["method"] != "GET" and not r["headers"].get("x-approved-by")]
        assert not unapproved, f"changes executed without approval: {unapproved}"


@contextlib.contextmanager
def running_stack(
    root: Path,
    authz_processes: int = 1,
    prepare: Callable[[Stack], None] = lambda _: None,
    *,
    lenient: str = "strict",
    names: str = "exact",
    **options: bool,
) -> Iterator[E2E]:
    """A started stack (``prepare`` sees it before it starts); afterwards, its record is checked.
    ``lenient``: how the sample API reads requests; ``names``: agent-authz's ``[upstream] names``;
    ``options``: ``Stack.create``'s others (``protected``, ``rotating``)."""
    stack = Stack.create(root, authz_processes=authz_processes, lenient=lenient, names=names, **options)
    prepare(stack)
    env = E2E(stack.start())
    try:
        yield env
        env.assert_denied_never_reached_upstream()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    with running_stack(tmp_path_factory.mktemp("e2e-stack")) as env:
        yield env


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[E2E]:
    """A stack of its own, for tests that stop or break a part of it."""
    with running_stack(tmp_path / "stack") as env:
        yield env


@pytest.fixture
def two_authorizers(tmp_path: Path) -> Iterator[E2E]:
    """Envoy in front of two agent-authz processes sharing one state store (round robin)."""
    with running_stack(tmp_path / "stack", authz_processes=2) as env:
        yield env
