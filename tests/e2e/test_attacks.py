"""The attack corpus (``tests/attacks/``) end to end: every case through a real Envoy over mTLS.

One stack per reading of the sample API — strict, each lenient reading (``agent-authz
sample-api --lenient keys`` …) and all of them at once — with agent-authz's default
``[upstream] names = "exact"`` in front of each: agent-authz must refuse what a lenient
upstream could misread. One more stack puts ``names = "case-insensitive"`` in front of the
upstream that folds names, where ``CAROL`` is privileged carol and ``Svc-Payroll`` the machine
identity.

Each case checks the status and ``x-authz-reason``; a denied request must be absent from the
API's record, an allowed one must be in it once, and the API must have done exactly what
agent-authz's audit record names (method, path, operation, principal, account, group) as it
read the request. The ledger check of ``conftest.running_stack`` covers every request of every
stack. A case with ``known_failure`` (a hole found, not fixed yet) is ``xfail(strict=True)``:
it fails the run once fixed until the mark goes; if its request reaches the API, the stack's
ledger check fails as well.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from attacks import CONFIG_CASES, THROUGH_ENVOY, Case
from attacks.forge import Built, Forge
from attacks.model import HANDSHAKE, Expect
from attacks.table import README, in_readme, markdown
from conftest import E2E, MARKER, Agent, Sent, running_stack

from authz.demo.sample_api import Reading
from authz.demo.stack import Stack

RESET = "user.password.reset"

pytestmark = pytest.mark.e2e

#: (how the sample API reads requests, agent-authz's [upstream] names)
STACKS = [
    ("strict", "exact"),
    ("keys", "exact"),
    ("duplicates", "exact"),
    ("override", "exact"),
    ("names", "exact"),
    ("paths", "exact"),
    ("all", "exact"),
    ("names", "case-insensitive"),
]


@dataclass
class Target:
    e2e: E2E
    forge: Forge
    folding: bool  # agent-authz compares names case-insensitively


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    lenient, names = request.param
    root = tmp_path_factory.mktemp(f"attacks-{lenient}-{names}")
    with running_stack(root / "stack", lenient=lenient, names=names) as env:
        yield Target(env, Forge(env.stack, root / "forged"), folding=names != "exact")


def _cases() -> Iterator[object]:
    for case in THROUGH_ENVOY:
        marks = [pytest.mark.xfail(strict=True, reason=case.known_failure)] if case.known_failure else []
        yield pytest.param(case, id=case.id, marks=marks)


def _agent(env: E2E, built: Built) -> Agent:
    if built.no_cert:
        return env.agent_without_client_certificate()
    cert, key = built.cert or (None, None)
    return env.agent(built.agent, cert=cert, key=key)


def _send(agent: Agent, built: Built) -> Sent:
    return agent.request(
        built.method, built.path, built.body or None, built.headers,
        token=built.token, intent=built.intent, repeated=built.repeated,
    )  # fmt: skip


def _outcome(sent: Sent, env: E2E | None = None) -> str:
    """The answer, and for a request that reached the API, the decision that let it through."""
    text = f"{sent.status} {sent.reason or '-'}: {sent.body[:300]!r}"
    for entry in env.entries(sent) if env else ():
        decision = entry["headers"].get("x-authz-decision-id", "")
        try:
            audited = env.audited(decision) if env else {}
        except AssertionError as exc:
            audited = {"missing": str(exc)}
        text += f"\n  the API executed {entry['executed']}\n  decided by {decision!r}: {audited}"
    return text


@pytest.mark.parametrize("target", STACKS, indirect=True, scope="module", ids="-".join)
@pytest.mark.parametrize("case", list(_cases()))
def test_attack_through_envoy(target: Target, case: Case) -> None:
    env, expected = target.e2e, case.expected(target.folding)
    built = target.forge.build(case)
    agent = _agent(env, built)
    for step in case.before:
        if step == "revoke":
            assert built.token
            target.forge.revoke(built.token)
        else:  # "send": the same request once first, allowed
            first = _send(agent, built)
            assert (first.status, first.reason) == (200, ""), _outcome(first)
            env.acted_as_audited(first)
    try:
        sent = _send(agent, built)
    except (ssl.SSLError, ConnectionError) as exc:
        assert expected == HANDSHAKE, f"refused at the TLS handshake ({exc}); expected {expected}"
        return
    assert expected != HANDSHAKE, f"the handshake succeeded: {_outcome(sent)}"
    assert (sent.status, sent.reason) == (expected.status, expected.reason), _outcome(sent, env)
    if expected.allowed:
        env.acted_as_audited(sent)
        return
    assert not env.entries(sent), f"denied, yet the API executed it: {_outcome(sent, env)}"
    if sent.reason:
        assert sent.json()["error"] == sent.reason
    if expected.policy:
        assert sent.json()["policy"]["reason"] == expected.policy, _outcome(sent)


# -- the check that the API acted as audited (the readings themselves: tests/unit/demo/test_sample_api.py)
RESET_PATH = "/v1/users/alice/password/reset"


def test_acting_on_another_account_than_audited_fails(tmp_path: Path) -> None:
    """The check itself: an API that reset bob where agent-authz allowed alice's reset is caught."""
    agent_id, path = "spiffe://agents.example.org/agent/helpdesk-bot", RESET_PATH
    headers = {MARKER: "m", "x-authz-decision-id": "d", "x-agent-id": agent_id, "x-agent-owner": "o",
               "x-agent-task": "t", "x-approved-by": "dana"}  # fmt: skip
    audited = {"decision_id": "d", "decision": "allow", "method": "POST", "path": path, "agent": agent_id,
               "owner": "o", "task": "t", "approvers": ["dana"], "operation": RESET, "target": "alice",
               "target_attributes": {"name": "alice", "exists": True}, "group": None}  # fmt: skip
    (tmp_path / "audit.jsonl").write_text(json.dumps(audited) + "\n")
    stack = SimpleNamespace(record_path=tmp_path / "record.jsonl", workdir=tmp_path,
                            pki=SimpleNamespace(spiffe_id=lambda name: agent_id))  # fmt: skip
    env, sent = E2E(cast(Stack, stack)), Sent(200, {}, b"", "m", "helpdesk-bot", "POST", path)
    for user, account in (("bob", "bob"), ("alice", None), ("alice", "alice")):
        executed = {"method": "POST", "path": path, "operation": RESET, "user": user, "account": account,
                    "group": None, "group_account": None}  # fmt: skip
        entry = {"method": "POST", "path": path, "headers": headers, "executed": executed}
        stack.record_path.write_text(json.dumps(entry) + "\n")
        if account == "alice":
            env.acted_as_audited(sent)
        else:
            with pytest.raises(AssertionError, match="the API acted on"):
                env.acted_as_audited(sent)


