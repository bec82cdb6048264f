"""The name rules themselves (``authz/names.py``): each function on a table of names."""

from __future__ import annotations

import pytest

from authz.names import NameRule, fold, key_skeleton, local_part, name_key, same_name

EXACT, FOLDING = NameRule.EXACT, NameRule.CASE_INSENSITIVE


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("carol", "carol"),
        ("CAROL", "carol"),
        ("\uff23arol", "carol"),  # fullwidth C: NFKC
        ("carol\u200b", "carol"),  # zero-width space: a format character, dropped
        ("Stra\u00dfe", "strasse"),  # full case folding, not lower()
        ("\u212aelvin", "kelvin"),  # Kelvin sign
    ],
)
def test_fold(name: str, folded: str) -> None:
    assert fold(name) == folded


@pytest.mark.parametrize(
    ("key", "skeleton"),
    [("user", "user"), ("userName", "username"), ("user_name", "username"), ("user-name", "username"),
     (" user ", "user"), ("u\u017fer", "user")],
)  # fmt: skip
def test_key_skeleton(key: str, skeleton: str) -> None:
    assert key_skeleton(key) == skeleton


@pytest.mark.parametrize(
    ("a", "b", "rule", "same"),
    [("carol", "carol", EXACT, True), ("carol", "CAROL", EXACT, False), ("carol", "CAROL", FOLDING, True),
     ("carol", "\uff23arol", FOLDING, True), ("carol", "caro", FOLDING, False)],
)  # fmt: skip
def test_same_name(a: str, b: str, rule: NameRule, same: bool) -> None:
    assert same_name(a, b, rule) is same


@pytest.mark.parametrize(
    ("name", "rule", "key"),
    [("CAROL", EXACT, "CAROL"), ("CAROL", FOLDING, "carol"), ("\uff23arol", EXACT, "\uff23arol"),
     ("\uff23arol", FOLDING, "carol")],
)  # fmt: skip
def test_name_key_is_the_name_under_exact_and_its_folded_form_otherwise(
    name: str, rule: NameRule, key: str
) -> None:
    assert name_key(name, rule) == key


@pytest.mark.parametrize(
    ("name", "local"),
    [("bob@example.org", "bob"), ("Bob@Example.org", "bob"), ("a@b@example.org", "a@b"), ("bob", None),
     ("@example.org", None), ("bob@", None), ("", None)],
)  # fmt: skip
def test_local_part_of_an_address(name: str, local: str | None) -> None:
    assert local_part(name) == local
