"""``[directory]`` (``authz/config/directory.py``): kinds http, file and scim; a SCIM bearer token
only ever from ``token_file``; and the directory ``directory_from`` builds from the section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import make_world

from authz.config import ConfigError, DirectoryConfig, load_config
from authz.directory.file import FileDirectory
from authz.directory.http import HttpDirectory
from authz.directory.scim import SERVICE_TYPES, ScimDirectory, ScimRules
from authz.stages.context import directory_from

SCIM_URL = "https://iam.internal:8443/scim/v2"
TOKEN = "s3cret-bearer.token_42"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_world(tmp_path).config_path


def with_directory(config_path: Path, section: str) -> Path:
    """The config with its ``[directory]`` section replaced by ``section`` (its keys)."""
    text = config_path.read_text()
    start = text.index("[directory]\n")
    end = text.index("\n[", start)
    config_path.write_text(f"{text[:start]}[directory]\n{section.strip()}\n{text[end:]}")
    return config_path


def scim(config_path: Path, extra: str = "", token: bytes | None = f"  {TOKEN}\n".encode()) -> Path:
    """A scim section with url and (when ``token``) a token_file beside the config."""
    lines = f'kind = "scim"\nurl = "{SCIM_URL}"\n'
    if token is not None:
        (config_path.parent / "scim.token").write_bytes(token)
        lines += 'token_file = "scim.token"\n'
    return with_directory(config_path, lines + extra)


def refused(config_path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert info.value.file == str(config_path)
    return info.value


def test_a_scim_directory_loads_its_token_and_rules(config_path: Path) -> None:
    extra = """
