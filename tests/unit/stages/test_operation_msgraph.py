"""The msgraph pack under /v1.0 (stage 2 alone): Microsoft's documented request shapes → the
actions they are, and the spellings, bodies and addressing forms that must not pass for others."""

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

CONFIG = '[[packs]]\nname = "msgraph"\nprefix = "/v1.0"\n'
JSON = {"content-type": "application/json"}
GRAPH = "https://graph.microsoft.com/v1.0"
USER = "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"
KIM = "kim@contoso.com"
MOBILE = "3179e48a-750b-4051-897c-87b9720928f7"  # the phoneMethodId of phoneType mobile
PASSWORD = "28c10230-6103-485e-b985-444c60001490"  # the password method's id, always
RESET = f"/users/{USER}/authentication/methods/{PASSWORD}/resetPassword"
TAP = f"/users/{USER}/authentication/temporaryAccessPassMethods"
GROUP = "02bd9fd6-8f93-4758-87c3-1fb73740a315"
MEMBER = "5f56ef9a-7d4c-4d1c-9c0e-3e2ae5a4d2e7"
APP = "fa3e2ea1-1a0d-4c6f-8d2c-2f6e1a0c5b37"
KEY_ID = "f0b0b335-1d71-4883-8f98-567911bfdca6"
PROOF = "eyJ0eXAiOiJ..."
ROUTES = read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(CONFIG)), CONFIG, NameRule.EXACT)
STAGE = OperationStage(ROUTES, 65536)


def read(method: str, path: str, body: Any = None) -> Operation:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return STAGE.resolve(method, "/v1.0" + path, JSON if raw else {}, raw)


def actions(operation: Operation) -> list[tuple[str, str, str, str | None]]:
    return [(a.name, a.op_class, a.target, a.group) for a in operation.actions]


def refused(method: str, path: str, body: Any = None, reason: Reason = Reason.MALFORMED_REQUEST) -> str:
    with pytest.raises(Denied) as denied:
        read(method, path, body)
    assert denied.value.reason is reason
    return str(denied.value)


def ref(kind: str, name: str) -> dict[str, str]:
    return {"@odata.id": f"{GRAPH}/{kind}/{name}"}


CRED, PRIV, KEY = "credential_change", "privilege_change", "key_export"
KIM_PHONE = f"/users/{KIM}/authentication/phoneMethods"
PHONE = {"phoneNumber": "+1 2065555555", "phoneType": "mobile"}
ADD_KEY = {"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": "MIIDYDCCAki..."}}
ROLE = {
    "@odata.type": "#microsoft.graph.unifiedRoleAssignment",
    "roleDefinitionId": "c2cf284d-6c41-4e6b-afac-4b80928c9034",
    "principalId": "f8ca5a85-489a-49a0-b555-0a6d81e56f0d",
    "directoryScopeId": "/",
}

