"""A real stack (sample API, agent-authz, Envoy) over mTLS, shared by the e2e tests.

Every request a test sends through ``Agent`` carries a marker; when the session ends, no marker
of a request that was not allowed may appear in the sample API's record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authz.demo.stack import Response, Stack
from authz.tasks import IssueError

MARKER = "x-test-request"


DEFAULT_PRINCIPALS = ("alice", "bob", "carol")


class Agent:
    """An agent calling through Envoy; by default with a read task on alice, bob and carol."""

    def __init__(
        self, stack: Stack, name: str, denied: list[str], cert: Path | None = None, key: Path | None = None
    ) -> None:
        self.stack, self.name = stack, name
        self.client = stack.client(name, cert=cert, key=key)
        self.denied = denied
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
        headers: dict[str, str] | None = None,
        *,
        token: str | None = None,
        intent: str | None = "account_support",
    ) -> Response:
        marker = uuid.uuid4().hex
        all_headers = {"x-agent-task-token": token or self.default_token, MARKER: marker}
        if intent:
            all_headers["x-agent-intent"] = intent
        resp = self.client.request(method, path, body, {**all_headers, **(headers or {})})
        if resp.status != 200 or resp.reason:  # answered by Envoy or agent-authz, not the API
            self.denied.append(marker)
        return resp


class E2E:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.denied: list[str] = []

    def agent(
        self, name: str = "helpdesk-bot", *, cert: Path | None = None, key: Path | None = None
    ) -> Agent:
        return Agent(self.stack, name, self.denied, cert, key)

    def upstream_saw(self, marker_headers: dict[str, str]) -> list[dict[str, Any]]:
        return [r for r in self.stack.upstream_record() if r["headers"].get(MARKER) in marker_headers]

    def last_upstream(self) -> dict[str, Any]:
        return self.stack.upstream_record()[-1]

    def assert_denied_never_reached_upstream(self) -> None:
        record = self.stack.upstream_record()
        seen = {r["headers"].get(MARKER) for r in record}
        leaked = [m for m in self.denied if m in seen]
        assert not leaked, f"{len(leaked)} denied request(s) reached the sample API"
        # Every call that changes something reached the API with approvers named by agent-authz.
        unapproved = [r for r in record if r["method"] != "GET" and not r["headers"].get("x-approved-by")]
        assert not unapproved, f"changes executed without approval: {unapproved}"


def running_stack(root: Path, authz_processes: int = 1) -> Iterator[E2E]:
    """A started stack; afterwards, no denied request may have reached the sample API."""
    stack = Stack.create(root, authz_processes=authz_processes).start()
    env = E2E(stack)
    try:
        yield env
        env.assert_denied_never_reached_upstream()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    yield from running_stack(tmp_path_factory.mktemp("e2e-stack"))


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[E2E]:
    """A stack of its own, for tests that stop or break a part of it."""
    yield from running_stack(tmp_path / "stack")


@pytest.fixture
def two_authorizers(tmp_path: Path) -> Iterator[E2E]:
    """Envoy in front of two agent-authz processes sharing one state store (round robin)."""
    yield from running_stack(tmp_path / "stack", authz_processes=2)
