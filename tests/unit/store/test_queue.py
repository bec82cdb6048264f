"""The approval queue's interface (``authz/store/queue.py``): what a filed request says of its
approvals, and the statuses a request goes through."""

from __future__ import annotations

from authz.errors import StoreError
from authz.store.queue import ApprovalRequest, NewRequest, QueueError, RequestStatus

NEW = NewRequest(
    "spiffe://agents.example.org/agent/helpdesk-bot", "it-helpdesk@example.org", "t1", None,
    "credential_recovery", None, None, "user.password.reset", "credential_change", "alice",
    "POST", "/v1/users/alice/password/reset", b"", "req", 2, 1_800_000_300.0,
)  # fmt: skip


def test_the_approvers_of_a_request_are_named_once_each_in_order() -> None:
    approvals = (("erik", "token-1"), ("dana", "token-2"), ("erik", "token-3"))
    request = ApprovalRequest("apr-1", NEW, 1_800_000_000.0, RequestStatus.PENDING, approvals=approvals)
    assert request.approvers == ["dana", "erik"]


def test_a_request_without_approvals_has_no_approvers() -> None:
    assert ApprovalRequest("apr-1", NEW, 1_800_000_000.0, RequestStatus.PENDING).approvers == []


def test_the_statuses_are_their_names() -> None:
    assert [str(s) for s in RequestStatus] == ["pending", "approved", "denied", "expired"]


def test_a_refused_operator_action_is_a_store_error() -> None:
    assert issubclass(QueueError, StoreError)
