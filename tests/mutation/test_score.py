"""How ``make mutation`` tells message-text mutants from the rest (``message_text.py``,
``mutant_diff.py``)."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the modules beside this file

import message_text  # noqa: E402
import mutant_diff  # noqa: E402

EXCEPTIONS = frozenset({"ValueError", "JwsError"})
MODULE = '''
def _invalid(message):
    return Denied(Reason.BAD, message)

def _where(at, name):
    return f"{at}: {name}"

def check(value, limit):
    """Checks the value."""
    if value > limit:
        raise _invalid("too large")
    if value < 0:
        message = f"{value} is negative by {0 - value}"
        raise Denied(Reason.NEGATIVE, message, {"value": value})
    if value == 3:
        raise JwsError(_where("here", "three"))
    if value == 4:
        raise malformed("four is unreadable")  # imported from derive.attributes: a sink
    log.info("checked %s", value)
    return value
'''


def classify(mutated_line: str, original_line: str) -> bool:
    """Whether replacing ``original_line`` of MODULE's ``check`` by ``mutated_line`` is message text."""
    assert original_line in MODULE
    tree, mutant = ast.parse(MODULE), ast.parse(MODULE.replace(original_line, mutated_line))
    params = message_text.module_message_params(tree, EXCEPTIONS, "m.py")
    [orig] = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "check"]
    [changed] = [f for f in mutant.body if isinstance(f, ast.FunctionDef) and f.name == "check"]
    return mutant_diff.is_message_text(orig, changed, message_text.Regions(orig, EXCEPTIONS, params))


@pytest.mark.parametrize(
    ("original", "mutated"),
    [
        ('raise _invalid("too large")', 'raise _invalid("XXtoo largeXX")'),
        ('raise _invalid("too large")', "raise _invalid(None)"),  # the helper's message parameter
        (
            'message = f"{value} is negative by {0 - value}"',
            "message = None",
        ),  # a variable that is only the message
        ('raise JwsError(_where("here", "three"))', 'raise JwsError(_where("XXhereXX", "three"))'),
        ('raise JwsError(_where("here", "three"))', "raise JwsError()"),  # an exception needs no text
        ('raise malformed("four is unreadable")', 'raise malformed("XXfour is unreadableXX")'),
        ('log.info("checked %s", value)', 'log.info("XXchecked %sXX", value)'),
        ('"""Checks the value."""', '"Checks the value, mutated."'),
    ],
)
def test_message_text(original: str, mutated: str) -> None:
    assert classify(mutated, original)


@pytest.mark.parametrize(
    ("original", "mutated"),
    [
        ("if value > limit:", "if value >= limit:"),
        (
            'raise Denied(Reason.NEGATIVE, message, {"value": value})',
            'raise Denied(None, message, {"value": value})',
        ),
        (
            'raise Denied(Reason.NEGATIVE, message, {"value": value})',
            'raise Denied(Reason.NEGATIVE, {"value": value})',
        ),
        (
            'raise Denied(Reason.NEGATIVE, message, {"value": value})',
            "raise Denied(Reason.NEGATIVE, message, None)",
        ),
        ('raise _invalid("too large")', "raise _invalid()"),  # a required argument dropped: a TypeError
        ("return value", "return None"),
        ('f"{value} is negative by {0 - value}"', 'f"{value} is negative by {0 + value}"'),  # may raise
    ],
)
def test_not_message_text(original: str, mutated: str) -> None:
    assert not classify(mutated, original)


def test_exception_classes_follow_their_bases(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "errors.py").write_text(
        textwrap.dedent(
            """
            class Refused(ValueError): ...
            class Worse(Refused): ...
            class Carrying(Exception):
                def __init__(self, name, items): ...
            class Plain: ...
            """
        )
    )
    found = message_text.exception_classes(package)
    assert {"Refused", "Worse", "ValueError"} <= found and not {"Carrying", "Plain"} & found