def test_an_unknown_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown lenient reading"):
        Reading.parse("keys,case")
    assert str(Reading.parse("all")) == "keys,duplicates,override,names,paths"
    assert str(Reading.parse("")) == str(Reading.parse("strict")) == "strict"


# -- the route table: config-level cases, no Envoy ---------------------------------------------------
@pytest.fixture(scope="module")
def config_files(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return Stack.create(tmp_path_factory.mktemp("route-table"))  # the files only; starts nothing


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c.id for c in CONFIG_CASES])
def test_route_table_through_config_check(config_files: Stack, case: Case) -> None:
    assert case.config is not None
    config = config_files.config_path.with_name(f"{case.id}.toml")
    config.write_text(case.config(config_files.config_path.read_text()))
    result = subprocess.run(
        [sys.executable, "-m", "authz", "config", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    expected: Expect = case.expect
    assert result.returncode == expected.status, result.stderr
    assert expected.reason in result.stderr, result.stderr


# -- the corpus and the README ------------------------------------------------------------------------
def test_readme_attack_table_is_generated_from_the_corpus() -> None:
    assert in_readme(README.read_text()) == markdown(), "run: python -m tests.attacks.table --write"


def test_every_category_has_baselines_the_lenient_readings_execute() -> None:
    """Allowed requests per category, so that each reading of the API also acts on something."""
    allowed = {c.category for c in THROUGH_ENVOY if c.expect.allowed}
    assert allowed == {c.category for c in THROUGH_ENVOY}
