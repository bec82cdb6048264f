"""Names an upstream folds, approvals not bound to the request or from the wrong person, replay
and budget.

Name cases have two outcomes: under agent-authz's default ``[upstream] names = "exact"`` a
name that only folds onto a known account or group is refused (``target_ambiguous``): a
folding upstream would act on carol; under ``"case-insensitive"`` it *is* carol — privileged,
two approvers — and ``Svc-Payroll`` is the machine identity.
"""

from __future__ import annotations

from typing import Any

from .model import (
    ALLOWED,
    APPROVAL,
    NAMES,
    REPLAY,
    RESET,
    Approve,
    Case,
    Task,
    body,
    forbidden,
    grant,
    policy_denied,
    read,
    reset,
)

AMBIGUOUS = forbidden("target_ambiguous")
NOT_BOUND = forbidden("approval_not_bound")
INVALID = forbidden("approval_invalid")
NOT_ALLOWED = forbidden("approver_not_allowed")
INSUFFICIENT = forbidden("approvals_insufficient")
MACHINE = policy_denied("machine_identity_recovery")
ADMIN_GROUP = policy_denied("admin_group_grant")
TWO = ("dana", "erik")
RESET_ALICE = ("POST", "/v1/users/alice/password/reset")


def on(category: str) -> Any:
    def case(id: str, attack: str, expect: Any, **kwargs: Any) -> Case:
        return Case(id, category, attack, expect, **kwargs)

    return case


names, approval, replay = on(NAMES), on(APPROVAL), on(REPLAY)


def encoded_reset(name: str, quoted: str, **kwargs: Any) -> dict[str, Any]:
    """``name``'s reset with the path parameter percent-encoded as ``quoted``."""
    return reset(name, path=f"/v1/users/{quoted}/password/reset", **kwargs)


NAME_CASES = [
    names("names-alias", "baseline: a reset of `bob@example.org`, an alias of bob", ALLOWED,
          **reset("bob@example.org")),
    names("names-alias-encoded", "baseline: the alias percent-encoded (`bob%40example.org`)", ALLOWED,
          **encoded_reset("bob@example.org", "bob%40example.org")),
    names("names-alias-upper-case", "a reset of `BOB@EXAMPLE.ORG`", AMBIGUOUS, folding=ALLOWED,
          **reset("BOB@EXAMPLE.ORG")),
    names("names-carol-upper-case", "a task naming `CAROL`, two approvers", AMBIGUOUS,
          folding=ALLOWED, **reset("CAROL", approvers=TWO)),
    names("names-carol-upper-case-one-approver", "a task naming `CAROL`, one approver", AMBIGUOUS,
          folding=INSUFFICIENT, **reset("CAROL")),
    names("names-carol-fullwidth", "`ｃarol` (fullwidth c), two approvers", AMBIGUOUS, folding=ALLOWED,
          **encoded_reset("\uff43arol", "%EF%BD%83arol", approvers=TWO)),
    names("names-carol-zero-width", "`carol` with a zero-width space, two approvers", AMBIGUOUS,
          folding=ALLOWED, **encoded_reset("carol\u200b", "carol%E2%80%8B", approvers=TWO)),
    names("names-task-lower-request-upper", "a task naming carol, the reset of `CAROL`",
          forbidden("principal_not_in_scope"), folding=ALLOWED,
          **reset("CAROL", principals=("carol",), approvers=TWO)),
    names("names-service-account", "a task naming `Svc-Payroll` (the payroll machine identity)",
          AMBIGUOUS, folding=MACHINE, **reset("Svc-Payroll", approvers=TWO)),
    names("names-service-account-long-s", "a task naming `ſvc-backup` (long s), approved", AMBIGUOUS,
          folding=MACHINE, **encoded_reset("\u017fvc-backup", "%C5%BFvc-backup")),
    names("names-group-upper-case", "a grant into `it-ADMINS` outside break-glass", AMBIGUOUS,
          folding=ADMIN_GROUP, **grant("it-ADMINS", approvers=TWO)),
    names("names-group-upper-case-break-glass", "a break-glass grant into `it-ADMINS`", AMBIGUOUS,
          folding=ALLOWED, **grant("it-ADMINS", intent="emergency_access", approvers=TWO)),
    names("names-read-upper-case", "a read of `ALICE`", AMBIGUOUS, folding=ALLOWED, **read("ALICE")),
    names("names-unknown-account", "a reset of an account the directory does not know (`mallory`)",
          forbidden("target_unknown"), **reset("mallory")),
    names("names-unknown-group", "a grant into a group the directory does not know",
          forbidden("target_unknown"), **grant("no-such-group")),
]  # fmt: skip

MFA = "user.mfa.reset"
RECOVER_MFA = Task(intent="credential_recovery", actions=(MFA,), principals=("alice",))
ROTATE = Task(intent="key_rotation", actions=("user.api_key.rotate",), principals=("alice",))
REMOVE = Task(intent="access_change", actions=("group.member.remove",), principals=("alice",))

