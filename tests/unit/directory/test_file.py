"""The directory in a JSON file (``authz/directory/file.py``): entries, aliases, names that fold
onto another entry, and a broken file refused at start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authz.directory import AmbiguousName, Group, Principal
from authz.directory.file import DirectoryFileError, FileDirectory
from authz.names import NameRule

EXACT, FOLDED = NameRule.EXACT, NameRule.CASE_INSENSITIVE


@pytest.fixture
def directory_file(tmp_path: Path) -> FileDirectory:
    path = tmp_path / "directory.json"
    principals = {
        "svc-payroll": {"kind": "service_account", "privileged": True, "groups": ["payroll-admins"]},
        "bob": {"kind": "human", "aliases": ["bob@example.org"]},
        "Dana": {"kind": "human"},
        "dana": {"kind": "human"},  # another account, told apart only by an exact upstream
    }
    groups = {"payroll-admins": {"privileged": True}, "staff": {"aliases": ["all-staff"]}}
    path.write_text(json.dumps({"principals": principals, "groups": groups}))
    return FileDirectory(path)


def test_file_directory(directory_file: FileDirectory) -> None:
    assert directory_file.lookup("svc-payroll") == Principal(
        "svc-payroll", True, "service_account", True, frozenset({"payroll-admins"})
    )
    assert directory_file.lookup("nobody") == Principal("nobody", exists=False)
    assert directory_file.lookup_group("payroll-admins") == Group("payroll-admins", True, True)
    assert directory_file.lookup_group("nobody") == Group("nobody", exists=False)


@pytest.mark.parametrize("rule", [EXACT, FOLDED])
def test_an_alias_names_the_same_entry(directory_file: FileDirectory, rule: NameRule) -> None:
    bob = directory_file.lookup("bob@example.org", rule)
    assert bob.name == "bob" and bob.names == {"bob", "bob@example.org"}
    assert directory_file.lookup_group("all-staff", rule).name == "staff"


@pytest.mark.parametrize(
    "name",
    ["SVC-PAYROLL", "Svc-Payroll", "\uff53\uff56\uff43-payroll", "svc-pay\u200broll", "svc-pay\u00adroll"],
)
def test_attack_name_that_folds_onto_a_known_principal(directory_file: FileDirectory, name: str) -> None:
    with pytest.raises(AmbiguousName):
        directory_file.lookup(name, EXACT)  # an upstream that folds would act on svc-payroll
    assert directory_file.lookup(name, FOLDED).name == "svc-payroll"


def test_a_look_alike_that_no_folding_maps_is_another_name(directory_file: FileDirectory) -> None:
    assert directory_file.lookup("svc\u2010payroll", FOLDED).exists is False  # U+2010 HYPHEN


def test_attack_group_name_that_folds_onto_a_privileged_group(directory_file: FileDirectory) -> None:
    with pytest.raises(AmbiguousName):
        directory_file.lookup_group("PAYROLL-ADMINS", EXACT)
    assert directory_file.lookup_group("PAYROLL-ADMINS", FOLDED).privileged


def test_names_that_fold_onto_two_entries_are_ambiguous(directory_file: FileDirectory) -> None:
    assert directory_file.lookup("dana", EXACT).name == "dana"  # exact: two accounts, told apart
    assert directory_file.lookup("Dana", EXACT).name == "Dana"
    for rule in (EXACT, FOLDED):
        with pytest.raises(AmbiguousName):
            directory_file.lookup("DANA", rule)
    with pytest.raises(AmbiguousName):
        directory_file.lookup("dana", FOLDED)  # a folding upstream cannot tell them apart


def test_two_entries_answering_to_one_name_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    principals = {"bob": {"kind": "human", "aliases": ["b"]}, "bert": {"kind": "human", "aliases": ["b"]}}
    path.write_text(json.dumps({"principals": principals}))
    with pytest.raises(DirectoryFileError, match="both answer to 'b'"):
        FileDirectory(path)


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"principals": []}', '{"principals": {"a": {"kind": "robot"}}}',
     '{"principals": {"a": {"kind": "human", "privileged": "yes"}}}',
     '{"principals": {"a": {"kind": "human", "groups": "staff"}}}',
     '{"principals": {"a": {"kind": "human", "aliases": "a2"}}}',
     '{"principals": {}, "groups": []}', '{"principals": {}, "groups": {"g": {"privileged": 1}}}'],
)  # fmt: skip
def test_a_broken_directory_file_is_refused_at_start(tmp_path: Path, text: str) -> None:
    path = tmp_path / "directory.json"
    path.write_text(text)
    with pytest.raises(DirectoryFileError):
        FileDirectory(path)
