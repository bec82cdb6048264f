"""JSON read one way only: the reading every parser agrees on, or a refusal.

Used for token headers and claims (``authz/tokens/jws.py``) and request bodies
(``authz/stages/body.py``). Refused, with a reason safe to show: bytes that are not UTF-8
(``json.loads`` given bytes would guess UTF-16 or UTF-32), a byte-order mark, a member name
twice in one object (first or last wins, depending on the parser), ``NaN``/``Infinity`` and
numbers beyond a double (infinite to Python, an error or a huge decimal elsewhere), anything
that is not JSON, and nesting deep enough to exhaust the parser.
"""

from __future__ import annotations

import json
import math
from typing import Any

from authz.errors import AuthzError


class JsonRefused(AuthzError, ValueError):
    """Why the text was refused, as a phrase: "is not UTF-8", "has a duplicate member name"…"""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise JsonRefused("has a duplicate member name")
    return document


def _constant(name: str) -> Any:
    raise JsonRefused(f"has {name}, which is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("has a number out of range")
    return value


def loads(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("is not UTF-8") from None
    if text.startswith("\ufeff"):
        raise JsonRefused("starts with a byte order mark")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_finite)
    except JsonRefused:
        raise
    except (ValueError, RecursionError):
        raise JsonRefused("is not JSON") from None
