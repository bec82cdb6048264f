"""The well-known endpoints (``authz/endpoints.py``): which requests they answer, and with which
stages — identity for a poll of an approval request, identity and the task token to complete a
task, whose revocation is left to stage 10."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import BOT, ROGUE, World, make_world

from authz.effects import Revoke
from authz.endpoints import WellKnown
from authz.model import Decision
from authz.reasons import Denied, Reason
from authz.stages.identity import IdentityStage
from authz.stages.task import TaskStage
from authz.store.queue import NewRequest
from authz.store.sqlite import SqliteStore
from authz.store.sqlite_queue import SqliteQueue
from authz.wellknown import COMPLETE_TASK_PATH, POLL_PATH, READY_PATH

REQUEST_ID = "apr-0123456789abcdef"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("endpoints"))


@pytest.fixture
def endpoints(world: World, tmp_path: Path) -> Iterator[WellKnown]:
    config, store = world.config(), SqliteStore(tmp_path / "state.db")
    yield WellKnown(IdentityStage(config.trust_domains, config.agents, store), TaskStage(config.tasks, store))
    store.close()


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # the world's certificates and tokens are made now


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("POST", COMPLETE_TASK_PATH, "_complete_task"),
        ("GET", POLL_PATH + REQUEST_ID, "_poll"),
        ("GET", POLL_PATH, "_poll"),  # a malformed id is the endpoint's to refuse
        ("GET", COMPLETE_TASK_PATH, None),
        ("POST", POLL_PATH + REQUEST_ID, None),
        ("POST", COMPLETE_TASK_PATH + "/", None),
        ("GET", "/v1/users/alice", None),
        ("GET", READY_PATH, "_ready"),
        ("POST", READY_PATH, None),
        ("GET", READY_PATH + "/", None),
    ],
)
def test_which_requests_an_endpoint_answers(
    endpoints: WellKnown, method: str, path: str, endpoint: str | None
) -> None:
    found = endpoints.route(method, path)
    assert (found.__name__ if found else None) == endpoint


def test_polling_needs_the_agents_identity_only(world: World, endpoints: WellKnown, now: dt.datetime) -> None:
    path = POLL_PATH + REQUEST_ID
    d = Decision("d-1", world.request("GET", path))
    endpoint = endpoints.route("GET", path)
    assert endpoint is not None
    endpoint(d, now)
    assert d.allowed and d.operation is not None and d.task is None
    assert (d.operation.name, d.operation.target, d.upstream_headers["x-agent-id"]) == (
        "approval_request.poll",
        REQUEST_ID,
        BOT,
    )


@pytest.mark.parametrize(
    "request_id", ["apr-0123", "apr-0123456789ABCDEF", "apr-0123456789abcdef/x", "", "../approvals"]
)
def test_a_poll_of_something_that_is_no_request_id_is_malformed(
    world: World, endpoints: WellKnown, now: dt.datetime, request_id: str
) -> None:
    path = POLL_PATH + request_id
    endpoint = endpoints.route("GET", path)
    assert endpoint is not None
    with pytest.raises(Denied) as info:
        endpoint(Decision("d-1", world.request("GET", path)), now)
    assert info.value.reason is Reason.MALFORMED_REQUEST


def test_a_poll_by_an_unregistered_agent_is_refused(
    world: World, endpoints: WellKnown, now: dt.datetime
) -> None:
    path = POLL_PATH + REQUEST_ID
    endpoint = endpoints.route("GET", path)
    assert endpoint is not None
    with pytest.raises(Denied) as info:
        endpoint(Decision("d-1", world.request("GET", path, svid=world.svid(ROGUE))), now)
    assert info.value.reason is Reason.UNKNOWN_AGENT


def test_completing_a_task_answers_itself_and_leaves_the_revocation_to_stage_10(
    world: World, endpoints: WellKnown, now: dt.datetime
) -> None:
    d = Decision("d-1", world.request("POST", COMPLETE_TASK_PATH, task=world.token(world.bot)))
    endpoint = endpoints.route("POST", COMPLETE_TASK_PATH)
    assert endpoint is not None
    endpoint(d, now)
    assert d.task is not None and d.operation is None
    assert (d.reason, d.status, d.upstream_headers) == (Reason.TASK_COMPLETED, 200, {})
    assert d.body_extra == {"task": d.task.task_id}
    assert d.effects.revoke == Revoke(d.task.task_id, reason="completed", by=BOT)


def test_completing_a_task_needs_its_token(world: World, endpoints: WellKnown, now: dt.datetime) -> None:
    endpoint = endpoints.route("POST", COMPLETE_TASK_PATH)
    assert endpoint is not None
    d = Decision("d-1", world.request("POST", COMPLETE_TASK_PATH))
    with pytest.raises(Denied) as info:
        endpoint(d, now)
    assert info.value.reason is Reason.TASK_TOKEN_MISSING and d.effects.revoke is None


def test_a_readiness_probe_is_answered_ready_for_a_registered_agent_only(
    world: World, endpoints: WellKnown, now: dt.datetime
) -> None:
    endpoint = endpoints.route("GET", READY_PATH)
    assert endpoint is not None
    d = Decision("d-1", world.request("GET", READY_PATH))
    endpoint(d, now)
    assert (d.reason, d.status, d.upstream_headers, d.operation) == (Reason.READY, 200, {}, None)
    with pytest.raises(Denied) as info:
        endpoint(Decision("d-2", world.request("GET", READY_PATH, svid=world.svid(ROGUE))), now)
    assert info.value.reason is Reason.UNKNOWN_AGENT


def filed_by(queue: SqliteQueue, agent: str, now: dt.datetime) -> str:
    new = NewRequest(
        agent=agent, owner="o", task_id="t1", on_behalf_of=None, intent="credential_recovery",
        justification=None, prompt_ref=None, operation="user.password.reset", op_class="credential_change",
        principal="alice", method="POST", path="/v1/users/alice/password/reset", body=b"", req="r",
        approvers_needed=1, expires=now.timestamp() + 300,
    )  # fmt: skip
    filed = queue.file(new, now=now.timestamp(), per_agent=10, window=60)
    assert filed is not None
    return filed[0]


def test_a_poll_answers_only_the_agent_whose_request_it_is(
    world: World, tmp_path: Path, now: dt.datetime
) -> None:
    config, store = world.config(), SqliteStore(tmp_path / "queue.db")
    try:
        queue = SqliteQueue(store)
        endpoints = WellKnown(
            IdentityStage(config.trust_domains, config.agents, store), TaskStage(config.tasks, store), queue
        )
        mine, theirs = (
            filed_by(queue, BOT, now),
            filed_by(queue, "spiffe://agents.example.org/agent/audit-bot", now),
        )
        d = Decision("d-1", world.request("GET", POLL_PATH + mine))
        endpoints._poll(d, now)
        assert d.allowed and d.operation is not None and d.operation.target == mine
        for other in (theirs, REQUEST_ID):  # another agent's, and none at all: the same answer
            with pytest.raises(Denied) as info:
                endpoints._poll(Decision("d-2", world.request("GET", POLL_PATH + other)), now)
            assert (info.value.reason, info.value.message) == (
                Reason.APPROVAL_REQUEST_UNKNOWN,
                f"no approval request {other} of yours",
            )
    finally:
        store.close()
