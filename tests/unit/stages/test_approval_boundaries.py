"""Every limit of the approval token (stage 6) checks, pinned at its boundary: the last accepted
value and the first refused one, through ``ApprovalStage.verify`` only. Time is always injected
(task tokens: ``test_task_boundaries.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from factories import BOT, World, make_world
from tokens import AUDIENCE, ISSUER, T0

from authz.config import ApprovalsConfig, Approver, Config
from authz.model import Action, Operation, RequestContext
from authz.reasons import Denied, Reason
from authz.stages.approval import ApprovalStage
from authz.store.sqlite import SqliteStore
from authz.tokens.approval import request_hash, sign_approval
from authz.tokens.keys import PrivateKey, load_private_key
from authz.tokens.task import Task, thumbprint
from unit.stages.boundaries import LEEWAY, MAX_TTL, SVID, assert_denied, of_length


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


RESET_PATH = "/v1/users/alice/password/reset"
TASK = Task(
    task_id="task-boundaries",
    issuer=ISSUER,
    subject=BOT,
    actors=(),
    thumbprint=thumbprint(SVID.cert),
    intent="credential_recovery",
    actions=frozenset({"user.password.reset"}),
    principals=frozenset({"alice"}),
    max_calls=None,
    issued_at=T0,
    not_before=T0,
    expires=T0 + MAX_TTL,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def config(world: World) -> Config:
    return world.config()


def approver_key(world: World, approver: str) -> PrivateKey:
    return load_private_key(world.root / "keys" / f"approver-{approver}.key")


def approval(
    world: World, config: Config, approver: str = "dana", key: PrivateKey | None = None, **overrides: object
) -> str:
    args: dict[str, object] = {
        "key": key or approver_key(world, approver),
        "approver": approver,
        "audience": config.tasks.audience,
        "agent": BOT,
        "task_id": TASK.task_id,
        "operation": "user.password.reset",
        "principal": "alice",
        "req": request_hash("POST", RESET_PATH, b""),
        "ttl": 300,
        "now": T0,
    }
    args.update(overrides)
    return sign_approval(**args)  # type: ignore[arg-type]


def approve(
    config: Config,
    store: SqliteStore,
    tokens: list[str],
    now: int = T0 + 1,
    derived: tuple[Action, ...] = (),
    **settings: object,
) -> Denied | tuple[object, ...]:
    """What stage 6 makes of ``tokens`` on the request they approve (approvals settings
    overridden by ``settings``): the approvals, or the deny."""
    approvals: ApprovalsConfig = dataclasses.replace(config.approvals, **settings)  # type: ignore[arg-type]
    stage = ApprovalStage(approvals, config.tasks.audience, config.tasks.leeway, store)
    route = next(r for r in config.routes if r.operation == "user.password.reset")
    request = RequestContext(
        method="POST",
        path=RESET_PATH,
        headers={"x-approval-token": ",".join(tokens)},
        body=b"",
        principal=BOT,
        certificate="",
        request_id="boundaries",
    )
    try:
        return stage.verify(request, BOT, TASK, Operation(route, "alice", derived=derived), now)
    except Denied as denied:
        return denied


def assert_approved(outcome: Denied | tuple[object, ...], count: int = 1) -> None:
    assert not isinstance(outcome, Denied), outcome
    assert len(outcome) == count


def test_the_world_has_the_limits_these_tests_assume(config: Config) -> None:
    assert (config.tasks.leeway, config.approvals.max_ttl, config.approvals.max_tokens) == (LEEWAY, 600, 4)
    assert {"dana", "erik", "bob"} <= set(config.approvals.approvers)


@pytest.mark.parametrize("limit", [1, 3])
def test_exactly_max_tokens_approvals_are_not_refused_for_their_number(
    world: World, config: Config, store: SqliteStore, limit: int
) -> None:
    tokens = [approval(world, config, a) for a in ("dana", "erik", "bob")[:limit]]
    assert_approved(approve(config, store, tokens, max_tokens=limit), limit)


@pytest.mark.parametrize("limit", [1, 3, 4])
def test_max_tokens_plus_one_approvals_are_refused(
    world: World, config: Config, store: SqliteStore, limit: int
) -> None:
    tokens = [approval(world, config, ("dana", "erik", "bob")[i % 3]) for i in range(limit + 1)]
    outcome = approve(config, store, tokens, max_tokens=limit)
    assert_denied(outcome, Reason.APPROVAL_INVALID, f"more than {limit} approval tokens")


def padded_approval(world: World, config: Config, length: int) -> str:
    return of_length(
        length,
        lambda approver, n: approval(world, config, approver, approval_id="a" * (32 + n)),
        ["dana", "bob"],
    )


def test_approval_of_exactly_max_token_bytes_is_not_refused_for_its_size(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = padded_approval(world, config, config.approvals.max_token_bytes)
    assert len(token) == config.approvals.max_token_bytes
    assert_approved(approve(config, store, [token]))


def test_approval_one_byte_over_max_token_bytes_is_refused(
    world: World, config: Config, store: SqliteStore
) -> None:
    limit = config.approvals.max_token_bytes
    token = padded_approval(world, config, limit + 1)
    assert_denied(approve(config, store, [token]), Reason.APPROVAL_INVALID, "larger than allowed")
    assert_approved(approve(config, store, [token], max_token_bytes=limit + 1))  # only its size


def test_approval_issued_in_the_future_by_exactly_the_leeway_is_accepted(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = approval(world, config, now=T0 + 1 + LEEWAY)
    assert_approved(approve(config, store, [token], now=T0 + 1))


def test_approval_issued_in_the_future_by_the_leeway_plus_one_second_is_refused(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = approval(world, config, now=T0 + 1 + LEEWAY + 1)
    assert_denied(approve(config, store, [token], now=T0 + 1), Reason.APPROVAL_INVALID, "not valid yet")


def test_approval_expired_by_exactly_the_leeway_is_accepted(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = approval(world, config, ttl=300)
    assert_approved(approve(config, store, [token], now=T0 + 300 + LEEWAY))


def test_approval_expired_by_the_leeway_plus_one_second_is_refused(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = approval(world, config, ttl=300)
    outcome = approve(config, store, [token], now=T0 + 300 + LEEWAY + 1)
    assert_denied(outcome, Reason.APPROVAL_INVALID, "has expired")


def test_approval_lifetime_of_exactly_max_ttl_is_accepted(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = approval(world, config, ttl=config.approvals.max_ttl)
    assert_approved(approve(config, store, [token]))


def test_approval_lifetime_of_max_ttl_plus_one_is_refused(
    world: World, config: Config, store: SqliteStore
) -> None:
    token = approval(world, config, ttl=config.approvals.max_ttl + 1)
    assert_denied(approve(config, store, [token]), Reason.APPROVAL_INVALID, "lives longer than allowed")


def test_approval_whose_iss_is_not_the_keys_approver_is_refused(
    world: World, config: Config, store: SqliteStore
) -> None:
    # Signed by dana's key under her kid, claiming to be erik's approval.
    token = approval(world, config, "dana", extra_claims={"iss": "erik"})
    outcome = approve(config, store, [token])
    assert_denied(outcome, Reason.APPROVAL_INVALID, "iss is not its signing key's approver")


def test_approval_under_another_approvers_kid_is_refused(
    world: World, config: Config, store: SqliteStore
) -> None:
    # erik names himself in kid and iss, but the signature is dana's.
    token = approval(world, config, "erik", key=approver_key(world, "dana"))
    assert_denied(approve(config, store, [token]), Reason.APPROVAL_INVALID, "its signature is invalid")


@pytest.mark.parametrize("aud", ["payroll-api", "", None, [AUDIENCE]], ids=repr)
def test_approval_for_another_audience_is_refused(
    world: World, config: Config, store: SqliteStore, aud: object
) -> None:
    assert config.tasks.audience == AUDIENCE
    token = approval(world, config, extra_claims={"aud": aud})
    outcome = approve(config, store, [token])
    assert_denied(outcome, Reason.APPROVAL_INVALID, "for another audience")


def test_approval_by_the_agent_itself_is_refused(world: World, config: Config, store: SqliteStore) -> None:
    # A configured approver whose id is the agent's SPIFFE ID approves the agent's own request.
    key = ed25519.Ed25519PrivateKey.generate()
    agent_approver = Approver(
        id=BOT, name="the agent itself", key=key.public_key(), classes=frozenset({"credential_change"})
    )
    approvers = {**config.approvals.approvers, BOT: agent_approver}
    with_agent = dataclasses.replace(
        config, approvals=dataclasses.replace(config.approvals, approvers=approvers)
    )
    token = approval(world, with_agent, BOT, key=key)
    assert_denied(approve(with_agent, store, [token]), Reason.APPROVER_NOT_ALLOWED, "the agent")


# -- a request of several actions: the approver may approve each, and is none of its targets ----------
RESET_ALICE = Action("user.password.reset", "credential_change", "alice", reversible=False)


@pytest.mark.parametrize(
    ("second", "refused"),
    [
        (Action("user.password.reset", "credential_change", "erik", reversible=False), False),
        (Action("user.password.reset", "credential_change", "dana", reversible=False), True),  # herself
        (Action("user.update", "write", "alice"), True),  # a class dana may not approve
    ],
    ids=["other-target", "approver-is-the-second-target", "second-class-not-hers"],
)
def test_attack_an_approval_covers_every_action_of_the_request(
    world: World, config: Config, store: SqliteStore, second: Action, refused: bool
) -> None:
    outcome = approve(config, store, [approval(world, config)], derived=(RESET_ALICE, second))
    if refused:
        assert isinstance(outcome, Denied) and outcome.reason is Reason.APPROVER_NOT_ALLOWED, outcome
    else:
        assert_approved(outcome)
