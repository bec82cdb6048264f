"""``derive`` and ``[[routes.attributes]]``: rules are validated at load, and no two can both
apply to one change of an attribute however it is spelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_world

from authz.config import AttributeRule, ConfigError, load_config

ROUTE = """
[[routes]]
method = "PATCH"
path = "/v1/accounts/{user}"
operation = "user.update"
class = "write"
principal = { path_param = "user" }
"""


RULE = '[[routes.attributes]]\nname = "a"\noperation = "x"\nclass = "write"'


def with_rules(tmp_path: Path, extra: str) -> Path:
    path = make_world(tmp_path).config_path
    path.write_text(path.read_text() + ROUTE + extra)
    return path


def test_rules_are_read(tmp_path: Path) -> None:
    config = load_config(with_rules(tmp_path, '''derive = "scim-patch"
[[routes.attributes]]
name = "active"
equals = false
ops = ["replace"]
operation = "user.disable"
class = "write"
'''))  # fmt: skip
    route = config.routes[-1]
    assert route.derive is not None and route.derive.reader == "scim-patch"
    assert route.derive.rules == (
        AttributeRule("active", "user.disable", "write", True, False, frozenset({"replace"}), None),
    )


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ('derive = "xml"', "derive", "must be one of"),
        (RULE, "attributes", "needs derive"),
        (f'derive = "attributes"\n{RULE.replace("x", "X")}', "attributes[0].operation", "lowercase"),
        (f'derive = "attributes"\n{RULE.replace("write", "admin")}', "attributes[0].class", "must be one of"),
        (f'derive = "attributes"\n{RULE}\nequals = "no"', "attributes[0].equals", "true or false"),
        (f'derive = "scim-patch"\n{RULE}\nops = ["move"]', "attributes[0].ops", "must name some of"),
        (f'derive = "attributes"\n{RULE}\nmembers = "dn"', "attributes[0].members", "must be one of"),
    ],
)  # fmt: skip
def test_a_broken_rule_is_refused(tmp_path: Path, extra: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as info:
        load_config(with_rules(tmp_path, extra))
    assert info.value.key.endswith(key)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ('name = "password"', 'name = "PASS_WORD"'),  # one attribute to a lenient upstream
        ('name = "active"\nequals = false', 'name = "Active"'),
        ('name = "members"\nops = ["add", "remove"]', 'name = "members"\nops = ["remove"]'),
    ],
)
def test_attack_two_rules_that_could_both_apply_are_refused(tmp_path: Path, first: str, second: str) -> None:
    rules = "".join(
        f'[[routes.attributes]]\n{r}\noperation = "user.op{i}"\nclass = "write"\n'
        for i, r in enumerate((first, second))
    )
    with pytest.raises(ConfigError, match="could both apply"):
        load_config(with_rules(tmp_path, f'derive = "scim-patch"\n{rules}'))


def test_rules_told_apart_by_value_or_op_load(tmp_path: Path) -> None:
    rules = """derive = "scim-patch"
[[routes.attributes]]
name = "active"
equals = false
operation = "user.disable"
class = "write"
[[routes.attributes]]
name = "active"
equals = true
operation = "user.enable"
class = "write"
"""
    derive = load_config(with_rules(tmp_path, rules)).routes[-1].derive
    assert derive is not None and [r.equals for r in derive.rules] == [False, True]


def test_attack_one_operation_with_two_classes_is_refused(tmp_path: Path) -> None:
    rules = 'derive = "attributes"\n' + RULE.replace('"x"', '"user.read"') + "\n"
    with pytest.raises(ConfigError, match="'user.read' has class 'read' and 'write'"):
        load_config(with_rules(tmp_path, rules))
