"""Stage 6: human approvals bound to the exact request — and the attacks on them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from factories import BOT, Decider, deciding, make_world

from authz.model import Decision
from authz.reasons import Reason
from authz.store.sqlite_queue import SqliteQueue

RESET = ("POST", "/v1/users/alice/password/reset", "user.password.reset", "alice")
GRANT = ("POST", "/v1/groups/it-admins/members", "group.member.add", "bob")
GRANT_BODY = b'{"user": "bob"}'


class Setup(Decider):
    def task(self, intent: str = "credential_recovery", **kwargs: object) -> str:
        actions = {
            "credential_recovery": ("user.read", "user.password.reset"),
            "emergency_access": ("group.member.add",),
            "access_change": ("group.member.add",),
        }[intent]
        principals = kwargs.pop("principals", ("alice", "bob", "carol"))
        return self.world.token(
            self.world.bot, intent=intent, actions=actions, principals=principals, **kwargs
        )  # type: ignore[arg-type]

    def send(
        self,
        task: str,
        approvals: list[str],
        request: tuple[str, str, str, str] = RESET,
        *,
        body: bytes = b"",
        intent: str = "credential_recovery",
    ) -> Decision:
        method, path = request[0], request[1]
        headers = {"x-agent-intent": intent}
        if approvals:
            headers["x-approval-token"] = ",".join(approvals)
        return self.authz.check(self.world.request(method, path, body=body, task=task, headers=headers))

    def approve(
        self, approver: str, task: str, request: tuple[str, str, str, str] = RESET, **kwargs: object
    ) -> str:
        return self.world.approval(approver, task, *request, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    yield from deciding(make_world(tmp_path), Setup)


def test_without_approval_the_deny_says_what_to_get_approved(s: Setup) -> None:
    task = s.task()
    d = s.send(task, [])
    assert d.reason is Reason.APPROVAL_REQUIRED
    details = d.body_extra["approval"]
    assert (details["operation"], details["principal"], details["approvers_required"]) == (
        "user.password.reset",
        "alice",
        1,
    )
    assert details["task"] == d.task.task_id and details["req"]  # type: ignore[union-attr]


def test_one_valid_approval_allows_once_and_is_consumed(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task)
    d = s.send(task, [approval])
    assert d.allowed and d.upstream_headers["x-approved-by"] == "dana"
    assert s.metrics.approvals_consumed._value.get() == 1
    assert s.send(task, [approval]).reason is Reason.APPROVAL_REPLAYED
    assert s.metrics.replays_blocked._value.get() == 1
    s.audit.close()
    records = [json.loads(line) for line in s.audit.path.read_text().splitlines()]
    assert records[0]["approvers"] == ["dana"] and records[0]["decision"] == "allow"


def test_a_plain_read_ignores_approval_tokens_and_spends_none(s: Setup) -> None:
    """Approvals count on changes and gated requests only: a read is neither refused for the
    tokens it carries (not even one that is no token) nor spends them."""
    task = s.task()
    approval = s.approve("dana", task)
    read = s.send(task, [approval, "not-a-token"], ("GET", "/v1/users/alice", "user.read", "alice"))
    assert read.allowed and read.approvals == ()
    assert s.send(task, [approval]).allowed  # still unspent: the reset it was given for


def test_attack_approval_for_alice_used_on_bob(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task)
    bob = ("POST", "/v1/users/bob/password/reset", "user.password.reset", "bob")
    assert s.send(task, [approval], bob).reason is Reason.APPROVAL_NOT_BOUND


def test_attack_same_path_with_a_changed_body(s: Setup) -> None:
    task = s.task("access_change")
    approval = s.approve("dana", task, GRANT, body=b'{"user": "bob", "role": "viewer"}')
    d = s.send(task, [approval], GRANT, body=b'{"user": "bob", "role": "admin"}', intent="access_change")
    assert d.reason is Reason.APPROVAL_NOT_BOUND


def test_attack_req_over_a_trailing_slash_path(s: Setup) -> None:
    task = s.task()
    slash = ("POST", "/v1/users/alice/password/reset/", "user.password.reset", "alice")
    assert s.send(task, [s.approve("dana", task, slash)]).reason is Reason.APPROVAL_NOT_BOUND


def test_attack_approval_for_another_task_of_the_same_agent(s: Setup) -> None:
    other, task = s.task(), s.task()
    assert s.send(task, [s.approve("dana", other)]).reason is Reason.APPROVAL_NOT_BOUND


def test_attack_approval_for_another_agent(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task, agent="spiffe://agents.example.org/agent/audit-bot")
    assert s.send(task, [approval]).reason is Reason.APPROVAL_NOT_BOUND


@pytest.mark.parametrize("kid", ["nobody", "../keys/approver-dana", "https://evil.example/key"])
def test_attack_approval_signed_by_an_unknown_key(s: Setup, kid: str) -> None:
    task = s.task()
    approval = s.approve("dana", task, key=ed25519.Ed25519PrivateKey.generate(), extra_headers={"kid": kid})
    assert s.send(task, [approval]).reason is Reason.APPROVAL_INVALID


def test_attack_approval_signed_with_the_agents_own_svid_key(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task, key=s.world.bot.key)
    assert s.send(task, [approval]).reason is Reason.APPROVAL_INVALID


def test_attack_approval_signed_with_the_issuers_task_key(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task, key=s.world.issuer_key)
    assert s.send(task, [approval]).reason is Reason.APPROVAL_INVALID


def test_attack_approval_token_in_the_task_header_and_back(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task)
    headers = {"x-agent-intent": "credential_recovery"}
    ctx = s.world.request(*RESET[:2], task=approval, headers=headers)
    assert s.authz.check(ctx).reason is Reason.TASK_TOKEN_INVALID
    assert s.send(task, [task]).reason is Reason.APPROVAL_INVALID


def test_attack_aud_of_another_api(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task, extra_claims={"aud": "payroll-api"})
    assert s.send(task, [approval]).reason is Reason.APPROVAL_INVALID


def test_attack_approval_by_the_on_behalf_of_user(s: Setup) -> None:
    task = s.task(on_behalf_of="bob")
    assert s.send(task, [s.approve("bob", task)]).reason is Reason.APPROVER_NOT_ALLOWED


def test_attack_approval_by_the_target_principal(s: Setup) -> None:
    task = s.task()
    bob = ("POST", "/v1/users/bob/password/reset", "user.password.reset", "bob")
    assert s.send(task, [s.approve("bob", task, bob)], bob).reason is Reason.APPROVER_NOT_ALLOWED


def test_approver_outside_their_classes(s: Setup) -> None:
    task = s.task("access_change")
    approval = s.approve("bob", task, GRANT, body=GRANT_BODY)
    d = s.send(task, [approval], GRANT, body=GRANT_BODY, intent="access_change")
    assert d.reason is Reason.APPROVER_NOT_ALLOWED


def test_break_glass_needs_two_distinct_approvers(s: Setup) -> None:
    task = s.task("emergency_access")
    staff = ("POST", "/v1/groups/staff/members", "group.member.add", "bob")

    def grant(*approvers: str) -> Decision:
        tokens = [s.approve(a, task, staff, body=GRANT_BODY) for a in approvers]
        return s.send(task, tokens, staff, body=GRANT_BODY, intent="emergency_access")

    one = grant("dana")
    assert one.reason is Reason.APPROVALS_INSUFFICIENT
    assert one.body_extra["policy"]["policies"] == ["break-glass-is-stricter"]
    assert one.body_extra["approval"]["approvers_required"] == 1
    assert one.body_extra["approval"]["approved_by"] == ["dana"]
    assert grant("dana", "dana").reason is Reason.APPROVALS_INSUFFICIENT  # one approver twice
    assert s.metrics.approvals_consumed._value.get() == 0  # nothing spent by a deny
    both = grant("dana", "erik")
    assert both.allowed and both.upstream_headers["x-approved-by"] == "dana,erik"


def test_privileged_target_needs_two(s: Setup) -> None:
    task = s.task()
    carol = ("POST", "/v1/users/carol/password/reset", "user.password.reset", "carol")
    assert s.send(task, [s.approve("dana", task, carol)], carol).reason is Reason.APPROVALS_INSUFFICIENT
    tokens = [s.approve(a, task, carol) for a in ("dana", "erik")]
    assert s.send(task, tokens, carol).allowed


@pytest.mark.parametrize(("age", "reason"), [(300 + 30 + 1, Reason.APPROVAL_INVALID), (300 + 29, None)])
def test_attack_expired_approval_at_the_leeway_boundary(s: Setup, age: int, reason: Reason | None) -> None:
    task = s.task()
    approval = s.approve("dana", task, now=int(time.time()) - age, ttl=300)
    d = s.send(task, [approval])
    assert d.reason is (reason or Reason.ALLOWED)


def test_attack_approval_living_longer_than_the_cap(s: Setup) -> None:
    task = s.task()
    assert s.send(task, [s.approve("dana", task, ttl=601)]).reason is Reason.APPROVAL_INVALID


def test_attack_one_approval_presented_twice_in_one_request(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task)
    assert s.send(task, [approval, approval]).reason is Reason.APPROVAL_REPLAYED


def test_attack_too_many_approval_tokens(s: Setup) -> None:
    task = s.task()
    tokens = [s.approve("dana", task) for _ in range(5)]
    assert s.send(task, tokens).reason is Reason.APPROVAL_INVALID


def test_attack_approval_with_a_forged_iss(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task, extra_claims={"iss": "erik"})
    assert s.send(task, [approval]).reason is Reason.APPROVAL_INVALID


def test_a_later_stage_deny_burns_no_approval(s: Setup) -> None:
    task = s.task(max_calls=1)
    assert s.send(task, [], ("GET", "/v1/users/alice", "user.read", "alice")).allowed
    approval = s.approve("dana", task)
    assert s.send(task, [approval]).reason is Reason.BUDGET_EXHAUSTED
    assert not s.store.approval_consumed(_jti(approval))


def test_agent_id_is_the_approval_subject(s: Setup) -> None:
    task = s.task()
    assert _claims(s.approve("dana", task))["sub"] == BOT


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _jti(token: str) -> str:
    return str(_claims(token)["jti"])


def test_the_deny_files_one_request_to_poll(s: Setup) -> None:
    task = s.task(on_behalf_of="ticket-owner")
    headers = {"x-agent-intent": "credential_recovery", "x-agent-justification": "ticket T-42"}
    ctx = s.world.request(*RESET[:2], task=task, headers=headers)
    first = s.authz.check(ctx).body_extra["approval"]
    assert first["queued"] and first["poll"] == f"/.well-known/agent-authz/approvals/{first['request_id']}"
    assert s.authz.check(ctx).body_extra["approval"]["request_id"] == first["request_id"]
    request = SqliteQueue(s.store).get(first["request_id"], now=time.time())
    assert request is not None
    assert (request.new.agent, request.new.on_behalf_of, request.new.justification) == (
        BOT,
        "ticket-owner",
        "ticket T-42",
    )
    assert (request.new.req, request.new.approvers_needed) == (first["req"], 1)


def test_a_looping_agent_cannot_flood_the_queue(s: Setup) -> None:
    task = s.task()
    details = [
        s.send(task, [], body=json.dumps({"user": "alice", "reason": f"attempt {i}"}).encode()).body_extra[
            "approval"
        ]
        for i in range(11)
    ]
    assert all(d["queued"] for d in details[:10])
    assert details[10] == {**details[10], "queued": False, "retry_after": 60}
    assert "request_id" not in details[10]


def test_an_approval_taken_from_the_queue_is_accepted(s: Setup) -> None:
    task = s.task()
    request_id = s.send(task, []).body_extra["approval"]["request_id"]
    queue = SqliteQueue(s.store)
    queue.add_approval(request_id, "dana", s.approve("dana", task), now=time.time())
    request = queue.get(request_id, now=time.time())
    assert request is not None and request.status == "approved"
    assert s.send(task, [token for _, token in request.approvals]).allowed


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/.well-known/agent-authz/approvals/apr-0123456789abcdef", Reason.APPROVAL_REQUEST_UNKNOWN),
        ("/.well-known/agent-authz/approvals/apr-0123", Reason.MALFORMED_REQUEST),
        ("/.well-known/agent-authz/approvals/apr-0123456789abcdef/x", Reason.MALFORMED_REQUEST),
        ("/.well-known/agent-authz/approvals/", Reason.MALFORMED_REQUEST),
    ],
)
def test_polling_needs_identity_only_and_a_well_formed_id(s: Setup, path: str, reason: Reason) -> None:
    d = s.authz.check(s.world.request("GET", path, headers={}))  # no task token
    assert d.reason is reason
    if d.allowed:
        assert d.operation is not None and d.operation.name == "approval_request.poll"
        assert d.upstream_headers["x-agent-id"] == BOT  # whose requests the API may show


def test_an_agent_polls_the_request_its_deny_filed(s: Setup) -> None:
    denied = s.send(s.task(), [])
    poll = denied.body_extra["approval"]["poll"]
    d = s.authz.check(s.world.request("GET", poll, headers={}))  # no task token
    assert d.allowed and d.operation is not None and d.operation.name == "approval_request.poll"
    assert d.upstream_headers["x-agent-id"] == BOT  # whose requests the API may show


def test_polling_is_for_registered_agents_only(s: Setup) -> None:
    rogue = s.world.svid("spiffe://agents.example.org/agent/rogue-bot")
    path = "/.well-known/agent-authz/approvals/apr-0123456789abcdef"
    assert s.authz.check(s.world.request("GET", path, svid=rogue)).reason is Reason.UNKNOWN_AGENT


def test_a_replayed_approval_is_refused_by_stage_6_before_anything_else_runs(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task)
    assert s.send(task, [approval]).allowed
    again = s.send(task, [approval])
    assert (again.reason, again.denied_at) == (Reason.APPROVAL_REPLAYED, 6)


def test_attack_approval_for_another_spelling_of_the_target_under_exact_names(s: Setup) -> None:
    task = s.task()
    approval = s.approve("dana", task, (*RESET[:3], "ALICE"))  # this exact request, but for ALICE
    assert s.send(task, [approval]).reason is Reason.APPROVAL_NOT_BOUND


def test_whether_an_approval_was_spent_is_asked_of_its_task(
    s: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store that keeps spent approvals under their task (Redis) needs the task to find them.
    asked: list[tuple[str, str]] = []
    real = s.store.approval_consumed
    monkeypatch.setattr(s.store, "approval_consumed", lambda a, t: asked.append((a, t)) or real(a, t))
    task = s.task()
    approval = s.approve("dana", task)
    decided = s.send(task, [approval])
    assert decided.allowed and decided.task is not None
    assert asked == [(_jti(approval), decided.task.task_id)]
