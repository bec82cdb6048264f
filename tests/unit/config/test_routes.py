"""The route table cannot shadow, body schemas are validated at load, and `config check` warns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_world

from authz.config import ConfigError, JsonType, load_config
from authz.devkit.pki import make_ca
from authz.names import NameRule


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_world(tmp_path).config_path


def first_route_at(text: str) -> int:
    return text.index("[[routes]]")


def with_route(path: Path, route: str, *, ahead: bool = True) -> Path:
    """The config with one more route, ahead of the others (or at the end)."""
    text = path.read_text()
    block = f"[[routes]]\n{route.strip()}\n\n"
    at = first_route_at(text) if ahead else len(text)
    path.write_text(text[:at] + block + text[at:])
    return path


SHADOWING = {
    "a read ahead of the reset (the reported hole)": (
        'method = "POST"\npath = "/v1/users/{who}/password/reset"\noperation = "user.read"\n'
        'class = "read"\nprincipal = { path_param = "who" }'
    ),
    "a literal that a {param} of another route matches": (
        'method = "GET"\npath = "/v1/users/carol"\noperation = "user.read"\nclass = "read"\n'
        'principal = { body_field = "user" }'
    ),
    "a {param} over another route's literal": (
        'method = "POST"\npath = "/v1/users/{user}/{what}/reset"\noperation = "user.read"\n'
        'class = "read"\nprincipal = { path_param = "user" }'
    ),
    "literals an upstream folding case takes as one": (
        'method = "POST"\npath = "/v1/Users/{user}/Password/Reset"\noperation = "user.read"\n'
        'class = "read"\nprincipal = { path_param = "user" }'
    ),
    "HEAD, answered by GET handlers": (
        'method = "HEAD"\npath = "/v1/users/{name}"\noperation = "user.read"\nclass = "read"\n'
        'principal = { path_param = "name" }'
    ),
}


@pytest.mark.parametrize("route", SHADOWING.values(), ids=SHADOWING.keys())
def test_attack_route_table_that_shadows(config_path: Path, route: str) -> None:
    with_route(config_path, route)
    with pytest.raises(ConfigError, match="can match the same request") as info:
        load_config(config_path)
    # Both routes are named, with their file and line.
    assert info.value.problem.count("routes[") == 2 and info.value.problem.count("agent-authz.toml:") == 2


def test_the_shadowing_message_names_lines(config_path: Path) -> None:
    with_route(config_path, SHADOWING["a read ahead of the reset (the reported hole)"])
    lines = config_path.read_text().splitlines()
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    first = lines.index("[[routes]]") + 1
    reset = next(i for i, line in enumerate(lines, 1) if "password/reset" in line and "{user}" in line) - 2
    assert f"agent-authz.toml:{first})" in str(info.value)
    assert f"agent-authz.toml:{reset})" in str(info.value)


def test_disjoint_templates_load(config_path: Path) -> None:
    with_route(
        config_path,
        'method = "POST"\npath = "/v1/users/{user}/password/change"\noperation = "user.password.reset"\n'
        'class = "credential_change"\nprincipal = { path_param = "user" }',
    )
    assert len(load_config(config_path).routes) == 7


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('body = { user = "text" }', "routes[0].body.user"),
        ('body = { user = "string", role = 3 }', "routes[0].body.role"),
        ('body = { user = "string", Role = "string", role = "string" }', "routes[0].body"),
        ('body = { user = "string", _method = "string" }', "routes[0].body"),
        ('body = { user = "string", items = [1] }', "routes[0].body.items"),
        ('body = { user = "integer" }', "routes[0].body.user"),
        ('body = { user = "string?" }', "routes[0].body.user"),
        ('body = { reason = "string" }', "routes[0].body"),  # the principal field undeclared
        ('body = { user = "string", User2 = "string", group = "string" }', "routes[0].body.group"),
        ('body = { user = "string", USER = "string" }', "routes[0].body"),
    ],
)
def test_a_broken_body_schema_is_refused(config_path: Path, body: str, key: str) -> None:
    with_route(
        config_path,
        f'method = "PUT"\npath = "/v1/groups/{{group}}/owner"\noperation = "group.member.add"\n'
        f'class = "privilege_change"\nprincipal = {{ body_field = "user" }}\n{body}',
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert info.value.key == key


def test_a_body_schema_is_read_into_types(config_path: Path) -> None:
    with_route(
        config_path,
        'method = "PUT"\npath = "/v1/groups/{group}/owner"\noperation = "group.member.add"\n'
        'class = "privilege_change"\nprincipal = { body_field = "user" }\n'
        'body = { user = "string", tags = "string[]", meta = { note = "string?" }, '
        'emails = [{ value = "string" }] }',
    )
    route = load_config(config_path).routes[0]
    assert route.body is not None and route.group_param == "group"
    fields = route.body.field_map
    assert fields["tags"] == JsonType("array", items=JsonType("string"))
    assert fields["meta"].field_map["note"] == JsonType("string", nullable=True)
    assert fields["emails"].items is not None and fields["emails"].items.field_map["value"].kind == "string"


def test_names_rule_from_the_upstream_and_per_route(config_path: Path) -> None:
    text = config_path.read_text().replace('names = "exact"', 'names = "case-insensitive"')
    config_path.write_text(
        text.replace('operation = "user.read"', 'operation = "user.read"\nnames = "exact"', 1)
    )
    routes = load_config(config_path).routes
    assert routes[0].names is NameRule.EXACT
    assert {r.names for r in routes[1:]} == {NameRule.CASE_INSENSITIVE}


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('names = "exact"', 'names = "folded"', "upstream.names"),
        ('unknown_targets = "deny"', 'unknown_targets = "ignore"', "directory.unknown_targets"),
        ('id = "erik"', 'id = "erik"\nprincipal = ""', "approvals.approvers[1].principal"),
        ('id = "erik"', 'id = "erik"\nprincipal = "Dana@Example.org"', "approvals.approvers[1].principal"),
        ('id = "erik"', 'id = "DANA"', "approvals.approvers[1].principal"),
        (
            'operation = "group.member.add"',
            'operation = "group.member.add"\ngroup = "team"',
            "routes[4].group",
        ),
        ("reversible = true\n", 'reversible = true\nallow_query = "yes"\n', "routes[0].allow_query"),
    ],
)
def test_bad_new_keys_are_named(config_path: Path, old: str, new: str, key: str) -> None:
    text = config_path.read_text()
    assert old in text, old
    config_path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert info.value.key == key


def test_attack_leaf_certificate_as_the_trust_bundle(config_path: Path, tmp_path: Path) -> None:
    leaf = make_ca("agents.example.org", is_ca=False, key_usage=["digital_signature"])
    (tmp_path / "pki" / "ca.crt").write_bytes(leaf.cert_pem)
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert info.value.key == "trust_domains[0].bundle"


# -- config check warnings --------------------------------------------------------------------------
def config_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "authz", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("route", "word"),
    [
        (
            'method = "POST"\npath = "/v1/users/{user}/secret"\noperation = "user.secret.set"\n'
            'class = "write"',
            "secret",
        ),
        (
            'method = "PUT"\npath = "/v1/users/{user}/roles"\noperation = "user.update"\nclass = "write"',
            "role",
        ),
        (
            'method = "POST"\npath = "/v1/users/{user}/touch"\noperation = "user.touch"\nclass = "read"',
            "changes state",
        ),
        (
            'method = "GET"\npath = "/v1/users/{user}/factors/reset"\noperation = "user.read"\n'
            'class = "read"',
            "reset",
        ),
    ],
)
def test_config_check_warns_of_a_change_classed_read_or_write(
    config_path: Path, route: str, word: str
) -> None:
    text = config_path.read_text()
    config_path.write_text(text.replace('"user.read", "user.password.reset"', '"user.read"', 1))
    with_route(config_path, route + '\nprincipal = { path_param = "user" }', ahead=False)
    result = config_check(config_path)  # the operation is declared in its route's class
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and word in result.stderr


def test_config_check_of_the_demo_config_has_no_warning(config_path: Path) -> None:
    result = config_check(config_path)
    assert result.returncode == 0 and result.stderr == ""


def test_config_check_warns_of_a_plaintext_listener_off_loopback_that_is_allowed(config_path: Path) -> None:
    text = config_path.read_text()
    allowed = 'listen = "0.0.0.0:9001"\nallow_plaintext = true'
    config_path.write_text(text.replace('listen = "127.0.0.1:9001"', allowed))
    result = config_check(config_path)
    assert result.returncode == 0 and "not a loopback address" in result.stderr


def test_delegation_depth_is_capped(config_path: Path) -> None:
    text = config_path.read_text()
    config_path.write_text(text.replace("max_delegation_depth = 2", "max_delegation_depth = 17"))
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert info.value.key == "tasks.max_delegation_depth"
