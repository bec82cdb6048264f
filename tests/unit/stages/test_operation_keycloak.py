"""The keycloak pack under /admin/realms/acme (stage 2 alone): the Admin REST API's documented
request shapes → the actions they are, and the spellings and bodies that must not pass for others."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authz.config.model import route_actions
from authz.config.packs import load_pack
from authz.config.routes import read_routes
from authz.config.table import Table
from authz.model import Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.operation import OperationStage

PREFIX = "/admin/realms/acme"
CONFIG = f'[[packs]]\nname = "keycloak"\nprefix = "{PREFIX}"\n'
JSON = {"content-type": "application/json"}
USER = "1c3f7a2e-8b4d-4f0a-9e61-2d5b8c7a9f10"
GROUP = "5a9d3c1b-7e2f-4b8a-a6d4-0c1e9f2b3a47"
CLIENT = "b7e4c2d9-1a3f-4e6b-8c5d-9f0a2b1c3d4e"
CREDENTIAL = "e2a1b3c4-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
ROLE = [{"id": "9f8e7d6c-5b4a-4321-9876-abcdef012345", "name": "admin"}]
ROUTES = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(CONFIG)), CONFIG, NameRule.EXACT)
STAGE = OperationStage(ROUTES, 65536)
CRED, PRIV, KEY = "credential_change", "privilege_change", "key_export"
U = f"/users/{USER}"


def read(method: str, path: str, body: Any = None) -> Operation:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return STAGE.resolve(method, PREFIX + path, JSON if raw else {}, raw)


def actions(operation: Operation) -> list[tuple[str, str, str, str | None]]:
    return [(a.name, a.op_class, a.target, a.group) for a in operation.actions]


def refused(method: str, path: str, body: Any = None, reason: Reason = Reason.MALFORMED_REQUEST) -> str:
    with pytest.raises(Denied) as denied:
        read(method, path, body)
    assert denied.value.reason is reason
    return str(denied.value)


def on_user(name: str, op_class: str) -> tuple[str, str, str, None]:
    return (name, op_class, USER, None)


def short(path: str) -> str:
    for uuid, name in ((USER, "U"), (GROUP, "G"), (CLIENT, "C"), (CREDENTIAL, "CR")):
        path = path.replace(uuid, name)
    return path


UPDATE, PASSWORD = on_user("user.update", "write"), on_user("user.credentials.set", CRED)
DISABLE = on_user("user.disable", "write")

# Request shapes from the Admin REST API reference (Users, Role Mapper, Clients) and its resources.
DOCUMENTED: list[tuple[str, str, Any, list[tuple[str, str, str, str | None]]]] = [
    ("GET", U, None, [on_user("user.read", "read")]),
    ("GET", f"{U}?userProfileMetadata=true", None, [on_user("user.read", "read")]),
    ("PUT", U, {"firstName": "Alice", "lastName": "Liddell"}, [UPDATE]),
    ("PUT", U, {"attributes": {"department": ["finance"]}}, [UPDATE]),
    ("PUT", U, {"enabled": False}, [DISABLE]),
    ("PUT", U, {"enabled": True}, [on_user("user.enable", "write")]),
    ("PUT", U, {"credentials": [{"type": "password", "value": "s3cret!", "temporary": False}]}, [PASSWORD]),
    ("PUT", U, {"requiredActions": ["UPDATE_PASSWORD", "CONFIGURE_TOTP"]},
     [on_user("user.required_actions.set", CRED)]),
    ("PUT", U, {"email": "alice@example.org", "emailVerified": False},
     [on_user("user.emails.change", CRED), on_user("user.email_verified.set", CRED)]),
    ("PUT", U, {"username": "alice2"}, [on_user("user.username.change", CRED)]),
    ("PUT", U, {"federationLink": "3f1c2d4e-ldap"}, [on_user("user.federation_link.change", CRED)]),
    ("PUT", U, {"realmRoles": ["admin"], "groups": ["/admins"]},
     [on_user("user.roles.change", PRIV), on_user("user.groups.change", PRIV)]),
    ("PUT", U, {"serviceAccountClientId": "billing"}, [on_user("user.service_account.change", PRIV)]),
    ("DELETE", U, None, [on_user("user.delete", "write")]),
    ("POST", f"{U}/logout", None, [on_user("user.sessions.revoke", "write")]),
    ("GET", f"{U}/sessions", None, [on_user("user.sessions.read", "read")]),
    ("PUT", f"{U}/reset-password", {"type": "password", "value": "n3w-Pass", "temporary": True},
     [on_user("user.password.reset", CRED)]),
    ("GET", f"{U}/credentials", None, [on_user("user.credentials.read", "read")]),
    ("DELETE", f"{U}/credentials/{CREDENTIAL}", None, [on_user("user.credential.remove", CRED)]),
    ("PUT", f"{U}/execute-actions-email?client_id=account&lifespan=3600", None,
     [on_user("user.execute_actions_email.send", CRED)]),
    ("PUT", f"{U}/reset-password-email", None, [on_user("user.password_reset_email.send", CRED)]),
    ("PUT", f"{U}/send-verify-email?client_id=account", None, [on_user("user.verify_email.send", "write")]),
    ("POST", f"{U}/federated-identity/github",
     {"identityProvider": "github", "userId": "583231", "userName": "octocat"},
     [on_user("user.federated_identity.link", CRED)]),
    ("DELETE", f"{U}/federated-identity/github", None, [on_user("user.federated_identity.unlink", CRED)]),
    ("GET", f"{U}/groups?briefRepresentation=false", None, [on_user("user.groups.read", "read")]),
    ("PUT", f"{U}/groups/{GROUP}", None, [("group.member.add", PRIV, USER, GROUP)]),
    ("DELETE", f"{U}/groups/{GROUP}", None, [("group.member.remove", PRIV, USER, GROUP)]),
    ("GET", f"{U}/role-mappings", None, [on_user("user.role_mappings.read", "read")]),
    ("GET", f"/clients/{CLIENT}/client-secret", None, [("client.secret.read", KEY, CLIENT, None)]),
    ("POST", f"/clients/{CLIENT}/client-secret", None, [("client.secret.rotate", CRED, CLIENT, None)]),
    ("GET", f"/clients/{CLIENT}/client-secret/rotated", None,
     [("client.rotated_secret.read", KEY, CLIENT, None)]),
    ("DELETE", f"/clients/{CLIENT}/client-secret/rotated", None,
     [("client.rotated_secret.invalidate", CRED, CLIENT, None)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), DOCUMENTED, ids=[f"{m} {short(p)}" for m, p, _, _ in DOCUMENTED]
)
def test_documented_requests_are_the_actions_they_do(
    method: str, path: str, body: Any, expected: list[tuple[str, str, str, str | None]]
) -> None:
    operation = read(method, path, body)
    assert actions(operation) == expected
    assert operation.gated == any(c in (CRED, PRIV, KEY) for _, c, _, _ in expected)


def test_secrets_handed_to_the_caller_are_key_exports_and_irreversible() -> None:
    for path in (f"/clients/{CLIENT}/client-secret", f"/clients/{CLIENT}/client-secret/rotated"):
        operation = read("GET", path)
        assert operation.op_class == KEY and operation.gated and not operation.reversible


def test_every_change_the_pack_does_not_gate_is_one_of_these() -> None:
    ungated = {op for op, c in route_actions(ROUTES).items() if c == "write"}
    assert ungated == {
        "user.update", "user.disable", "user.enable", "user.delete", "user.sessions.revoke",
        "user.verify_email.send", "user.create",  # refused
    }  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"firstName": "Al", "Credentials": [{"type": "password", "value": "x"}]},
        {"lastName": "B", "CREDENTIALS": [{"type": "password", "value": "x"}]},
        {"cred_entials": [{"type": "password", "value": "x"}], "email": "a@example.org"},
        {"Cred-Entials": [{"type": "otp", "secretData": '{"value":"JBSWY3DP"}'}]},
        {"credentials.value": "x", "firstName": "Al"},
        {"firstName": "Al", "credentials": []},
    ],
    ids=["title", "upper", "snake", "kebab-imported-otp", "dotted", "empty-list"],
)
def test_attack_credentials_however_spelled_are_a_credential_change(body: dict[str, Any]) -> None:
    operation = read("PUT", U, body)
    assert actions(operation)[0] == PASSWORD
    assert operation.gated and not operation.reversible


@pytest.mark.parametrize("key", ["Enabled", "ENABLED", "en_abled", "EN-ABLED", "enabled "])
def test_attack_a_disable_however_spelled_beside_a_benign_change_is_a_disable(key: str) -> None:
    assert actions(read("PUT", U, {"firstName": "Alice", key: False})) == [UPDATE, DISABLE]


def test_attack_credentials_and_a_disable_among_benign_changes_are_all_actions() -> None:
    body = {"firstName": "A", "ENABLED": False, "Credentials": [{"value": "x"}], "RequiredActions": []}
    assert [a[0] for a in actions(read("PUT", U, body))] == [
        "user.credentials.set", "user.required_actions.set", "user.update", "user.disable",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"enabled": "false"}, "no rule of this route classifies"),
        ({"enabled": 0}, "no rule of this route classifies"),
        ({"enabled": None}, "no rule of this route classifies"),
        ({"enabled": True, "Enabled": False}, "may be read as one key"),
        ({"attributes": {"email": ["mallory@example.org"]}}, "may be read as an attribute"),
        ({"attributes": {"USERNAME": ["mallory"]}, "firstName": "A"}, "may be read as an attribute"),
        ({"attributes": {"enabled": ["false"]}}, "may be read as an attribute"),
        ({"firstName": "A", "id": "0a1b2c3d-other-user"}, "may be read as 'id'"),
        ({"credentials": [{"id": CREDENTIAL, "type": "password", "value": "x"}]}, "may be read as 'id'"),
        ({}, "the body does nothing"),
        (b"[]", "must be a JSON object"),
    ],
    ids=["string", "zero", "null", "twice", "nested-email", "nested-username", "nested-enabled",
         "other-id", "credential-id", "empty", "array"],
)  # fmt: skip
def test_attack_user_updates_no_rule_can_classify_are_malformed(body: Any, message: str) -> None:
    assert message in refused("PUT", U, body)


def test_a_user_update_without_a_body_is_refused() -> None:
    assert "what it does depends on it" in refused("PUT", U)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (f"{U}/reset-password", {"type": "password", "value": "x", "Temporary": True}, "declared key"),
        (f"{U}/reset-password", {"type": "password", "value": 5}, "must be a string"),
        (f"{U}/reset-password", {"value": "x", "userLabel": "mine"}, "not a key the route's body"),
        (f"{U}/reset-password", {"value": "x", "id": "someone-else"}, "may be read as 'id'"),
        (f"{U}/federated-identity/github", {"identityProvider": "github", "userId": "1", "role": "x"},
         "not a key the route's body"),
        (f"{U}/logout", {"sessions": "all"}, "takes no body"),
        (f"/clients/{CLIENT}/client-secret", {"type": "secret", "value": "chosen-by-the-caller"},
         "takes no body"),
    ],
    ids=["key-case", "type", "extra", "id", "federated-extra", "logout-body", "chosen-secret"],
)  # fmt: skip
def test_attack_bodies_outside_the_documented_shape_are_refused(path: str, body: Any, message: str) -> None:
    method = "POST" if path.endswith(("logout", "secret", "github")) else "PUT"
    assert message in refused(method, path, body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"{U}/role-mappings/realm", ROLE),
        ("POST", f"{U}/role-mappings/clients/{CLIENT}", ROLE),
        ("PUT", f"{U}/execute-actions-email", ["UPDATE_PASSWORD"]),
    ],
    ids=["realm-roles", "client-roles", "actions-email"],
)
def test_gap_json_array_bodies_are_refused_until_the_server_reads_them(
    method: str, path: str, body: Any
) -> None:
    """Keycloak documents these bodies as arrays; this server reads only objects (fail closed)."""
    assert "must be a JSON object" in refused(method, path, body)


def test_a_role_mapping_route_names_the_user_whose_roles_change() -> None:
    """Body-less, as the role mapping would be read once arrays are: the user is the target."""
    operation = read("POST", f"{U}/role-mappings/clients/{CLIENT}")
    assert actions(operation) == [on_user("user.client_roles.add", PRIV)] and operation.gated


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"{U}/impersonation", None),
        ("POST", "/users", {"username": "mallory", "enabled": True}),
        ("DELETE", f"{U}/role-mappings/realm", None),
        ("DELETE", f"{U}/role-mappings/realm", ROLE),
        ("DELETE", f"{U}/role-mappings/clients/{CLIENT}", None),
    ],
    ids=["impersonation", "create", "realm-roles-all", "realm-roles-listed", "client-roles-all"],
)
def test_impersonation_creation_and_role_removals_are_refused_with_their_reason(
    method: str, path: str, body: Any
) -> None:
    assert "is refused:" in refused(method, path, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users?search=alice"),
        ("GET", "/users?username=alice&exact=true"),
        ("GET", f"/Users/{USER}"),
        ("PUT", f"{U}/disable-credential-types"),
        ("POST", f"{U}/credentials/{CREDENTIAL}/moveToFirst"),
        ("PUT", f"{U}/credentials/{CREDENTIAL}/userLabel"),
        ("POST", f"{U}/role-mappings"),
        ("GET", f"/clients/{CLIENT}"),
        ("PUT", f"/clients/{CLIENT}"),
        ("POST", f"/clients/{CLIENT}/registration-access-token"),
        ("DELETE", f"/attack-detection/brute-force/users/{USER}"),
        ("PUT", f"/groups/{GROUP}/members/{USER}"),
    ],
)
def test_attack_routes_the_pack_does_not_cover_are_unknown(method: str, path: str) -> None:
    refused(method, path, reason=Reason.UNKNOWN_ROUTE)


@pytest.mark.parametrize(
    "path",
    [
        f"{U}?briefRepresentation=false",
        f"{U}?id=0a1b2c3d-other",
        f"/clients/{CLIENT}/client-secret?client=other",
        f"{U}/execute-actions-email?user_id=other",
        f"{U}/groups?search=a;b",
    ],
)
def test_attack_query_parameters_outside_the_documented_ones_are_refused(path: str) -> None:
    method = "PUT" if "execute" in path else "GET"
    refused(method, path)


def test_a_path_word_keycloak_serves_elsewhere_reads_as_a_principal_of_that_name() -> None:
    """GET /users/count matches GET /users/{id}: a read of "count", which no task names."""
    assert actions(read("GET", "/users/count")) == [("user.read", "read", "count", None)]


def test_the_pack_says_where_it_was_checked_and_what_it_leaves_out() -> None:
    pack = load_pack("keycloak")
    assert pack.description and "UserResource.java" in pack.source and "docs-api" in pack.source
    assert pack.names is NameRule.CASE_INSENSITIVE and len(pack.lines) == len(pack.routes)
    assert any("impersonation" in line for line in pack.not_covered)
    assert {r.pack for r in ROUTES} == {"keycloak"}
    assert {r.names for r in ROUTES} == {NameRule.CASE_INSENSITIVE}
    assert all(r.path.startswith(f"{PREFIX}/") for r in ROUTES)


def test_the_pack_agrees_with_the_other_packs_on_every_shared_operations_class() -> None:
    """One operation, one class: a config may front Keycloak, SCIM and Graph at once."""
    text = CONFIG + '[[packs]]\nname = "scim2"\nprefix = "/scim/v2"\n'
    text += '[[packs]]\nname = "msgraph"\nprefix = "/v1.0"\n'
    routes = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(text)), text, NameRule.EXACT)
    classes = route_actions(routes)
    for operation in ("user.password.reset", "user.emails.change", "user.disable", "group.member.add"):
        assert classes[operation] == route_actions(ROUTES)[operation]
