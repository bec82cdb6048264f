"""The approval queue, in SQLite and in Redis (``conftest.py``): filing, de-duplication, rate
limit, approving, denying, expiry."""

from __future__ import annotations

from dataclasses import replace

import pytest

from authz.store.queue import ApprovalQueue, NewRequest, QueueError, RequestStatus

NOW = 1_800_000_000.0
NEW = NewRequest(
    agent="spiffe://agents.example.org/agent/helpdesk-bot",
    owner="it-helpdesk@example.org",
    task_id="t1",
    on_behalf_of="bob",
    intent="credential_recovery",
    justification="ticket T-42",
    prompt_ref=None,
    operation="user.password.reset",
    op_class="credential_change",
    principal="alice",
    method="POST",
    path="/v1/users/alice/password/reset",
    body=b'{"user": "alice"}',
    req="req-hash",
    approvers_needed=2,
    expires=NOW + 300,
)


def file(
    queue: ApprovalQueue, new: NewRequest = NEW, now: float = NOW, per_agent: int = 10
) -> tuple[str, bool]:
    filed = queue.file(new, now=now, per_agent=per_agent, window=60)
    assert filed is not None
    return filed


def test_a_pending_request_asked_for_more_approvers_asks_more_never_fewer(queue: ApprovalQueue) -> None:
    request_id, _ = file(queue, replace(NEW, approvers_needed=1))
    for needed, expected in ((2, 2), (1, 2)):  # the policy asks more of it; then less: kept
        assert file(queue, replace(NEW, approvers_needed=needed), now=NOW + 5) == (request_id, False)
        request = queue.get(request_id, now=NOW)
        assert request is not None and request.new.approvers_needed == expected


def test_a_request_is_filed_once_and_kept_whole(queue: ApprovalQueue) -> None:
    request_id, created = file(queue)
    assert created and request_id.startswith("apr-")
    assert file(queue, now=NOW + 5) == (request_id, False)  # the agent asking again
    request = queue.get(request_id, now=NOW)
    assert request is not None and request.new == NEW and request.status is RequestStatus.PENDING
    other_body = replace(NEW, req="other-hash")
    assert file(queue, other_body)[0] != request_id  # another body is another request


def test_a_looping_agent_is_rate_limited(queue: ApprovalQueue) -> None:
    for i in range(3):
        file(queue, replace(NEW, req=f"r{i}"), per_agent=3)
    assert queue.file(replace(NEW, req="r3"), now=NOW, per_agent=3, window=60) is None
    assert queue.file(replace(NEW, req="r3"), now=NOW + 61, per_agent=3, window=60) is not None
    other_agent = replace(NEW, agent="spiffe://agents.example.org/agent/audit-bot", req="r9")
    assert queue.file(other_agent, now=NOW, per_agent=3, window=60) is not None


def test_approved_once_enough_distinct_approvers_signed(queue: ApprovalQueue) -> None:
    request_id, _ = file(queue)
    first = queue.add_approval(request_id, "dana", "token-1", now=NOW)
    assert first.status is RequestStatus.PENDING and first.approvers == ["dana"]
    with pytest.raises(QueueError, match="already approved"):
        queue.add_approval(request_id, "dana", "token-2", now=NOW)
    done = queue.add_approval(request_id, "erik", "token-3", now=NOW)
    assert done.status is RequestStatus.APPROVED and done.approvals == (
        ("dana", "token-1"),
        ("erik", "token-3"),
    )
    with pytest.raises(QueueError, match="not pending"):
        queue.add_approval(request_id, "frank", "token-4", now=NOW)
    assert file(queue, now=NOW + 1)[1]  # approved is no longer pending: a new request is filed


def test_denied_and_expired_requests_cannot_be_approved(queue: ApprovalQueue) -> None:
    denied_id, _ = file(queue)
    denied = queue.deny(denied_id, by="dana", reason="not on the ticket", now=NOW)
    assert (denied.status, denied.decided_by, denied.reason) == (
        RequestStatus.DENIED,
        "dana",
        "not on the ticket",
    )
    expired_id, _ = file(queue, replace(NEW, req="r2"))
    assert queue.get(expired_id, now=NEW.expires + 1).status is RequestStatus.EXPIRED  # type: ignore[union-attr]
    with pytest.raises(QueueError, match="expired"):
        queue.add_approval(expired_id, "dana", "token", now=NEW.expires + 1)
    with pytest.raises(QueueError, match="no approval request"):
        queue.deny("apr-nope", by="dana", reason="x", now=NOW)


def test_requests_are_listed_newest_first_and_by_status(queue: ApprovalQueue) -> None:
    ids = [file(queue, replace(NEW, req=f"r{i}"), now=NOW + i)[0] for i in range(3)]
    queue.deny(ids[0], by="dana", reason="no", now=NOW)
    assert [r.request_id for r in queue.requests(now=NOW)] == ids[::-1]
    assert [r.request_id for r in queue.requests(now=NOW, status=RequestStatus.PENDING)] == ids[:0:-1]