# Request shapes from the Graph v1.0 reference pages named in the pack's source.
DOCUMENTED: list[tuple[str, str, Any, list[tuple[str, str, str, str | None]]]] = [
    ("GET", f"/users/{USER}", None, [("user.read", "read", USER, None)]),
    ("GET", "/users/AdeleV@contoso.com?$select=displayName,identities", None,
     [("user.read", "read", "AdeleV@contoso.com", None)]),
    ("PATCH", f"/users/{USER}", {"businessPhones": ["+1 425 555 0109"], "officeLocation": "18/2111"},
     [("user.phone_numbers.change", CRED, USER, None), ("user.update", "write", USER, None)]),
    ("PATCH", f"/users/{USER}", {"passwordProfile": {"forceChangePasswordNextSignIn": False,
                                                     "password": "xWwvJ]6NMw+bWH-d"}},
     [("user.password.set", CRED, USER, None)]),
    ("PATCH", f"/users/{USER}", {"accountEnabled": False}, [("user.disable", "write", USER, None)]),
    ("PATCH", f"/users/{USER}", {"accountEnabled": True}, [("user.enable", "write", USER, None)]),
    ("PATCH", f"/users/{USER}", {"officeLocation": "18/2111"}, [("user.update", "write", USER, None)]),
    ("PATCH", f"/users/{USER}", {"otherMails": ["bob@fabrikam.com"]},
     [("user.emails.change", CRED, USER, None)]),
    ("PATCH", f"/users/{USER}", {"userPrincipalName": "a@contoso.com"},
     [("user.username.change", CRED, USER, None)]),
    ("PATCH", f"/users/{USER}", {"userType": "Guest"}, [("user.type.change", PRIV, USER, None)]),
    ("DELETE", f"/users/{USER}", None, [("user.delete", "write", USER, None)]),
    ("POST", f"/users/{USER}/revokeSignInSessions", None, [("user.sessions.revoke", "write", USER, None)]),
    ("GET", f"/users/{KIM}/authentication/methods", None,
     [("user.authentication_methods.read", "read", KIM, None)]),
    ("POST", RESET, {"newPassword": "Cuyo5459"}, [("user.password.reset", CRED, USER, None)]),
    ("POST", KIM_PHONE, PHONE, [("user.phone_method.add", CRED, KIM, None)]),
    ("PATCH", f"{KIM_PHONE}/{MOBILE}", {"phoneNumber": "+1 2065555554", "phoneType": "mobile"},
     [("user.phone_method.update", CRED, KIM, None)]),
    ("DELETE", f"{KIM_PHONE}/{MOBILE}", None, [("user.phone_method.delete", CRED, KIM, None)]),
    ("POST", f"{KIM_PHONE}/{MOBILE}/enableSmsSignIn", None, [("user.sms_sign_in.enable", CRED, KIM, None)]),
    ("POST", f"{KIM_PHONE}/{MOBILE}/disableSmsSignIn", None, [("user.sms_sign_in.disable", CRED, KIM, None)]),
    ("POST", f"/users/{KIM}/authentication/emailMethods", {"emailAddress": KIM},
     [("user.email_method.add", CRED, KIM, None)]),
    ("POST", TAP,
     {"startDateTime": "2022-06-05T00:00:00.000Z", "lifetimeInMinutes": 60, "isUsableOnce": False},
     [("user.temporary_access_pass.create", KEY, USER, None)]),
    ("DELETE", f"/users/{KIM}/authentication/temporaryAccessPassMethods/{MOBILE}", None,
     [("user.temporary_access_pass.delete", CRED, KIM, None)]),
    ("DELETE", f"/users/{KIM}/authentication/fido2Methods/{MOBILE}", None,
     [("user.fido2_method.delete", CRED, KIM, None)]),
    ("DELETE", f"/users/{KIM}/authentication/microsoftAuthenticatorMethods/{MOBILE}", None,
     [("user.authenticator_method.delete", CRED, KIM, None)]),
    ("POST", f"/groups/{GROUP}/members/$ref", ref("directoryObjects", MEMBER),
     [("group.member.add", PRIV, MEMBER, GROUP)]),
    ("DELETE", f"/groups/{GROUP}/members/{MEMBER}/$ref", None,
     [("group.member.remove", PRIV, MEMBER, GROUP)]),
    ("POST", f"/groups/{GROUP}/owners/$ref", ref("users", MEMBER),
     [("group.owner.add", PRIV, MEMBER, GROUP)]),
    ("DELETE", f"/groups/{GROUP}/owners/{MEMBER}/$ref", None, [("group.owner.remove", PRIV, MEMBER, GROUP)]),
    ("POST", f"/applications/{APP}/addPassword",
     {"passwordCredential": {"displayName": "Password friendly name"}},
     [("application.password.add", KEY, APP, None)]),
    ("POST", f"/applications/{APP}/removePassword", {"keyId": KEY_ID},
     [("application.password.remove", CRED, APP, None)]),
    ("POST", f"/applications/{APP}/addKey", {**ADD_KEY, "passwordCredential": None, "proof": PROOF},
     [("application.key.add", CRED, APP, None)]),
    ("POST", f"/applications/{APP}/removeKey", {"keyId": KEY_ID, "proof": PROOF},
     [("application.key.remove", CRED, APP, None)]),
    ("POST", f"/servicePrincipals/{APP}/addPassword", {"passwordCredential": {"displayName": "x"}},
     [("service_principal.password.add", KEY, APP, None)]),
    ("POST", f"/servicePrincipals/{APP}/addKey",
     {"keyCredential": {"type": "X509CertAndPassword", "usage": "Sign", "key": "MIIDYDCCAki..."},
      "passwordCredential": {"secretText": "MKTr0w1..."}, "proof": PROOF},
     [("service_principal.key.add", CRED, APP, None)]),
    ("POST", "/roleManagement/directory/roleAssignments", ROLE,
     [("directory_role.assign", PRIV, "f8ca5a85-489a-49a0-b555-0a6d81e56f0d", None)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), DOCUMENTED, ids=[f"{m} {p[:60]}" for m, p, _, _ in DOCUMENTED]
)
def test_documented_requests_are_the_actions_they_do(
    method: str, path: str, body: Any, expected: list[tuple[str, str, str, str | None]]
) -> None:
    operation = read(method, path, body)
    assert actions(operation) == expected
    assert operation.gated == any(c in (CRED, PRIV, KEY) for _, c, _, _ in expected)


def test_credentials_handed_to_the_caller_are_key_exports() -> None:
    """A temporary access pass and an application secret come back in the response."""
    for method, path, body in [
        ("POST", TAP, {}),
        ("POST", f"/applications/{APP}/addPassword", None),
        ("POST", f"/servicePrincipals/{APP}/addPassword", {}),
    ]:
        operation = read(method, path, body)
        assert operation.op_class == KEY and operation.gated and not operation.reversible


def test_every_change_the_pack_does_not_gate_is_one_of_these() -> None:
    ungated = {op for op, c in route_actions(ROUTES).items() if c == "write"}
    assert ungated == {
        "user.update", "user.disable", "user.enable", "user.delete", "user.sessions.revoke",
        "me.update", "me.sessions.revoke", "graph.batch",  # refused routes
    }  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"PASSWORDPROFILE": {"password": "x"}, "officeLocation": "18/2111"},
        {"password_profile": {"password": "x"}, "jobTitle": "CEO"},
        {"Password-Profile": {"password": "x"}},
        {"passwordProfile.password": "x", "city": "Redmond"},
        {"officeLocation": "18/2111", "passwordprofile": None},
    ],
    ids=["upper", "snake", "kebab", "dotted", "cleared"],
)
def test_attack_a_password_profile_however_spelled_is_a_credential_change(body: dict[str, Any]) -> None:
    operation = read("PATCH", f"/users/{USER}", body)
    assert actions(operation)[0] == ("user.password.set", CRED, USER, None)
    assert operation.gated and not operation.reversible


