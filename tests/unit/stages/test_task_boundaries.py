"""Every limit of the task token (stage 3) checks, pinned at its boundary: the last accepted value
and the first refused one. Time is always injected (approval tokens: ``test_approval_boundaries.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from factories import BOT, TRUST_DOMAIN
from tokens import AUDIENCE, ISSUER, KID, T0, Issuer

from authz.config import TasksConfig
from authz.reasons import Denied, Reason
from authz.stages.task import TaskStage
from authz.store.sqlite import SqliteStore
from authz.tokens.task import Task, thumbprint
from unit.stages.boundaries import LEEWAY, MAX_TTL, SVID, assert_denied, of_length

ISSUER_KEY = ed25519.Ed25519PrivateKey.generate()
PLANNER = f"spiffe://{TRUST_DOMAIN}/agent/planner"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def task_settings(**overrides: object) -> TasksConfig:
    values: dict[str, object] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": {kid: ISSUER_KEY.public_key() for kid in (KID, f"{KID}x", f"{KID}xy")},
        "algorithms": frozenset({"EdDSA"}),
        "max_ttl": MAX_TTL,
        "leeway": LEEWAY,
        "max_token_bytes": 4096,
        "max_delegation_depth": 2,
    }
    values.update(overrides)
    return TasksConfig(**values)  # type: ignore[arg-type]


def task_token(kid: str = KID, **overrides: object) -> str:
    return Issuer(key=ISSUER_KEY, kid=kid).token(SVID, BOT, **overrides)


def task_outcome(store: SqliteStore, token: str, now: int, **settings: object) -> Denied | Task:
    """The task, or the deny; a fresh stage each time, so no cached verification is involved."""
    stage = TaskStage(task_settings(**settings), store)
    try:
        return stage.verify(token, BOT, thumbprint(SVID.cert), now)
    except Denied as denied:
        return denied


def assert_task(outcome: Denied | Task) -> None:
    assert isinstance(outcome, Task), outcome


def test_task_lifetime_of_exactly_max_ttl_is_accepted(store: SqliteStore) -> None:
    assert_task(task_outcome(store, task_token(ttl=MAX_TTL), T0 + 1))


def test_task_lifetime_of_max_ttl_plus_one_is_refused(store: SqliteStore) -> None:
    outcome = task_outcome(store, task_token(ttl=MAX_TTL + 1), T0 + 1)
    assert_denied(outcome, Reason.TASK_TOKEN_INVALID, "lives longer than the configured maximum")


def test_task_with_exp_equal_to_nbf_is_refused(store: SqliteStore) -> None:
    token = task_token(ttl=300, extra_claims={"nbf": T0 + 300})
    outcome = task_outcome(store, token, T0 + 300)
    assert_denied(outcome, Reason.TASK_TOKEN_INVALID, "validity window is empty")


def test_task_with_exp_one_second_after_nbf_is_accepted(store: SqliteStore) -> None:
    token = task_token(ttl=300, extra_claims={"nbf": T0 + 299})
    assert_task(task_outcome(store, token, T0 + 299))


def test_task_expired_by_exactly_the_leeway_is_accepted(store: SqliteStore) -> None:
    assert_task(task_outcome(store, task_token(ttl=300), T0 + 300 + LEEWAY))


def test_task_expired_by_the_leeway_plus_one_second_is_refused(store: SqliteStore) -> None:
    outcome = task_outcome(store, task_token(ttl=300), T0 + 300 + LEEWAY + 1)
    assert_denied(outcome, Reason.TASK_TOKEN_EXPIRED, "has expired")


# A token valid from T0 + 100 on, by its nbf or by its iat (each is checked against the leeway).
NOT_YET = {"nbf": {"nbf": T0 + 100}, "iat": {"iat": T0 + 100}}


@pytest.mark.parametrize("claim", sorted(NOT_YET))
def test_task_not_yet_valid_by_exactly_the_leeway_is_accepted(store: SqliteStore, claim: str) -> None:
    token = task_token(ttl=300, extra_claims=NOT_YET[claim])
    assert_task(task_outcome(store, token, T0 + 100 - LEEWAY))


@pytest.mark.parametrize("claim", sorted(NOT_YET))
def test_task_not_yet_valid_by_the_leeway_plus_one_second_is_refused(store: SqliteStore, claim: str) -> None:
    token = task_token(ttl=300, extra_claims=NOT_YET[claim])
    outcome = task_outcome(store, token, T0 + 100 - LEEWAY - 1)
    assert_denied(outcome, Reason.TASK_TOKEN_INVALID, "not valid yet")


def padded_task_token(length: int) -> str:
    return of_length(
        length,
        lambda kid, n: task_token(kid, extra_claims={"note": "x" * n}),
        [KID, f"{KID}x", f"{KID}xy"],
    )


def test_task_token_of_exactly_max_token_bytes_is_not_refused_for_its_size(store: SqliteStore) -> None:
    token = padded_task_token(4096)
    assert len(token) == task_settings().max_token_bytes
    assert_task(task_outcome(store, token, T0 + 1))


def test_task_token_one_byte_over_max_token_bytes_is_refused(store: SqliteStore) -> None:
    token = padded_task_token(4097)
    outcome = task_outcome(store, token, T0 + 1)
    assert_denied(outcome, Reason.TASK_TOKEN_INVALID, "larger than allowed")
    assert_task(task_outcome(store, token, T0 + 1, max_token_bytes=4097))  # its size was the only fault


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_delegation_depth_of_exactly_the_maximum_is_accepted(store: SqliteStore, limit: int) -> None:
    chain = [f"{PLANNER}-{i}" for i in range(limit - 1)]
    token = task_token(on_behalf_of="alice", delegation=chain) if limit else task_token()
    outcome = task_outcome(store, token, T0 + 1, max_delegation_depth=limit)
    assert_task(outcome)
    assert isinstance(outcome, Task) and outcome.delegation_depth == limit


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_delegation_depth_one_over_the_maximum_is_refused(store: SqliteStore, limit: int) -> None:
    token = task_token(on_behalf_of="alice", delegation=[f"{PLANNER}-{i}" for i in range(limit)])
    outcome = task_outcome(store, token, T0 + 1, max_delegation_depth=limit)
    assert_denied(outcome, Reason.TASK_TOKEN_INVALID, f"delegation chain deeper than {limit}")
