"""Route packs (``[[packs]]``): included by name under a prefix, held to every rule of the route
table — none may shadow another, the config's own routes included."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_world

from authz.config import ConfigError, load_config
from authz.config.packs import PACKS, load_pack
from authz.names import NameRule


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_world(tmp_path).config_path


def including(path: Path, pack: str) -> Path:
    path.write_text(path.read_text() + f"\n[[packs]]\n{pack.strip()}\n")
    return path


def test_a_packs_routes_join_the_table_under_its_prefix(config_path: Path) -> None:
    config = load_config(including(config_path, 'name = "scim2"\nprefix = "/scim/v2"'))
    patch = next(r for r in config.routes if r.method == "PATCH" and r.path == "/scim/v2/Users/{id}")
    assert (patch.pack, patch.names) == ("scim2", NameRule.CASE_INSENSITIVE)
    assert patch.line is not None and patch.derive is not None and patch.derive.reader == "scim-patch"
    assert config.actions["user.password.set"] == "credential_change"  # a rule's operation, too
    once = sum(r.pack == "scim2" for r in config.routes)
    twice = load_config(including(config_path, 'name = "scim2"\nprefix = "/other"'))  # two upstreams
    assert sum(r.pack == "scim2" for r in twice.routes) == 2 * once == 2 * len(load_pack("scim2").routes)


def test_the_config_may_set_the_upstreams_name_rule(config_path: Path) -> None:
    config = load_config(including(config_path, 'name = "scim2"\nprefix = "/scim"\nnames = "exact"'))
    assert {r.names for r in config.routes if r.pack == "scim2"} == {NameRule.EXACT}


@pytest.mark.parametrize(
    ("pack", "key", "problem"),
    [
        ('name = "ldap"', "packs[0].name", "is not a route pack"),
        ('name = "scim2"\nprefix = "scim"', "packs[0].prefix", "must be empty or /segment"),
        ('name = "scim2"\nprefix = "/scim/"', "packs[0].prefix", "must be empty or /segment"),
        ('name = "scim2"\nnames = "folded"', "packs[0].names", "must be one of"),
        ('name = "scim2"\nextra = 1', "packs[0]", r"unknown key\(s\): extra"),
    ],
)
def test_a_broken_inclusion_is_refused(config_path: Path, pack: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as info:
        load_config(including(config_path, pack))
    assert info.value.key == key


def test_attack_a_config_route_that_would_shadow_a_pack_route(config_path: Path) -> None:
    text = config_path.read_text().replace(
        '[[routes]]', '[[routes]]\nmethod = "PATCH"\npath = "/scim/v2/Users/{who}"\noperation = "user.read"\n'
        'class = "read"\nprincipal = { path_param = "who" }\n\n[[routes]]', 1,
    )  # fmt: skip
    config_path.write_text(text)
    with pytest.raises(
        ConfigError, match=r"scim2\.toml:\d+\) PATCH /scim/v2/Users/\{id\} can match the same"
    ):
        load_config(including(config_path, 'name = "scim2"\nprefix = "/scim/v2"'))


def test_attack_the_same_pack_twice_under_one_prefix_shadows(config_path: Path) -> None:
    including(config_path, 'name = "scim2"\nprefix = "/scim"')
    with pytest.raises(ConfigError, match="can match the same request"):
        load_config(including(config_path, 'name = "scim2"\nprefix = "/SCIM"'))  # a folding upstream


@pytest.mark.parametrize("name", PACKS)
def test_every_shipped_pack_says_where_it_was_checked_and_what_it_leaves_out(name: str) -> None:
    pack = load_pack(name)
    assert pack.description and pack.source and pack.not_covered
    assert len(pack.lines) == len(pack.routes)


def test_every_shipped_pack_joins_one_table_beside_the_others(config_path: Path) -> None:
    for name in PACKS:
        including(config_path, f'name = "{name}"\nprefix = "/{name}"')
    config = load_config(config_path)
    assert {r.pack for r in config.routes} == {None, *PACKS}
    assert {r.ids for r in config.routes if r.pack} == {"directory"}  # every pack names by the upstream's ids
    assert config.warnings == ()  # a shipped pack's classes are reviewed: no "is it a change?" noise


def test_the_config_may_say_the_upstream_names_accounts_as_tasks_do(config_path: Path) -> None:
    config = load_config(including(config_path, 'name = "scim2"\nprefix = "/scim"\nids = "names"'))
    assert {r.ids for r in config.routes} == {"names"}


def test_a_pack_that_names_accounts_by_ids_needs_a_directory(config_path: Path) -> None:
    text = config_path.read_text()
    start = text.index("[directory]")
    end = text.index("\n[", start + 1)
    without = text[:start] + text[end + 1 :]
    config_path.write_text(without)
    assert load_config(config_path).directory is None  # the config itself is fine without one
    with pytest.raises(ConfigError, match=r'ids = "directory"\): a \[directory\] must say whom each id is'):
        load_config(including(config_path, 'name = "scim2"\nprefix = "/scim"'))
    config_path.write_text(without)
    load_config(including(config_path, 'name = "keycloak"\nprefix = "/kc"\nids = "names"'))


def test_an_unknown_id_scheme_is_refused(config_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be one of") as info:
        load_config(including(config_path, 'name = "scim2"\nprefix = "/scim"\nids = "uuid"'))
    assert info.value.key == "packs[0].ids"


def test_an_intent_may_permit_an_operation_read_from_the_body(config_path: Path) -> None:
    """A SCIM password set is an attribute rule's operation, not a route's: intents can name it."""
    intent = (
        '\n[[intents]]\nid = "scim_recovery"\ndescription = "SCIM password set"\n'
        'operations = ["user.read", "user.password.set"]\n'
        'agents = ["spiffe://agents.example.org/agent/helpdesk-bot"]\n'
    )
    config_path.write_text(config_path.read_text() + intent)
    with pytest.raises(ConfigError, match=r"no route or attribute rule has operation\(s\) \['user.password"):
        load_config(config_path)
    config = load_config(including(config_path, 'name = "scim2"\nprefix = "/scim/v2"'))
    assert "user.password.set" in config.intents["scim_recovery"].operations