@pytest.mark.parametrize("key", ["AccountEnabled", "ACCOUNTENABLED", "account_enabled", "Account-Enabled"])
def test_attack_a_disable_however_spelled_is_a_disable(key: str) -> None:
    body = {"displayName": "Alex", key: False}
    assert actions(read("PATCH", f"/users/{USER}", body)) == [
        ("user.update", "write", USER, None),
        ("user.disable", "write", USER, None),
    ]


def test_attack_password_and_disable_among_benign_changes_are_all_actions() -> None:
    body = {"city": "Redmond", "ACCOUNTENABLED": False, "passwordProfile": {"password": "x"}, "Mail": "a@b.c"}
    assert [a[0] for a in actions(read("PATCH", f"/users/{USER}", body))] == [
        "user.password.set", "user.emails.change", "user.update", "user.disable",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"accountEnabled": "false"}, "no rule of this route classifies"),
        ({"accountEnabled": 0}, "no rule of this route classifies"),
        ({"accountEnabled": None}, "no rule of this route classifies"),
        ({"onPremisesExtensionAttributes": {"accountEnabled": False}}, "may be read as an attribute"),
        ({"employeeOrgData": {"passwordProfile": {"password": "x"}}}, "may be read as an attribute"),
        ({"accountEnabled": True, "account_enabled": False}, "may be read as one key"),
        ({"city": "x", "id": "someone-else"}, "may be read as 'id'"),
        ({}, "the body does nothing"),
        (b"[]", "must be a JSON object"),
    ],
    ids=["string", "zero", "null", "nested", "nested-deep", "twice", "id", "empty", "array"],
)
def test_attack_user_updates_no_rule_can_classify_are_malformed(body: Any, message: str) -> None:
    assert message in refused("PATCH", f"/users/{USER}", body)


def test_a_user_update_without_a_body_is_refused() -> None:
    assert "what it does depends on it" in refused("PATCH", f"/users/{USER}")


@pytest.mark.parametrize(
    "body",
    [None, {}, {"newPassword": None}, {"NewPassword": "x"}, {"newPassword": "x", "forceChange": True}],
    ids=["no-body", "empty", "null", "case", "extra"],
)
def test_attack_a_reset_that_would_return_a_generated_password_is_refused(body: Any) -> None:
    refused("POST", RESET, body)


