"""Config errors say where (``authz/config/lines.py``): the line of the key, or of its table's
header when the key is missing; the type a wrongly typed key should have; the valid key a
misspelt one is nearest to."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_world

from authz.config import ConfigError, load_config
from authz.config.lines import header_line, line_of

TOML = """\
top = 1
[tasks]
issuer = "i"
"max_ttl" = 5

[[routes]]
method = "GET"
[[routes]]
method = "POST"
[tasks.keys]
kid = "k"
"""


def test_a_keys_line_in_its_own_table(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(TOML)
    assert (line_of(f, "", "top"), line_of(f, "", "issuer")) == (1, None)  # top level ends at [tasks]
    assert (line_of(f, "tasks", "issuer"), line_of(f, "tasks", "max_ttl")) == (3, 4)
    assert (line_of(f, "routes[0]", "method"), line_of(f, "routes[1]", "method")) == (7, 9)
    assert (line_of(f, "routes[2]", "method"), line_of(f, "tasks.keys", "kid")) == (None, 11)
    assert (header_line(f, "tasks"), header_line(f, "routes[1]"), header_line(f, "")) == (2, 8, None)
    assert line_of(tmp_path / "missing.toml", "tasks", "issuer") is None


def written(path: Path, start: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


def refused(path: Path, old: str, new: str) -> ConfigError:
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_a_misspelt_key_is_named_with_its_line_and_the_nearest_valid_one(tmp_path: Path) -> None:
    config = make_world(tmp_path).config_path
    error = refused(config, "max_ttl = 900", "max_tll = 900")
    assert "unknown key(s): max_tll (did you mean max_ttl?)" in str(error)
    line = written(config, "max_tll = 900")
    assert error.line == line and str(error).startswith(f"{config}:{line}: tasks: ")


def test_a_wrongly_typed_key_says_what_it_should_be(tmp_path: Path) -> None:
    config = make_world(tmp_path).config_path
    error = refused(config, "max_ttl = 900", 'max_ttl = "900"')
    assert error.problem == "has the wrong type (str): expected an integer"
    assert error.line == written(config, 'max_ttl = "900"')
