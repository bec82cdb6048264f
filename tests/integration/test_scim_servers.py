"""The two real SCIM servers the e2e tests and the demo drive (``authz/devkit/scim.py``): started,
seeded, changed directly over HTTP (no Envoy), read back from their own storage — exactly the
changes made and nothing else — and stopped by their PIDs."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authz.devkit.scim import (
    CanailleServer,
    Scim2Server,
    ScimError,
    ScimServer,
    SeedGroup,
    SeedUser,
    fingerprint,
    user_body,
)

SERVERS: dict[str, type[ScimServer]] = {"scim2-server": Scim2Server, "canaille": CanailleServer}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USERS = (
    SeedUser("alice", "Alice-Old-1", emails=("alice@example.org",), phone_numbers=("+15550100",)),
    SeedUser("bob", "Bob-Pass-1", emails=("bob@example.org",)),
    SeedUser("carol", "Carol-Pass-1", active=False),
)
GROUPS = (SeedGroup("helpdesk", ("alice", "bob")),)


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScimServer]:
    with SERVERS[request.param](tmp_path / "scim.log") as started:
        yield started


def patch(server: ScimServer, user_id: str, op: dict[str, Any]) -> None:
    status, answer = server.request("PATCH", f"/Users/{user_id}", {"schemas": [PATCH_OP], "Operations": [op]})
    assert status in (200, 204), answer  # scim2-server: 204; Canaille: 200 and the user


def seeded_state(users: dict[str, str], groups: dict[str, str]) -> dict[str, Any]:
    """The state ``USERS`` and ``GROUPS`` should leave, given the ids the server chose."""
    member_of = {u: sorted(g.display_name for g in GROUPS if u in g.members) for u in users}
    return {
        "users": {
            u.user_name: {"id": users[u.user_name], "active": u.active,
                          "password_fingerprint": fingerprint(u.password or ""),
                          "emails": list(u.emails), "phoneNumbers": list(u.phone_numbers),
                          "groups": member_of[u.user_name]}
            for u in USERS
        },
        "groups": {g.display_name: {"id": groups[g.display_name], "members": sorted(g.members)}
                   for g in GROUPS},
    }  # fmt: skip


def test_the_state_shows_exactly_the_changes_made(server: ScimServer) -> None:
    ids = server.seed(USERS, GROUPS)
    before = server.state()
    assert before == seeded_state(ids.users, ids.groups)

    patch(server, ids.users["alice"], {"op": "replace", "path": "password", "value": "Alice-New-2"})
    patch(server, ids.users["bob"], {"op": "replace", "path": "active", "value": False})

    expected = copy.deepcopy(before)
    expected["users"]["alice"]["password_fingerprint"] = fingerprint("Alice-New-2")
    expected["users"]["bob"]["active"] = False
    assert server.state() == expected
    assert server.check_password("alice", "Alice-New-2")
    assert not server.check_password("alice", "Alice-Old-1")
    assert not server.check_password("alice", "alice-new-2")
    assert server.check_password("bob", "Bob-Pass-1")  # inactive, password unchanged
    assert server.check_password("carol", "Carol-Pass-1")
    assert not server.check_password("nobody", "Carol-Pass-1")

    pid, ports = server.pid, (server.port, server.state_port)
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_a_second_user_of_one_name_is_refused_or_the_state_refuses_to_hide_it(server: ScimServer) -> None:
    server.seed(USERS[:1])
    status, answer = server.request("POST", "/Users", user_body(SeedUser("alice", "Other-1")))
    if isinstance(server, Scim2Server):
        assert status == 409, answer
        assert list(server.state()["users"]) == ["alice"]
    else:  # Canaille's memory backend takes it
        assert status == 201, answer
        with pytest.raises(ScimError, match="two users named 'alice'"):
            server.state()


def test_a_bearer_token_guards_scim2_server(tmp_path: Path) -> None:
    with Scim2Server(tmp_path / "scim.log", bearer_token="t0ken") as server:
        assert server.seed(USERS[:1]).users.keys() == {"alice"}
        server.bearer_token = None
        assert server.request("GET", "/Users")[0] == 401


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_a_token_beginning_with_a_dash_still_starts_the_server(name: str, tmp_path: Path) -> None:
    # A random token_urlsafe() begins with "-" one time in 64; given as `--token -…` argparse took it
    # for an option and the server exited (CI, once).
    with SERVERS[name](tmp_path / "scim.log", bearer_token="-dash-first") as server:
        assert server.seed(USERS[:1]).users.keys() == {"alice"}
        server.bearer_token = "-another"
        assert server.request("GET", "/Users")[0] == 401
