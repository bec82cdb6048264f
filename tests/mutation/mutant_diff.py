"""Comparing a mutant with its original function (as Python ASTs): where they differ, and whether
every difference lies in message text (``is_message_text``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from message_text import Regions, is_text

_OPERATORS = (ast.boolop, ast.operator, ast.unaryop, ast.cmpop, ast.expr_context)


def differences(a: ast.AST, b: ast.AST) -> Iterator[tuple[ast.AST, ast.AST, str | None, int | None]]:
    """Where ``b`` differs from ``a``: (node of a, node of b, list field, index of a dropped element)."""
    if type(a) is not type(b):
        yield a, b, None, None
        return
    for name in a._fields:
        va, vb = getattr(a, name, None), getattr(b, name, None)
        if isinstance(va, _OPERATORS) or isinstance(vb, _OPERATORS):
            if type(va) is not type(vb):
                yield a, b, None, None  # operator nodes are shared singletons: the owner differs
        elif isinstance(va, ast.AST) and isinstance(vb, ast.AST):
            yield from differences(va, vb)
        elif isinstance(va, list) and isinstance(vb, list):
            if len(va) == len(vb):
                for x, y in zip(va, vb, strict=True):
                    if isinstance(x, _OPERATORS) or isinstance(y, _OPERATORS):
                        if type(x) is not type(y):
                            yield a, b, None, None
                    elif isinstance(x, ast.AST) and isinstance(y, ast.AST):
                        yield from differences(x, y)
                    elif x != y:
                        yield a, b, name, None
            else:
                yield a, b, name, _dropped(va, vb)
        elif isinstance(va, ast.AST) or isinstance(vb, ast.AST) or va != vb:
            yield a, b, None, None


def _dropped(longer: list[object], shorter: list[object]) -> int | None:
    """The index of the one element ``shorter`` lacks, if that is the whole difference."""
    if len(longer) != len(shorter) + 1:
        return None
    dump = [ast.dump(x) if isinstance(x, ast.AST) else repr(x) for x in longer]
    rest = [ast.dump(x) if isinstance(x, ast.AST) else repr(x) for x in shorter]
    for i in range(len(longer)):
        if dump[:i] + dump[i + 1 :] == rest:
            return i
    return None


def is_message_text(orig: ast.FunctionDef, mutant: ast.FunctionDef, regions: Regions) -> bool:
    diffs = list(differences(_unnamed(orig), _unnamed(mutant)))
    if not diffs:
        return False  # the same code: an equivalent mutant, not message text
    for node, other, field, dropped in diffs:
        if _may_raise(node, regions):
            return False  # e.g. '/' + x made '/' - x: the message then raises, and the decision changes
        if id(node) in regions.returned_text and not is_text(other):
            return False  # the returned message replaced by a non-string: None means "no refusal"
        if field is not None and dropped is not None:
            if not (isinstance(node, ast.Call) and field in ("args", "keywords")):
                return False
            if not regions.may_drop(node, field, dropped):
                return False
            node = getattr(node, field)[dropped]
        if not regions.inside(node):
            return False
    return True


def _may_raise(node: ast.AST, regions: Regions) -> bool:
    """Whether a change here can make evaluating the message raise: arithmetic, or an index."""
    if isinstance(node, ast.BinOp):
        return True
    current: ast.AST | None = node
    while current is not None:
        parent = regions.parent.get(id(current))
        if isinstance(parent, ast.Subscript) and parent.slice is current:
            return True
        current = parent
    return False


def _unnamed(func: ast.FunctionDef) -> ast.AST:
    """The function without its name: mutmut names each copy differently."""
    return ast.Tuple(elts=[func.args, *func.body, *(func.returns and [func.returns] or [])], ctx=ast.Load())