APPROVAL_CASES = [
    approval("approval-reset", "baseline: a reset approved by dana", ALLOWED, **reset()),
    approval("approval-privileged-two", "baseline: privileged carol's reset, two approvers", ALLOWED,
             **reset("carol", approvers=TWO)),
    approval("approval-break-glass-two", "baseline: a break-glass grant into it-admins, two approvers",
             ALLOWED, **grant("it-admins", intent="emergency_access", approvers=TWO)),
    approval("approval-mfa-reset", "baseline: an MFA reset approved by dana", ALLOWED,
             **reset(path="/v1/users/alice/mfa/reset", task=RECOVER_MFA, operation=MFA)),
    approval("approval-key-rotation", "baseline: an API key rotation approved by dana", ALLOWED,
             **reset(path="/v1/users/alice/api-keys/rotate", payload=body({"reason": "leaked"}),
                     task=ROTATE, operation="user.api_key.rotate")),
    approval("approval-remove-member", "baseline: a membership removal approved by dana", ALLOWED,
             **reset(method="DELETE", path="/v1/groups/staff/members/alice", payload=b"", task=REMOVE,
                     operation="group.member.remove")),
    approval("approval-missing", "a reset without approval", forbidden("approval_required"),
             **reset(approvers=())),
    approval("approval-other-principal", "an approval naming bob on alice's reset", NOT_BOUND,
             **reset(approvals=(Approve(principal="bob"),))),
    approval("approval-other-body", "an approval of another body", NOT_BOUND,
             **reset(approvals=(Approve(covers=(*RESET_ALICE, body({"user": "alice", "notify": True}))),))),
    approval("approval-other-path", "an approval of bob's reset (its `req`) on alice's", NOT_BOUND,
             **reset(approvals=(Approve(covers=("POST", "/v1/users/bob/password/reset", b"")),))),
    approval("approval-other-operation", "an approval of an MFA reset on a password reset", NOT_BOUND,
             **reset(approvals=(Approve(operation=MFA),))),
    approval("approval-other-task", "an approval for another task", NOT_BOUND,
             **reset(approvals=(Approve(other_task=True),))),
    approval("approval-other-agent", "an approval for audit-bot", NOT_BOUND,
             **reset(approvals=(Approve(agent="audit-bot"),))),
    approval("approval-expired", "an expired approval", INVALID,
             **reset(approvals=(Approve(ttl=60, age=200),))),
    approval("approval-not-yet-valid", "an approval issued two minutes from now", INVALID,
             **reset(approvals=(Approve(age=-120),))),
    approval("approval-ttl-over-cap", "an approval living longer than `approvals.max_ttl`", INVALID,
             **reset(approvals=(Approve(ttl=601),))),
    approval("approval-impostor-key", "dana's approval signed with a key that is not hers", INVALID,
             **reset(approvals=(Approve(impostor=True),))),
    approval("approval-unknown-approver", "an approval by someone not configured as an approver",
             INVALID, **reset(approvals=(Approve("mallory", impostor=True),))),
    approval("approval-class-not-allowed", "bob (credential changes only) approves a grant",
             NOT_ALLOWED, **grant("staff", "alice", approvers=("bob",))),
    approval("approval-on-behalf-of-address", "bob approves a task on behalf of `bob@example.org`",
             NOT_ALLOWED, **reset(approvers=("bob",), task=Task(
                 intent="credential_recovery", actions=(RESET,), principals=("alice",),
                 on_behalf_of="bob@example.org"))),
    approval("approval-on-behalf-of-capitalised", "bob approves a task on behalf of `Bob`",
             NOT_ALLOWED, **reset(approvers=("bob",), task=Task(
                 intent="credential_recovery", actions=(RESET,), principals=("alice",),
                 on_behalf_of="Bob"))),
    approval("approval-own-address", "bob approves the reset of `bob@example.org`", NOT_ALLOWED,
             **reset("bob@example.org", approvers=("bob",))),
    approval("approval-own-account", "bob approves the reset of his own account", NOT_ALLOWED,
             **reset("bob", approvers=("bob",))),
    approval("approval-own-account-by-address", "dana (bound to `dana@example.org`) approves dana's reset",
             NOT_ALLOWED, **reset("dana", approvers=("dana",))),
    approval("approval-one-approver-twice", "two approvals by dana for privileged carol", INSUFFICIENT,
             **reset("carol", approvers=("dana", "dana"))),
    approval("approval-one-for-privileged", "one approval for privileged carol", INSUFFICIENT,
             **reset("carol")),
    approval("approval-too-many", "five approval tokens (`approvals.max_tokens` is 4)", INVALID,
             **reset(approvers=("dana",) * 5)),
    approval("approval-machine-identity", "an approved password reset of a service account", MACHINE,
             **reset("svc-backup")),
    approval("approval-admin-group", "a grant into it-admins outside break-glass, two approvers",
             ADMIN_GROUP,
             **grant("it-admins", approvers=TWO)),
]  # fmt: skip

REPLAY_CASES = [
    replay("replay-within-budget", "baseline: a call within the task's budget", ALLOWED,
           task=Task(max_calls=2)),
    replay("replay-budget-exhausted", "a second call on a budget of one", forbidden("budget_exhausted"),
           task=Task(max_calls=1), before=("send",)),
    replay("replay-spent-approval", "the same approved reset sent again", forbidden("approval_replayed"),
           **reset(before=("send",))),
    replay("replay-same-token-twice", "one approval token twice in one request",
           forbidden("approval_replayed"), **reset(approvals=(Approve(), Approve(again=True)))),
]  # fmt: skip
