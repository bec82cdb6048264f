"""The oracle can fail: for allows that break one invariant each, it names the invariant.

(A fuzzer whose oracle never objects proves nothing; ``make fuzz`` with a check of the
authorizer broken on purpose shows the same end to end — see tests/fuzz/README.md.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from authz.model import RequestContext
from authz.tokens.approval import request_hash as authz_request_hash
from fuzz.oracle import Facts, Oracle, TokenFacts, read_request, request_hash
from fuzz.signing import ApprovalSpec, TaskSpec, sign_approval, sign_task, thumbprint
from fuzz.world import FuzzWorld, build_world

RESET = "/v1/users/alice/password/reset"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    w = build_world(Path(tmp_path_factory.mktemp("oracle")))
    yield w
    w.close()


def _task(
    world: FuzzWorld, intent: str, actions: tuple[str, ...], cert: str = "helpdesk", **kw: Any
) -> TokenFacts:
    """A valid task token for helpdesk-bot (principals: alice unless ``principals=``), bound to
    ``cert``'s certificate."""
    spec = TaskSpec(
        agent=world.svids["helpdesk"].spiffe_id,
        thumbprint=thumbprint(world.svids[cert].issued.cert.public_bytes(Encoding.DER)),
        task_id="task-oracle",
        intent=intent,
        principals=kw.pop("principals", ("alice",)),
        actions=actions,
        **kw,
    )
    return sign_task(world, spec, "valid", other="", pick=0)


def _request(
    world: FuzzWorld, task: TokenFacts, method: str, path: str, body: bytes = b"", **headers: str
) -> RequestContext:
    svid = world.svids["helpdesk"]
    all_headers = {"x-agent-task-token": task.token, "x-agent-intent": str(task.claims["intent"])}
    if body:
        all_headers["content-type"] = "application/json"
    all_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return RequestContext(method, path, all_headers, body, svid.spiffe_id, svid.certificate)


def _judge(
    world: FuzzWorld,
    r: RequestContext,
    task: TokenFacts,
    approvals: Mapping[str, TokenFacts] | None = None,
    target: str = "alice",
    operation: str = "user.read",
) -> list[str]:
    record = {"decision": "allow", "target": target, "operation": operation}
    return Oracle(Facts.load(world.config_path), world.now).judge(r, task, approvals or {}, record)


def _approval(world: FuzzWorld, approver: str, r: RequestContext, principal: str = "alice") -> TokenFacts:
    spec = ApprovalSpec(
        approver, r.principal, "task-oracle", "user.password.reset", principal,
        request_hash(r.method, r.path, r.body), f"apv-{approver}-{principal}",
    )  # fmt: skip
    return sign_approval(world, spec)


def test_a_rightful_read_passes(world: FuzzWorld) -> None:
    task = _task(world, "account_support", ("user.read",))
    assert _judge(world, _request(world, task, "GET", "/v1/users/alice"), task) == []


def test_a_rightful_approved_reset_passes(world: FuzzWorld) -> None:
    task = _task(world, "credential_recovery", ("user.password.reset",))
    r = _request(world, task, "POST", RESET, b'{"user":"alice"}')
    a = _approval(world, "dana", r)
    r = _request(world, task, "POST", RESET, b'{"user":"alice"}', x_approval_token=a.token)
    assert _judge(world, r, task, {a.token: a}, operation="user.password.reset") == []


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "invariant"),
    [
        ("POST", RESET, b'{"user":"alice","User":"bob"}', {}, "3 principal"),
        ("POST", RESET, '{"user":"alice","data":{"uſer":"bob"}}'.encode(), {}, "3 principal"),
        ("POST", RESET, b'{"user":"alice","user":"bob"}', {}, "3 principal"),
        ("GET", "/v1/users/bob%2F..%2Falice", b"", {}, "3 principal"),
        ("GET", "/v1/users/alice?user=bob", b"", {}, "3 principal"),
        ("GET", "/v1/users/alice", b"", {"x_http_method_override": "DELETE"}, "4 operation"),
        ("GET", "/v1/users/alice?_method=POST", b"", {}, "4 operation"),
        ("POST", "/v1/users/alice", b"", {}, "4 operation"),
        ("GET", "/v1/users/alice", b"", {"x_agent_intent": "credential_recovery"}, "5 intent"),
    ],
)
def test_an_ambiguous_or_out_of_scope_allow_is_wrongful(
    world: FuzzWorld, method: str, path: str, body: bytes, headers: dict[str, str], invariant: str
) -> None:
    task = _task(world, "account_support", ("user.read",))
    found = _judge(world, _request(world, task, method, path, body, **headers), task)
    assert any(f.startswith(invariant) for f in found), found


def test_a_token_bound_to_another_certificate_is_wrongful(world: FuzzWorld) -> None:
    task = _task(world, "account_support", ("user.read",), cert="helpdesk-2")
    found = _judge(world, _request(world, task, "GET", "/v1/users/alice"), task)
    assert any("cnf" in f for f in found), found


def test_a_spent_budget_is_wrongful(world: FuzzWorld) -> None:
    task = _task(world, "account_support", ("user.read",), max_calls=1)
    oracle = Oracle(Facts.load(world.config_path), world.now)
    r = _request(world, task, "GET", "/v1/users/alice")
    oracle.observe(r, task, {}, True, "allowed")
    found = oracle.judge(r, task, {}, {"decision": "allow", "target": "alice", "operation": "user.read"})
    assert any("budget" in f for f in found), found


def test_the_audit_must_name_the_target(world: FuzzWorld) -> None:
    task = _task(world, "account_support", ("user.read",))
    found = _judge(world, _request(world, task, "GET", "/v1/users/alice"), task, target="bob")
    assert any("audit's target" in f for f in found), found


@pytest.mark.parametrize(
    ("approver", "principal", "on_behalf_of", "problem"),
    [
        (None, "alice", None, "without approval"),
        ("bob", "bob@example.org", None, "is the target"),
        ("bob", "Bob.Builder", None, "is the target"),
        ("dana", "alice", "dana@example.org", "is the on-behalf-of user"),
        ("erik", "bob", None, "bound to principal"),
    ],
)
def test_a_change_without_a_rightful_approval_is_wrongful(
    world: FuzzWorld, approver: str | None, principal: str, on_behalf_of: str | None, problem: str
) -> None:
    path = f"/v1/users/{principal}/password/reset"
    actions = ("user.password.reset",)
    task = _task(world, "credential_recovery", actions, on_behalf_of=on_behalf_of, principals=(principal,))
    r = _request(world, task, "POST", path)
    approvals = {}
    if approver is not None:
        a = _approval(world, approver, r, principal if problem != "bound to principal" else "alice")
        approvals = {a.token: a}
        r = _request(world, task, "POST", path, x_approval_token=a.token)
    found = _judge(world, r, task, approvals, target=principal, operation="user.password.reset")
    assert any(problem in f for f in found), found


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/users/alice", b""),
        ("POST", RESET, b'{"user":"alice"}'),
        ("DELETE", "/x?y=1", b"\x00\xff"),
    ],
)
def test_the_oracle_hashes_requests_as_design_says(method: str, path: str, body: bytes) -> None:
    assert request_hash(method, path, body) == authz_request_hash(method, path, body)


def test_lenient_readings_of_one_clean_request_agree(world: FuzzWorld) -> None:
    facts = Facts.load(world.config_path)
    task = _task(world, "account_support", ("user.read",))
    reading = read_request(facts, _request(world, task, "GET", "/v1/users/%61lice"))
    assert (reading.operations, reading.principals) == (frozenset({"user.read"}), frozenset({"alice"}))
