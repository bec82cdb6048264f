"""The sample API's readings: what each lenient upstream makes of one request (no Envoy).

Were agent-authz to let one of these through, the API would act on another account or
operation than the one audited, and the e2e ``acted_as_audited`` check fails.
"""

from __future__ import annotations

import pytest

from authz.demo.sample_api import Reading, ReadingDirectory, read_call

RESET = "user.password.reset"
RESET_PATH, FORM = "/v1/users/alice/password/reset", {"content-type": "application/x-www-form-urlencoded"}
TWICE = b'{"user": "bob", "user": "carol"}'
READINGS = [
    ("strict", "POST", RESET_PATH, {}, b'{"User": "bob"}', ("POST", RESET, "alice", "alice")),
    ("keys", "POST", RESET_PATH, {}, b'{"User": "bob"}', ("POST", RESET, "bob", "bob")),
    ("keys", "POST", RESET_PATH, {}, '{"u\u017fer": "bob"}'.encode(), ("POST", RESET, "bob", "bob")),
    ("keys", "POST", RESET_PATH, {}, '{"\uff55ser": "bob"}'.encode(), ("POST", RESET, "bob", "bob")),
    ("keys", "POST", RESET_PATH, {}, b'{"data": [{"user": "bob"}]}', ("POST", RESET, "bob", "bob")),
    ("keys", "POST", RESET_PATH + "?USER=carol", {}, b"", ("POST", RESET, "carol", "carol")),
    ("keys", "POST", RESET_PATH, FORM, b"user=bob", ("POST", RESET, "bob", "bob")),
    ("strict", "POST", RESET_PATH, {}, TWICE, ("POST", RESET, "carol", "carol")),  # Python: the last
    ("duplicates", "POST", RESET_PATH, {}, TWICE, ("POST", RESET, "bob", "bob")),
    ("override", "GET", "/v1/groups/staff/members/alice", {"x-http-method-override": "DELETE"}, b"",
     ("DELETE", "group.member.remove", "alice", "alice")),
    ("override", "POST", "/v1/users/alice?_method=GET", {}, b"", ("GET", "user.read", "alice", "alice")),
    ("override", "GET", "/v1/users/alice", {"x-original-url": "/v1/users/bob"}, b"",
     ("GET", "user.read", "bob", "bob")),
    ("strict", "POST", "/v1/users/CAROL/password/reset", {}, b"", ("POST", RESET, "CAROL", None)),
    ("names", "POST", "/v1/users/CAROL/password/reset", {}, b"", ("POST", RESET, "CAROL", "carol")),
    ("names", "POST", "/v1/users/%C5%BFvc-backup/password/reset", {}, b"",
     ("POST", RESET, "\u017fvc-backup", "svc-backup")),
    ("paths", "POST", "/V1/users/alice;x=1/password/reset/", {}, b"", ("POST", RESET, "alice", "alice")),
    ("paths", "GET", "/v1/users/bob/..%2Falice", {}, b"", ("GET", "user.read", "alice", "alice")),
    ("strict", "GET", "/v1/users/bob/..%2Falice", {}, b"", ("GET", None, None, None)),
]  # fmt: skip


@pytest.mark.parametrize(("reading", "method", "target", "headers", "body", "executed"), READINGS)
def test_each_reading_of_the_sample_api(
    reading: str, method: str, target: str, headers: dict[str, str], body: bytes, executed: tuple[object, ...]
) -> None:
    directory = ReadingDirectory(reading=Reading.parse(reading))
    parsed, _, call = read_call(directory, method, target, headers, body)
    assert (parsed.method, call.operation, call.user, call.account) == executed
