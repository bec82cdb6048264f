"""What an audit record holds (``authz/audit/record.py``): who decided what about which request,
field by field — no secrets, no tokens, no bodies, no query strings, and what the caller
controls capped."""

from __future__ import annotations

import pytest

from authz.audit import audit_record
from authz.directory import Group, Principal
from authz.model import Action, Context, Decision, Operation, RequestContext
from authz.reasons import Reason
from unit.decisions import AGENT, NOW, READ, RESET, TRACE, decision


def test_the_audit_record_of_an_allow_holds_every_field() -> None:
    headers = {
        "x-agent-intent": "credential_recovery",
        "x-agent-justification": "ticket T-42",
        "x-agent-prompt-ref": "prompt-9",
        "traceparent": f"00-{TRACE}-b7ad6b7169203331-01",
    }
    d = decision(headers=headers)
    d.context = Context(
        Principal("alice", exists=True, kind="human", groups=frozenset({"staff", "all"})),
        Group("staff", exists=True, privileged=False),
    )
    d.policies = ("resets-with-approval",)
    assert audit_record(d, NOW, 0.00125) == {
        "decision_id": "d-1",
        "time": "2026-01-05T14:30:01.000250+00:00",
        "decision": "allow",
        "reason": "allowed",
        "agent": AGENT.spiffe_id,
        "owner": "it-helpdesk@example.org",
        "peer": AGENT.spiffe_id,
        "sub": "bob",
        "act": [AGENT.spiffe_id, "spiffe://x/agent/planner"],
        "intent": "credential_recovery",
        "justification": "ticket T-42",
        "prompt_ref": "prompt-9",
        "operation": "user.password.reset",
        "class": "credential_change",
        "reversible": False,
        "method": "POST",
        "path": "/v1/users/alice/password/reset",
        "target": "alice",
        "target_attributes": {
            "name": "alice",
            "exists": True,
            "kind": "human",
            "privileged": False,
            "groups": ["all", "staff"],
            "active": True,
            "roles": [],
        },  # fmt: skip
        "group": {"name": "staff", "exists": True, "privileged": False},
        "actions": None,
        "task": "t-1",
        "approvers": ["dana", "erik"],
        "approval_ids": ["a-2", "a-1"],
        "policies": ["resets-with-approval"],
        "shadow": None,
        "store_staleness": None,
        "request_id": "req-7",
        "trace_id": TRACE,
        "latency_us": 1250,
    }


def test_the_audit_record_of_an_early_deny_has_nothing_it_did_not_learn() -> None:
    request = RequestContext("GET" * 10, "/v1/users/alice?token=secret", {}, b"", "", "")
    d = Decision("d-3", request)
    d.deny(Reason.MISSING_CLIENT_IDENTITY, "no certificate")
    written = audit_record(d, NOW, 0.0)
    assert written["decision"] == "deny" and written["reason"] == "missing_client_identity"
    nothing = ("agent", "owner", "peer", "sub", "act", "operation", "class", "reversible", "target")
    assert all(written[name] is None for name in nothing)
    more = ("target_attributes", "group", "task", "request_id", "trace_id", "intent")
    assert all(written[name] is None for name in more)
    assert (written["method"], written["path"]) == ("GETGETGETGETGETG", "/v1/users/alice")
    assert (written["approvers"], written["approval_ids"], written["policies"]) == ([], [], [])


def test_the_audit_record_caps_what_the_caller_controls() -> None:
    long = "x" * 5000
    request = RequestContext("GET", "/" + long + "?q=1", {}, b"", "p" * 600, "", "r" * 200)
    written = audit_record(Decision("d-4", request), NOW, 0.0)
    assert (len(written["path"]), len(written["peer"]), len(written["request_id"])) == (2048, 512, 128)


def test_a_degraded_read_says_its_targets_attributes_are_unknown() -> None:
    d = decision(READ)
    d.context = Context(Principal("alice", exists=False), degraded=True)
    assert audit_record(d, NOW, 0.0)["target_attributes"] == {
        "unknown": "directory unavailable; read allowed by the degraded rule"
    }


@pytest.mark.parametrize(
    ("headers", "trace_id"),
    [
        ({"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}, TRACE),
        ({"traceparent": f"00-{TRACE}-b7ad6b7169203331"}, None),  # three parts: not W3C
        ({"traceparent": f"00-{TRACE[:31]}-b7ad6b7169203331-01"}, None),  # a short trace id
        ({"traceparent": "garbage", "x-b3-traceid": "80f198ee56343ba8"}, "80f198ee56343ba8"),
        ({"x-b3-traceid": "a" * 40}, "a" * 32),
        ({}, None),
    ],
)
def test_the_trace_id_comes_from_w3c_traceparent_else_b3(
    headers: dict[str, str], trace_id: str | None
) -> None:
    request = RequestContext("GET", "/", headers, b"", "", "")
    assert audit_record(Decision("d-5", request), NOW, 0.0)["trace_id"] == trace_id


@pytest.mark.parametrize(("elapsed", "micros"), [(0.0, 0), (0.00125, 1250), (2.5, 2_500_000)])
def test_the_latency_is_recorded_in_microseconds(elapsed: float, micros: int) -> None:
    assert audit_record(decision(), NOW, elapsed)["latency_us"] == micros


def test_a_request_that_does_several_things_records_each_action() -> None:
    d = decision()
    d.operation = Operation(
        RESET,
        "alice",
        {"user": "alice"},
        (
            Action("user.password.reset", "credential_change", "alice", None, False),
            Action("group.member.add", "privilege_change", "bob", "admins", True),
        ),
    )
    written = audit_record(d, NOW, 0.0)
    assert written["actions"] == [
        {"operation": "user.password.reset", "class": "credential_change", "target": "alice", "group": None,
         "reversible": False},
        {"operation": "group.member.add", "class": "privilege_change", "target": "bob", "group": "admins",
         "reversible": True},
    ]  # fmt: skip
    first = (written["operation"], written["class"], written["target"], written["reversible"])
    assert first == ("user.password.reset", "credential_change", "alice", False)  # the first action