@pytest.mark.parametrize(
    ("body", "target"),
    [
        (ref("users", "alice@contoso.com"), "alice@contoso.com"),
        (ref("groups", "g-nested"), "g-nested"),
        ({"@ODATA.ID": f"{GRAPH}/directoryObjects/{MEMBER}"}, MEMBER),
        ({"@odata.id": f"https://graph.microsoft.com/beta/servicePrincipals/{APP}"}, APP),
    ],
    ids=["user-upn", "group", "key-case", "service-principal"],
)
def test_attack_the_member_an_odata_id_names_is_the_target(body: dict[str, str], target: str) -> None:
    operation = read("POST", f"/groups/{GROUP}/members/$ref", body)
    assert actions(operation) == [("group.member.add", PRIV, target, GROUP)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"@odata.id": f"{GRAPH}/directoryObjects('{MEMBER}')"}, "must be a directory object URL"),
        ({"@odata.id": f"directoryObjects/{MEMBER}"}, "must be a directory object URL"),
        ({"@odata.id": f"{GRAPH}/directoryObjects/{MEMBER}/"}, "must be a directory object URL"),
        ({"@odata.id": f"{GRAPH}/users/{MEMBER}/manager"}, "must be a directory object URL"),
        ({"@odata.id": f"http://graph.microsoft.com/v1.0/users/{MEMBER}"}, "must be a directory object URL"),
        ({"@odata.id": f"{GRAPH}/applications/{APP}"}, "must be a directory object URL"),
        ({"@odata.id": {"id": MEMBER}}, "must be a directory object URL"),
        ({**ref("users", MEMBER), "@odata.type": "#microsoft.graph.user"}, "must be a directory object URL"),
        ({"@id": f"{GRAPH}/users/{MEMBER}"}, "can name a principal for"),
        ({**ref("users", MEMBER), "displayName": "x"}, "can name a principal for"),
        ({**ref("users", MEMBER), "gid": "other-group"}, "may be read as 'gid'"),
        ({}, "the body does nothing"),
        (None, "what it does depends on it"),
    ],
    ids=["parens", "relative", "slash", "deeper", "http", "application", "object", "odata-type",
         "at-id", "extra-key", "group-param", "empty", "no-body"],
)  # fmt: skip
def test_attack_a_membership_body_that_names_no_exact_member_is_refused(body: Any, message: str) -> None:
    for kind in ("members", "owners"):
        assert message in refused("POST", f"/groups/{GROUP}/{kind}/$ref", body)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/roleManagement/directory/roleAssignments", {**ROLE, "principalId": None}, "must be a string"),
        ("/roleManagement/directory/roleAssignments", {k: v for k, v in ROLE.items() if k != "principalId"},
         "lacks 'principalId'"),
        ("/roleManagement/directory/roleAssignments", {**ROLE, "principal@odata.bind": f"{GRAPH}/users/x"},
         "not a key the route's body schema declares"),
        ("/roleManagement/directory/roleAssignments", {**ROLE, "principalID": "other"}, "may be read as"),
        (f"/applications/{APP}/addPassword", {"passwordCredential": {"secretText": "mine"}}, "declares"),
        (TAP, {"temporaryAccessPass": "mine"}, "declares"),
        (f"{KIM_PHONE}", {**PHONE, "PhoneNumber": "+1 2065555556"}, "may be read as one key"),
        (f"/users/{USER}/revokeSignInSessions", {"reason": "x"}, "takes no body"),
    ],
    ids=["null-principal", "no-principal", "bind", "principal-twice", "secret", "tap", "phone-twice", "body"],
)  # fmt: skip
def test_attack_bodies_outside_the_documented_shape_are_refused(path: str, body: Any, message: str) -> None:
    assert message in refused("POST", path, body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/me", None), ("PATCH", "/me", {"accountEnabled": False}),
     ("POST", "/me/revokeSignInSessions", None), ("POST", "/$batch", {"requests": []})],
)  # fmt: skip
def test_me_and_batch_are_refused_with_their_reason(method: str, path: str, body: Any) -> None:
    assert "is refused:" in refused(method, path, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/users('{USER}')"),
        ("POST", f"/users('{USER}')/revokeSignInSessions"),
        ("POST", "/applications(appId='00000003-0000-0000-c000-000000000000')/addPassword"),
        ("GET", f"/Users/{USER}"),
        ("POST", f"/users/{USER}/microsoft.graph.revokeSignInSessions"),
        ("POST", f"/users/{USER}/revokeSignInSessions()"),
        ("POST", RESET.replace(PASSWORD, PASSWORD.upper())),
        ("POST", f"/users/{USER}/authentication/methods/{MOBILE}/resetPassword"),
        ("GET", "/me/authentication/methods"),
        ("PATCH", f"/groups/{GROUP}"),
        ("DELETE", f"/groups/{GROUP}/members/$ref"),
    ],
)
def test_attack_alternate_addressing_matches_no_route(method: str, path: str) -> None:
    refused(method, path, reason=Reason.UNKNOWN_ROUTE)


@pytest.mark.parametrize(
    "path",
    [f"/users/{USER}?$expand=manager", f"/users/{USER}?$select=id&$filter=x", f"/users/{USER}?id=other"],
)
def test_attack_a_user_read_takes_select_only(path: str) -> None:
    refused("GET", path)


def test_the_pack_says_where_it_was_checked_and_what_it_leaves_out() -> None:
    pack = load_pack("msgraph")
    assert pack.description and "v1.0" in pack.source and pack.not_covered
    assert pack.names is NameRule.CASE_INSENSITIVE and len(pack.lines) == len(pack.routes)
    assert {r.pack for r in ROUTES} == {"msgraph"}
    assert {r.names for r in ROUTES} == {NameRule.CASE_INSENSITIVE}
    assert all(r.path.startswith("/v1.0/") for r in ROUTES)