service_types = ["robot", "daemon"]
privileged_roles = ["admin*"]
privileged_groups = ["*-admins", "root"]
ttl = 0
timeout_ms = 1500
max_concurrency = 3
reads_when_unavailable = "allow"
unknown_targets = "allow"
"""
    directory = load_config(scim(config_path, extra)).directory
    assert directory == DirectoryConfig(
        "scim", url=SCIM_URL, ttl=0, timeout_ms=1500, max_concurrency=3,
        reads_when_unavailable="allow", unknown_targets="allow", token=TOKEN,
        service_types=("robot", "daemon"), privileged_roles=("admin*",),
        privileged_groups=("*-admins", "root"),
    )  # fmt: skip
    assert directory is not None and directory.token == TOKEN  # read from the file, stripped
    assert TOKEN not in repr(directory)  # never shown


def test_a_scim_directory_needs_only_its_url(config_path: Path) -> None:
    directory = load_config(scim(config_path, token=None)).directory
    assert directory == DirectoryConfig("scim", url=SCIM_URL)
    assert directory is not None and directory.token is None  # an open server
    assert (directory.service_types, directory.privileged_roles, directory.privileged_groups) == (
        (),
        ("*",),
        (),
    )


@pytest.mark.parametrize(
    ("token_file", "problem"),
    [
        ('token = "inline"', "a token is never inline: put it in token_file"),
        ('token_file = "scim.token"\ntoken = "inline"', "a token is never inline: put it in token_file"),
    ],
)
def test_an_inline_token_is_refused(config_path: Path, token_file: str, problem: str) -> None:
    (config_path.parent / "scim.token").write_text(TOKEN)
    error = refused(with_directory(config_path, f'kind = "scim"\nurl = "{SCIM_URL}"\n{token_file}'))
    assert (error.key, error.problem) == ("directory.token", problem)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "must hold one bearer token"),
        (b" \n\t\n", "must hold one bearer token"),
        (b"two words\n", "must hold one bearer token"),
        (b"line-one\nline-two\n", "must hold one bearer token"),
        (b"\xff\xfe-not-utf-8", "cannot be read"),
    ],
)
def test_a_token_file_without_one_token_is_refused(config_path: Path, content: bytes, problem: str) -> None:
    error = refused(scim(config_path, token=content))
    assert error.key == "directory.token_file" and error.problem.startswith(problem)


@pytest.mark.parametrize(
    ("token_file", "problem"),
    [
        ('"missing.token"', "cannot be read: [Errno 2]"),
        ('"."', "cannot be read: [Errno 21]"),  # a folder: unreadable as a file, even to root
        ('""', "must not be empty"),
        ("42", "has the wrong type (int)"),
    ],
)
def test_an_unreadable_token_file_is_refused(config_path: Path, token_file: str, problem: str) -> None:
    error = refused(
        with_directory(config_path, f'kind = "scim"\nurl = "{SCIM_URL}"\ntoken_file = {token_file}')
    )
    assert error.key == "directory.token_file" and error.problem.startswith(problem)


@pytest.mark.parametrize(
    "url",
    [
        None,
        "ftp://iam.internal/scim/v2",
        "iam.internal/scim/v2",
        "https://",
        "https://iam.internal/scim/v2?tenant=1",
        "https://iam.internal/scim/v2#users",
        "https://iam.internal/scim/v2/Users/{name}",
    ],
)
def test_a_scim_url_that_is_no_http_base_url_is_refused(config_path: Path, url: str | None) -> None:
    section = 'kind = "scim"' if url is None else f'kind = "scim"\nurl = "{url}"'
    error = refused(with_directory(config_path, section))
    assert (error.key, error.problem) == (
        "directory.url",
        "must be the SCIM base URL, http(s)://host[:port]/path",
    )


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ('group_url = "http://iam/g/{name}"', "directory", "unknown key(s): group_url"),
        ('path = "directory.json"', "directory", "unknown key(s): path"),
        (
            'privileged_groups = "it-admins"',
            "directory.privileged_groups",
            "has the wrong type (str): expected a list",
        ),
        ("privileged_roles = [1]", "directory.privileged_roles", "must be a non-empty list of strings"),
        ('service_types = [""]', "directory.service_types", "must be a non-empty list of strings"),
        ("ttl = -1", "directory.ttl", "must be at least 0"),
        ("timeout_ms = 0", "directory.timeout_ms", "must be at least 1"),
        ('reads_when_unavailable = "maybe"', "directory.reads_when_unavailable", 'must be "deny" or "allow"'),
    ],
)
def test_bad_scim_keys_are_named(config_path: Path, extra: str, key: str, problem: str) -> None:
    error = refused(scim(config_path, extra))
    assert (error.key, error.problem) == (key, problem)


def test_an_unknown_kind_is_refused(config_path: Path) -> None:
    error = refused(with_directory(config_path, f'kind = "ldap"\nurl = "{SCIM_URL}"'))
    assert (error.key, error.problem) == ("directory.kind", "must be one of http, file, scim")


@pytest.mark.parametrize(
    "key", ['token_file = "scim.token"', 'privileged_groups = ["*-admins"]', 'token = "x"']
)
def test_scim_keys_belong_to_scim_only(config_path: Path, key: str) -> None:
    (config_path.parent / "scim.token").write_text(TOKEN)
    error = refused(with_directory(config_path, f'kind = "http"\nurl = "http://iam/u/{{name}}"\n{key}'))
    assert error.key == "directory" and error.problem.startswith("unknown key(s): ")


def test_http_and_file_directories_still_load(config_path: Path) -> None:
    file = load_config(config_path).directory  # make_world's: a file
    assert file is not None and (file.kind, file.path) == ("file", config_path.parent / "directory.json")
    http = load_config(
        with_directory(
            config_path, 'kind = "http"\nurl = "http://iam/u/{name}"\ngroup_url = "http://iam/g/{name}"'
        )
    ).directory
    assert http == DirectoryConfig("http", url="http://iam/u/{name}", group_url="http://iam/g/{name}")
    error = refused(with_directory(config_path, f'kind = "http"\nurl = "{SCIM_URL}"'))
    assert (error.key, error.problem) == ("directory.url", "must be an http(s) URL containing {name}")
    error = refused(with_directory(config_path, 'kind = "file"\npath = "missing.json"'))
    assert error.key == "directory.path"


def test_the_scim_directory_is_built_from_its_config(config_path: Path) -> None:
    extra = 'service_types = ["robot"]\nprivileged_groups = ["*-admins"]\n'
    extra += "ttl = 7\ntimeout_ms = 250\nmax_concurrency = 3"
    config = load_config(scim(config_path, extra)).directory
    assert config is not None
    directory = directory_from(config)
    assert isinstance(directory, ScimDirectory)
    assert directory._base == SCIM_URL
    assert directory._rules == ScimRules(("robot",), ("*",), ("*-admins",))
    lookups = directory._lookups
    assert (lookups._ttl, lookups._timeout, lookups._slots._value) == (7, 0.25, 3)  # type: ignore[attr-defined]
    assert lookups._headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_scim_directory_without_token_or_service_types_uses_the_defaults(config_path: Path) -> None:
    slash = with_directory(config_path, f'kind = "scim"\nurl = "{SCIM_URL}/"')  # a trailing slash
    config = load_config(slash).directory
    assert config is not None
    directory = directory_from(config)
    assert isinstance(directory, ScimDirectory) and directory._base == SCIM_URL
    assert directory._rules == ScimRules(SERVICE_TYPES, ("*",), ())
    assert "Authorization" not in directory._lookups._headers
    assert isinstance(directory_from(DirectoryConfig("http", url="http://iam/u/{name}")), HttpDirectory)
    entries = config_path.parent / "entries.json"
    entries.write_text(json.dumps({"principals": {"alice": {"kind": "human"}}}))
    assert isinstance(directory_from(DirectoryConfig("file", path=entries)), FileDirectory)


def test_an_empty_list_of_privileged_roles_says_none_is(config_path: Path) -> None:
    scim(config_path, "privileged_roles = []\nprivileged_groups = []")
    directory = load_config(config_path).directory
    assert directory is not None and (directory.privileged_roles, directory.privileged_groups) == ((), ())
