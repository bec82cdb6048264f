"""The okta pack: Okta Management API requests, shaped as Okta documents them, read into actions.

Request shapes come from Okta's Management API OpenAPI spec (okta/okta-management-openapi-spec,
dist/current): each operation's method, path, query parameters and request examples. Targets are
the raw path values (Okta ids, logins): mapping them to names is the config's, not the pack's.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authz.config.packs import load_pack
from authz.config.routes import read_routes
from authz.config.table import Table
from authz.model import Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.stages.operation import OperationStage

CONFIG = '[[packs]]\nname = "okta"\nprefix = "/api/v1"\n'
JSON = {"content-type": "application/json"}
USER = "00ub0oNGTSWTBKOLGLNR"
GROUP = "00g1emaKYZTWRYYRRTSK"
APP = "0oa1gjh63g214q0Hq0g4"
SECRET = "ocs2f4zrZbs8nUa7p0g4"
FACTOR = "mbl1nz9JHJGHWRKMTLHP"
ROLE = "irb1q92TFAHzySt3x0g4"
SCHEMA = Path(__file__).parents[3] / "policies" / "schema.cedarschema"


def okta_routes(config: str = CONFIG) -> Any:
    return read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(config)), config, NameRule.EXACT)


STAGE = OperationStage(okta_routes(), 65536)


def read(
    method: str, path: str, body: Any = None, stage: OperationStage = STAGE, prefix: str = "/api/v1"
) -> Operation:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return stage.resolve(method, prefix + path, JSON if raw else {}, raw)


def actions(operation: Operation) -> list[tuple[str, str, str, str | None]]:
    return [(a.name, a.op_class, a.target, a.group) for a in operation.actions]


def refused(method: str, path: str, body: Any = None) -> Denied:
    with pytest.raises(Denied) as denied:
        read(method, path, body)
    return denied.value


PROFILE = {
    "profile": {"firstName": "Isaac", "email": "isaac.brock@example.com", "mobilePhone": "555-415-1337"}
}
PASSWORD = {"credentials": {"password": {"value": "uTVM,TPw55"}}}
QUESTION = {"credentials": {"recovery_question": {"question": "How many roads?", "answer": "forty two"}}}
SMS = {"factorType": "sms", "provider": "OKTA", "profile": {"phoneNumber": "+1-555-415-1337"}}
TOKEN = {
    "factorType": "token",
    "provider": "RSA",
    "profile": {"credentialId": "dade.murphy@example.com"},
    "verify": {"passCode": "5275875498"},
}
CUSTOM_ROLE = {"type": "CUSTOM", "role": "cr0Yq6IJxGIr0ouum0g3", "resource-set": "iamoJDFKaJxGIr0oamd9g"}
OWN_SECRET = {"client_secret": "DRUFXGF9XbLnS9k-Sla3x3POBiIxDreBCdZuFs5B", "status": "ACTIVE"}
CRED, PROF = "user.credentials.set", "user.profile.change"
RESET, TEMP = "user.password.reset_link", "user.password.temp_issue"
CC, KE, PC = "credential_change", "key_export", "privilege_change"
U, S = f"/users/{USER}", f"/apps/{APP}/credentials/secrets"
Expected = tuple[str, str, str, str | None]


def act(operation: str, op_class: str, target: str = USER, group: str | None = None) -> Expected:
    return (operation, op_class, target, group)


# (method, path, body) → actions: (operation, class, target, group), the most demanding first
TABLE: list[tuple[str, str, Any, list[Expected]]] = [
    ("GET", U, None, [act("user.read", "read")]),
    ("GET", f"{U}?expand=blocks", None, [act("user.read", "read")]),
    ("GET", "/users/isaac.brock%40example.com", None, [act("user.read", "read", "isaac.brock@example.com")]),
    ("POST", U, PROFILE, [act(PROF, CC)]),
    ("POST", f"{U}?strict=true", PASSWORD, [act(CRED, CC)]),
    ("POST", U, QUESTION, [act(CRED, CC)]),
    ("POST", U, {**PROFILE, **PASSWORD}, [act(PROF, CC), act(CRED, CC)]),
    ("POST", U, {"realmId": "guo1bfiNtSnZYILxO0g4"}, [act("user.realm.change", PC)]),
    (
        "POST",
        U,
        {"realmId": "guo1bfiNtSnZYILxO0g4", **PASSWORD},
        [act(CRED, CC), act("user.realm.change", PC)],
    ),
    ("POST", U, {"status": "ACTIVE"}, [act("user.update", "write")]),
    ("PUT", f"{U}?strict=true", {**PROFILE, **PASSWORD}, [act("user.replace_all", CC)]),
    ("DELETE", f"{U}?sendEmail=true", None, [act("user.delete", "write")]),
    ("POST", f"{U}/lifecycle/activate?sendEmail=false", None, [act("user.activate", KE)]),
    ("POST", f"{U}/lifecycle/activate", None, [act("user.activate", KE)]),
    ("POST", f"{U}/lifecycle/reactivate?sendEmail=true", None, [act("user.reactivate", KE)]),
    ("POST", f"{U}/lifecycle/deactivate?sendEmail=true", None, [act("user.deactivate", "write")]),
    ("POST", f"{U}/lifecycle/suspend", None, [act("user.suspend", "write")]),
    ("POST", f"{U}/lifecycle/unsuspend", None, [act("user.unsuspend", "write")]),
    ("POST", f"{U}/lifecycle/unlock", None, [act("user.unlock", "write")]),
    ("POST", f"{U}/lifecycle/reset_password?sendEmail=false", None, [act(RESET, KE)]),
    ("POST", f"{U}/lifecycle/reset_password?sendEmail=true&revokeSessions=true", None, [act(RESET, KE)]),
    ("POST", f"{U}/lifecycle/reset_factors", None, [act("user.mfa.reset", CC)]),
    ("POST", f"{U}/lifecycle/expire_password", None, [act("user.password.expire", CC)]),
    ("POST", f"{U}/lifecycle/expire_password_with_temp_password?revokeSessions=true", None, [act(TEMP, KE)]),
    (
        "DELETE",
        f"{U}/sessions?oauthTokens=true&forgetDevices=false",
        None,
        [act("user.sessions.revoke", "write")],
    ),
    ("GET", f"{U}/factors", None, [act("user.factors.read", "read")]),
    ("GET", f"{U}/factors/{FACTOR}", None, [act("user.factors.read", "read")]),
    ("GET", f"{U}/factors/catalog", None, [act("user.factors.read", "read")]),
    ("POST", f"{U}/factors?activate=true&updatePhone=true", SMS, [act("user.factor.enroll", CC)]),
    ("POST", f"{U}/factors", TOKEN, [act("user.factor.enroll", CC)]),
    (
        "DELETE",
        f"{U}/factors/{FACTOR}?removeRecoveryEnrollment=true",
        None,
        [act("user.factor.unenroll", CC)],
    ),
    ("GET", f"{U}/roles?expand=targets/groups", None, [act("user.roles.read", "read")]),
    ("POST", f"{U}/roles", {"type": "SUPER_ADMIN"}, [act("user.role.assign", PC)]),
    ("POST", f"{U}/roles?disableNotifications=true", CUSTOM_ROLE, [act("user.role.assign", PC)]),
    ("DELETE", f"{U}/roles/{ROLE}", None, [act("user.role.unassign", PC)]),
    ("PUT", f"/groups/{GROUP}/users/{USER}", None, [act("group.member.add", PC, USER, GROUP)]),
    ("PUT", f"/groups/{GROUP}/users/{USER}", {}, [act("group.member.add", PC, USER, GROUP)]),
    ("DELETE", f"/groups/{GROUP}/users/{USER}", None, [act("group.member.remove", PC, USER, GROUP)]),
    ("GET", S, None, [act("app.client_secret.read", KE, APP)]),
    ("GET", f"{S}/{SECRET}", None, [act("app.client_secret.read", KE, APP)]),
    ("POST", S, {}, [act("app.client_secret.create", KE, APP)]),
    ("POST", S, OWN_SECRET, [act("app.client_secret.create", KE, APP)]),
    ("POST", f"{S}/{SECRET}/lifecycle/activate", None, [act("app.client_secret.activate", CC, APP)]),
    ("POST", f"{S}/{SECRET}/lifecycle/deactivate", None, [act("app.client_secret.deactivate", CC, APP)]),
    ("DELETE", f"{S}/{SECRET}", None, [act("app.client_secret.delete", CC, APP)]),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), TABLE, ids=[f"{m} {p}" for m, p, _, _ in TABLE]
)
def test_a_documented_request_is_read_into_its_actions(
    method: str, path: str, body: Any, expected: list[Expected]
) -> None:
    operation = read(method, path, body)
    assert actions(operation) == expected
    assert operation.op_class == expected[0][1]
    assert operation.gated == any(cls in (CC, KE, PC) for _, cls, _, _ in expected)


@pytest.mark.parametrize(
    "path",
    [
        "/lifecycle/reset_password?sendEmail=false",  # returns resetPasswordUrl
        "/lifecycle/expire_password_with_temp_password",  # returns tempPassword
        "/lifecycle/activate?sendEmail=false",  # returns activationToken
        "/lifecycle/reactivate",  # sendEmail defaults to false: returns the activation link
    ],
)
def test_a_call_that_hands_the_caller_a_way_in_is_an_irreversible_key_export(path: str) -> None:
    operation = read("POST", f"/users/{USER}{path}")
    assert operation.op_class == KE and operation.gated and not operation.reversible


def test_a_benign_profile_edit_is_still_a_credential_change_no_nested_rule_can_tell_apart() -> None:
    operation = read("POST", f"/users/{USER}", {"profile": {"title": "Vice President"}})
    assert actions(operation) == [(PROF, CC, USER, None)] and not operation.reversible


@pytest.mark.parametrize(
    "key",
    [
        "credentials",
        "Credentials",
        "CREDENTIALS",
        "cred_entials",
        "Cred-Entials",
        "credentials ",
        "ｃｒｅｄｅｎｔｉａｌｓ",
    ],
)
def test_attack_credentials_under_another_spelling_beside_a_benign_profile_edit(key: str) -> None:
    body = {"profile": {"title": "Vice President"}, key: {"password": {"value": "n3w-Passw0rd"}}}
    operation = read("POST", f"/users/{USER}", body)
    assert actions(operation) == [(PROF, CC, USER, None), (CRED, CC, USER, None)]
    assert operation.gated and not operation.reversible


@pytest.mark.parametrize("key", ["PROFILE", "Pro_File"])
def test_attack_a_profile_under_another_spelling_is_still_the_profile(key: str) -> None:
    assert actions(read("POST", f"/users/{USER}", {key: {"secondEmail": "attacker@example.net"}})) == [
        (PROF, CC, USER, None)
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"profile": {"title": "VP", "Credentials": {"password": {"value": "x"}}}},
            "may be read as an attribute",
        ),
        ({"credentials": {"password": {"value": "x"}}, "Credentials": {}}, "may be read as one key"),
        ({"profile": {"title": "VP"}, "type": {"id": "otyfnjfba4ye7pgjB0g4"}}, "may be read as 'id'"),
        ({"profile": {"title": "VP"}, "_method": "DELETE"}, "_method override"),
        ({}, "the body does nothing"),
        ([PASSWORD], "must be a JSON object"),
        (b'{"profile": {"title": "VP"}', "is not JSON"),
    ],
    ids=["nested", "two-spellings", "body-id", "method-override", "empty", "array", "truncated"],
)
def test_attack_an_update_body_the_rules_cannot_classify_is_malformed(body: Any, message: str) -> None:
    denied = refused("POST", f"/users/{USER}", body)
    assert denied.reason is Reason.MALFORMED_REQUEST and message in str(denied)


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", f"/users/{USER}", None, "what it does depends on it"),
        ("PUT", f"/users/{USER}", {}, "the body does nothing"),
        ("POST", f"/users/{USER}/factors", {}, "the body does nothing"),
        ("POST", f"/users/{USER}/factors", {**SMS, "userId": "00uOTHER"}, "may be read as 'user_id'"),
        ("POST", f"/users/{USER}/lifecycle/suspend", {"reason": "offboarding"}, "takes no body"),
        ("PUT", f"/groups/{GROUP}/users/{USER}", {"userId": "00uOTHER"}, "may be read as 'user_id'"),
        ("POST", f"/users/{USER}/roles", {"type": "SUPER_ADMIN", "scope": "org"}, "is not a key"),
        ("POST", f"/users/{USER}/roles", {"Type": "SUPER_ADMIN"}, "is not the declared key"),
        ("POST", f"/apps/{APP}/credentials/secrets", {"client_secret": 5}, "must be a string"),
    ],
)
def test_attack_other_bodies_no_route_accepts_are_malformed(
    method: str, path: str, body: Any, message: str
) -> None:
    denied = refused(method, path, body)
    assert denied.reason is Reason.MALFORMED_REQUEST and message in str(denied)


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("POST", f"/users/{USER}/lifecycle/reset_password?sendEmail=false&provider=FEDERATION", "'provider'"),
        ("POST", f"/users/{USER}/lifecycle/expire_password?tempPassword=true", "takes no query string"),
        ("POST", f"/users/{USER}/lifecycle/activate?sendEmail=true&id=00uOTHER", "'id'"),
        ("GET", f"/users/{USER}?expand=blocks&userId=00uOTHER", "'userId'"),
        ("POST", f"/users/{USER}/lifecycle/suspend?_method=DELETE", "takes no query string"),
        ("PUT", f"/groups/{GROUP}/users/{USER}?groupId=00gADMINS", "takes no query string"),
        ("DELETE", f"/users/{USER}/sessions?oauthTokens=true;forgetDevices=true", "';'"),
        ("GET", f"/apps/{APP}/credentials/secrets?limit=1", "takes no query string"),
    ],
)
def test_attack_a_query_parameter_the_route_does_not_take_is_refused(
    method: str, path: str, message: str
) -> None:
    denied = refused(method, path)
    assert denied.reason is Reason.MALFORMED_REQUEST and message in str(denied)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users?search=profile.department%20eq%20%22IT%22"),
        ("GET", "/users"),
        ("POST", "/users?activate=true"),
    ],
)
def test_a_list_a_search_or_a_create_is_refused_with_its_reason(method: str, path: str) -> None:
    body = {"profile": {"login": "new@example.com"}} if method == "POST" else None
    denied = refused(method, path, body)
    assert denied.reason is Reason.MALFORMED_REQUEST and "is refused" in str(denied)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/users/{USER}/lifecycle/delete"),
        ("POST", f"/users/{USER}/credentials/forgot_password?sendEmail=false"),
        ("POST", f"/users/{USER}/factors/{FACTOR}/lifecycle/activate"),
        ("PUT", f"/users/{USER}/roles/{ROLE}/targets/groups/{GROUP}"),
        ("POST", f"/apps/{APP}/credentials/keys/generate?validityYears=2"),
        ("POST", f"/Users/{USER}/lifecycle/reset_factors"),
    ],
)
def test_an_undocumented_or_uncovered_route_is_unknown(method: str, path: str) -> None:
    assert refused(method, path).reason is Reason.UNKNOWN_ROUTE


def test_me_is_taken_for_a_user_named_me() -> None:
    # Okta reads /users/me as the API token's own user; the pack cannot refuse one value of {id}
    # (not_covered): only a task naming 'me', and a directory knowing no 'me', stop it
    assert actions(read("GET", "/users/me")) == [("user.read", "read", "me", None)]


def test_the_pack_works_without_a_prefix_and_names_are_case_insensitive() -> None:
    routes = okta_routes('[[packs]]\nname = "okta"\nprefix = ""\n')
    assert {r.names for r in routes} == {NameRule.CASE_INSENSITIVE}
    stage = OperationStage(routes, 65536)
    operation = read("POST", f"/users/{USER}/lifecycle/reset_factors", stage=stage, prefix="")
    assert actions(operation) == [("user.mfa.reset", CC, USER, None)]


def test_the_pack_says_where_it_was_checked_and_what_it_leaves_out() -> None:
    pack = load_pack("okta")
    assert pack.description and "okta-management-openapi-spec" in pack.source
    assert pack.names is NameRule.CASE_INSENSITIVE and len(pack.lines) == len(pack.routes)
    assert any("sendEmail" in line for line in pack.not_covered)
    assert any("profile" in line for line in pack.not_covered)


def test_the_pack_sits_beside_scim2_and_keeps_the_default_schemas_classes() -> None:
    config = CONFIG + '[[packs]]\nname = "scim2"\nprefix = "/scim/v2"\n'
    routes = okta_routes(config)  # no shadowing, one class per operation across both packs
    classes = {r.operation: r.op_class for r in routes if r.pack == "okta"}
    classes |= {
        a.operation: a.op_class for r in routes if r.pack == "okta" and r.derive for a in r.derive.rules
    }
    declared = re.findall(r'action ((?:"[^"]+",?\s*)+) in \["([a-z_]+)"\]', SCHEMA.read_text())
    shared = {
        name: cls for names, cls in declared for name in re.findall(r'"([^"]+)"', names) if name in classes
    }
    assert shared and all(classes[name] == cls for name, cls in shared.items())
    assert "user.password.reset" not in classes  # a reset that returns its link is no credential_change
