"""JSON read one way only (``authz/strict_json.py``): the reading every parser agrees on, or a
refusal that says why in a phrase safe to show."""

from __future__ import annotations

import pytest

from authz.errors import AuthzError
from authz.strict_json import JsonRefused, loads


@pytest.mark.parametrize(
    ("raw", "document"),
    [
        (b'{"a": [1, 2.5, "x", null, true, false]}', {"a": [1, 2.5, "x", None, True, False]}),
        (b' \n{"nested": {"b": {}}}\t', {"nested": {"b": {}}}),  # whitespace around the document
        ('{"caf\u00e9": "\u2603"}'.encode(), {"caf\u00e9": "\u2603"}),
        (b'{"escaped": "\\u00e9\\ud83d\\ude00"}', {"escaped": "\u00e9\U0001f600"}),  # a proper pair
        (b'[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),  # one name in two objects is no duplicate
        (b"1.7976931348623157e308", 1.7976931348623157e308),  # the largest double
        (b'"text"', "text"),
    ],
    ids=["object", "whitespace", "utf-8", "escapes", "same-name-in-two-objects", "largest-double", "string"],
)
def test_plain_json_is_read(raw: bytes, document: object) -> None:
    assert loads(raw) == document


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b'{"a": "\xff"}', "is not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), "is not UTF-8"),  # json.loads(bytes) would guess UTF-16
        ('{"a": 1}'.encode("utf-32"), "is not UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "starts with a byte order mark"),
        (b'{"a": 1, "a": 2}', "has a duplicate member name"),
        (b'{"a": {"b": 1, "b": 1}}', "has a duplicate member name"),  # the same value twice, too
        (b'[{"ok": 1}, {"c": 1, "c": 2}]', "has a duplicate member name"),
        (b"[NaN]", "has NaN, which is not JSON"),
        (b'{"a": Infinity}', "has Infinity, which is not JSON"),
        (b"-Infinity", "has -Infinity, which is not JSON"),
        (b"1e400", "has a number out of range"),
        (b'{"a": -1.5e999}', "has a number out of range"),
        (b"", "is not JSON"),
        (b"{", "is not JSON"),
        (b'{"a": 1} {"b": 2}', "is not JSON"),
        (b"{'a': 1}", "is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),  # deep enough to exhaust the parser
    ],
    ids=[
        "invalid-utf-8", "utf-16", "utf-32", "byte-order-mark", "duplicate", "duplicate-nested",
        "duplicate-in-array", "nan", "infinity", "minus-infinity", "overflow", "negative-overflow",
        "empty", "truncated", "two-documents", "single-quotes", "recursion",
    ],
)  # fmt: skip
def test_what_is_refused_and_why(raw: bytes, phrase: str) -> None:
    with pytest.raises(JsonRefused) as info:
        loads(raw)
    assert str(info.value) == phrase


@pytest.mark.parametrize("raw", [b"\xff", b"{", b"[" * 100_000])
def test_a_refusal_carries_no_parser_traceback(raw: bytes) -> None:
    with pytest.raises(JsonRefused) as info:
        loads(raw)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_refusal_is_a_value_error_of_agent_authz() -> None:
    assert issubclass(JsonRefused, ValueError) and issubclass(JsonRefused, AuthzError)
