"""Reading TOML tables strictly (``authz/config/table.py``): every key taken at most once, the
wrong type, an empty string and a leftover key each a ``ConfigError`` naming file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authz.config import ConfigError
from authz.config.table import Table, string_list, strings_or_empty

FILE = Path("/etc/agent-authz/agent-authz.toml")
NON_EMPTY = "must be a non-empty list of strings"
EACH_NON_EMPTY = "must be a list of non-empty strings"


def table(prefix: str = "tasks", **data: Any) -> Table:
    return Table(FILE, prefix, data)


def refusal(read: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read()
    assert info.value.file == str(FILE)
    return info.value


def test_a_table_that_is_not_a_table_is_refused() -> None:
    error = refusal(lambda: Table(FILE, "server", ["not", "a", "table"]))
    assert (error.key, error.problem) == ("server", "must be a table")


@pytest.mark.parametrize(
    ("read", "data", "key", "problem"),
    [
        (lambda t: t.text("issuer"), {}, "tasks.issuer", "is required"),
        (lambda t: t.text("issuer"), {"issuer": 1}, "tasks.issuer", "has the wrong type (int)"),
        (lambda t: t.text("issuer"), {"issuer": "  "}, "tasks.issuer", "must not be empty"),
        (lambda t: t.opt_str("url"), {"url": ""}, "tasks.url", "must not be empty"),
        (lambda t: t.flag("enforce", True), {"enforce": "yes"}, "tasks.enforce", "has the wrong type (str)"),
        (lambda t: t.integer("leeway", 30), {"leeway": True}, "tasks.leeway", "has the wrong type (bool)"),
        (lambda t: t.integer("leeway", 30), {"leeway": 1.5}, "tasks.leeway", "has the wrong type (float)"),
        (lambda t: t.integer("max_ttl", 900), {"max_ttl": 0}, "tasks.max_ttl", "must be at least 1"),
        (lambda t: t.integer("leeway", 30, minimum=0), {"leeway": -1}, "tasks.leeway", "must be at least 0"),
        (lambda t: t.tables("keys"), {"keys": {"kid": "a"}}, "tasks.keys", "has the wrong type (dict)"),
        (lambda t: t.tables("keys"), {"keys": ["kid"]}, "tasks.keys[0]", "must be a table"),
        (lambda t: t.table("keys"), {"keys": []}, "tasks.keys", "has the wrong type (list)"),
        (lambda t: string_list(t, "ops"), {}, "tasks.ops", "is required"),
        (lambda t: string_list(t, "ops"), {"ops": []}, "tasks.ops", NON_EMPTY),
        (lambda t: string_list(t, "ops"), {"ops": ["a", ""]}, "tasks.ops", NON_EMPTY),
        (lambda t: strings_or_empty(t, "ops"), {"ops": [1]}, "tasks.ops", EACH_NON_EMPTY),
    ],
    ids=[
        "required", "text-not-a-string", "text-blank", "optional-blank", "flag-not-a-bool", "bool-as-integer",
        "float-as-integer", "integer-below-one", "integer-below-minimum", "tables-not-a-list",
        "tables-item-not-a-table", "table-not-a-table", "list-required", "list-empty", "list-empty-string",
        "strings-not-strings",
    ],
)  # fmt: skip
def test_what_is_refused_names_its_key(read: Any, data: dict[str, Any], key: str, problem: str) -> None:
    error = refusal(lambda: read(table(**data)))
    expected = _EXPECTED.get(problem, "")  # a wrong type also says which type was expected
    assert (error.key, error.problem) == (key, problem + expected)
    assert str(error) == f"{FILE}: {key}: {problem}{expected}"


_EXPECTED = {
    "has the wrong type (int)": ": expected a string",
    "has the wrong type (str)": ": expected true or false",
    "has the wrong type (bool)": ": expected an integer",
    "has the wrong type (float)": ": expected an integer",
    "has the wrong type (dict)": ": expected a list",
    "has the wrong type (list)": ": expected a table",
}


@pytest.mark.parametrize(
    ("read", "data", "value"),
    [
        (lambda t: t.text("issuer"), {"issuer": "i"}, "i"),
        (lambda t: t.text("issuer", "default"), {}, "default"),
        (lambda t: t.text("note", nonempty=False), {"note": ""}, ""),
        (lambda t: t.opt_str("url"), {}, None),
        (lambda t: t.flag("enforce", True), {}, True),
        (lambda t: t.integer("leeway", 30, minimum=0), {"leeway": 0}, 0),
        (lambda t: t.integer("leeway", 30), {}, 30),
        (lambda t: string_list(t, "ops", ["user.read"]), {}, ["user.read"]),
        (lambda t: strings_or_empty(t, "ops"), {}, []),
    ],
)
def test_what_is_read(read: Any, data: dict[str, Any], value: object) -> None:
    assert read(table(**data)) == value


def test_a_relative_path_is_the_config_files_neighbour() -> None:
    t = table(bundle="pki/ca.crt", key="/keys/issuer.pub")
    assert (t.path("bundle"), t.path("key")) == (FILE.parent / "pki/ca.crt", Path("/keys/issuer.pub"))


def test_nested_tables_are_named_by_their_place() -> None:
    t = table(keys=[{"kid": "a"}, {"kid": ""}], store={"path": "state.db"})
    first, second = t.tables("keys")
    assert first.text("kid") == "a"
    assert refusal(lambda: second.text("kid")).key == "tasks.keys[1].kid"
    assert t.table("store").prefix == "tasks.store" and Table(FILE, "", {}).fail("x", "p").key == "x"


def test_each_key_is_taken_once_and_leftovers_are_refused() -> None:
    t = table(issuer="i", isuer="typo", extra=1)
    t.text("issuer")
    assert refusal(lambda: t.text("issuer")).problem == "is required"  # taken already
    error = refusal(t.done)
    assert (error.key, error.problem) == ("tasks", "unknown key(s): extra, isuer (did you mean issuer?)")


def test_a_leftover_at_the_top_level_is_named_so() -> None:
    assert refusal(Table(FILE, "", {"servr": {}}).done).key == "(top level)"
    Table(FILE, "", {}).done()
