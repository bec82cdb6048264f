"""How names are compared: exactly, or the way a case-insensitive upstream compares them.

An upstream that folds case acts on ``carol`` when asked for ``CAROL``, ``Ｃarol`` or
``carol\\u200b``; Go's ``encoding/json`` matches the JSON key ``"uſer"`` (long s) to a field
``user``, and Kelvin sign ``K`` to ``k``. ``fold`` is the comparison such an upstream may make at
its most lenient: NFKC compatibility forms, Unicode full case folding, format characters
(zero-width joiners, soft hyphens, byte-order marks) dropped — Unicode's NFKC_Casefold,
close enough that every folding the upstreams above do is inside it.

``key_skeleton`` goes one step further for JSON keys: frameworks that accept ``userName``,
``user_name`` and ``user-name`` for one field (pydantic aliases, Jackson naming strategies,
SCIM readers that strip whitespace) read all of them as one key.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class NameRule(StrEnum):
    """How an upstream compares the names of principals and groups (per upstream or route)."""

    EXACT = "exact"
    CASE_INSENSITIVE = "case-insensitive"  # NFKC + Unicode case folding


_KEY_NOISE = re.compile(r"[\s_-]+")


def _drop_format_characters(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def fold(name: str) -> str:
    """The form under which a case-insensitive, compatibility-normalising reader compares names."""
    if name.isascii():
        return name.lower()
    once = unicodedata.normalize("NFKC", _drop_format_characters(name))
    return unicodedata.normalize("NFKC", _drop_format_characters(once.casefold()))


def key_skeleton(key: str) -> str:
    """What a lenient JSON reader may take a key to mean: folded, separators and spaces dropped."""
    return _KEY_NOISE.sub("", fold(key))


def same_name(a: str, b: str, rule: NameRule) -> bool:
    return a == b if rule is NameRule.EXACT else fold(a) == fold(b)


def name_key(name: str, rule: NameRule) -> str:
    """The form two names share exactly when ``rule`` calls them the same."""
    return name if rule is NameRule.EXACT else fold(name)


def local_part(name: str) -> str | None:
    """``bob`` of ``bob@example.org`` (folded); None for a name that is not an address."""
    local, at, domain = name.rpartition("@")
    return fold(local) if at and local and domain else None
