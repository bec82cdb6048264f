"""Which parts of a function are *message text*: what a mutant may change and still be left
out of the score (``score.py``).

Message-text mutants are found from the code, not marked in it: a mutant is one when
every place where its function differs from the original (compared as Python ASTs) lies in
*message text* of the original function:

- a docstring;
- the arguments of a log call (``log.info(…)``, ``logger.warning(…)`` …);
- the message argument of a *sink*: ``Denied(reason, message, …)`` and ``decision.deny(reason,
  message)`` (the second argument), any exception class without its own ``__init__``
  (``raise JwsError(f"…")``, ``ValueError("…")``: the first argument), ``ConfigError`` (all);
- a local variable all of whose uses are message text (``message = f"…"; raise Denied(…,
  message)``), and so on to a fixed point;
- an argument bound to a *message parameter*: a parameter of a function of the same module
  all of whose uses are message text (``_invalid(message)``, ``_decode(segment, part)`` where
  ``part`` only names the segment in errors);
- the whole body of a private *message function*: one whose every call in its module is
  message text (``body._unknown_key`` only builds the text of a ``malformed_request``);
- dropping (mutmut's argument removal) an argument that is message text.

So ``Denied(Reason.X, "XXmsgXX")``, ``Denied(Reason.X, None)`` and ``Denied(Reason.X)`` are
message-text mutants; ``Denied("msg")`` (the reason dropped), ``raise`` removed, or a changed
condition in front of the ``raise`` are not.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

#: Calls whose argument at these positions (or keywords) is message text.
SINK_ARGS: dict[str, tuple[frozenset[int], frozenset[str]]] = {
    "Denied": (frozenset({1}), frozenset({"message"})),  # Denied(reason, message, extra, stage)
    "deny": (frozenset({1}), frozenset({"message"})),  # Decision.deny(reason, message)
    "ConfigError": (frozenset({0, 1, 2}), frozenset({"file", "key", "problem"})),
    "malformed": (frozenset({0}), frozenset({"message"})),  # derive.attributes.malformed(message): a Denied
}
#: Exception classes with an ``__init__`` of their own whose arguments are data, not text.
DATA_EXCEPTIONS = frozenset({"AmbiguousName"})
BUILTIN_EXCEPTIONS = frozenset(
    {"Exception", "ValueError", "TypeError", "RuntimeError", "KeyError", "LookupError", "AssertionError",
     "OSError", "UnicodeError", "NotImplementedError"}
)  # fmt: skip
#: Functions whose result is a message or None (None: no refusal); their callers use the text
#: and its truthiness only, and no string mutant of mutmut's makes a non-empty string empty.
MESSAGE_RETURNS: dict[str, frozenset[str]] = {
    "authz/duties.py": frozenset({"refusal"}),  # why an approver may not approve: approver_not_allowed
}
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
LOGGERS = frozenset({"log", "logger", "_log", "_logger", "LOG", "LOGGER", "logging"})


def exception_classes(package: Path) -> frozenset[str]:
    """Names of the exception classes defined in ``package`` (bases followed by name)."""
    bases: dict[str, set[str]] = {}
    custom_init: set[str] = set()
    for path in package.rglob("*.py"):
        if "_proto" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_simple_name(b) or "" for b in node.bases)
                if any(isinstance(s, ast.FunctionDef) and s.name == "__init__" for s in node.body):
                    custom_init.add(node.name)
    found = set(BUILTIN_EXCEPTIONS)
    changed = True
    while changed:
        changed = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                changed = True
    return frozenset(found - custom_init - DATA_EXCEPTIONS)


def _simple_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


@dataclasses.dataclass(frozen=True)
class MessageParams:
    """Per function name of a module: its message parameters (positions counted without self)."""

    positions: dict[str, frozenset[int]]
    names: dict[str, frozenset[str]]
    message_functions: frozenset[str]  # private functions whose result is only ever message text
    optional: dict[str, frozenset[int]] = dataclasses.field(default_factory=dict)  # params with defaults
    message_returns: frozenset[str] = frozenset()  # functions that return a message, or None


class Regions:
    """The nodes of one function that are message text (roots of message-text subtrees)."""

    def __init__(self, func: ast.FunctionDef, exceptions: frozenset[str], module: MessageParams) -> None:
        self.func, self.exceptions, self.module = func, exceptions, module
        self.parent: dict[int, ast.AST] = {}
        for node in ast.walk(func):
            for child in ast.iter_child_nodes(node):
                self.parent[id(child)] = node
        self.roots: set[int] = set()
        self.returned_text: set[int] = set()  # returned messages of MESSAGE_RETURNS functions
        if _simple_name_of_def(func) in module.message_returns:
            for node in ast.walk(func):
                if isinstance(node, ast.Return) and node.value is not None and is_text(node.value):
                    self.roots.add(id(node.value))
                    self.returned_text.add(id(node.value))
        if _simple_name_of_def(func) in module.message_functions:
            self.roots.add(id(func))
            return
        body = func.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                self.roots.add(id(body[0]))
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                for arg in message_args(node, exceptions, module):
                    self.roots.add(id(arg))
        self._propagate_through_variables()

    def may_drop(self, call: ast.Call, field: str, index: int) -> bool:
        """Whether leaving out that argument still calls ``call``'s callee with the other
        arguments where they were: the last positional argument, or a keyword, of a callee that
        does not require it (an exception or log call, or a parameter with a default)."""
        if field == "args" and index != len(call.args) - 1:
            return False  # the arguments after it would move into its place
        name = _simple_name(call.func) or ""
        if name in self.exceptions or (name in LOG_METHODS and name not in self.module.positions):
            return name not in SINK_ARGS
        return name in self.module.optional and (
            index in self.module.optional[name] if field == "args" else True
        )

    def inside(self, node: ast.AST) -> bool:
        current: ast.AST | None = node
        while current is not None:
            if id(current) in self.roots:
                return True
            current = self.parent.get(id(current))
        return False

    def _propagate_through_variables(self) -> None:
        """A local assigned once and used only as message text: its value is message text."""
        assigns: dict[str, list[ast.expr]] = {}
        loads: dict[str, list[ast.Name]] = {}
        for node in ast.walk(self.func):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                assigns.setdefault(node.targets[0].id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                assigns.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                loads.setdefault(node.id, []).append(node)
        for node in ast.walk(self.func):  # for role, name in (("the agent", agent), …): a table
            if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple):
                rows = node.iter.elts if isinstance(node.iter, ast.Tuple | ast.List) else []
                for k, target in enumerate(node.target.elts):
                    if not isinstance(target, ast.Name):
                        continue
                    for row in rows:
                        if isinstance(row, ast.Tuple) and len(row.elts) == len(node.target.elts):
                            assigns.setdefault(target.id, []).append(row.elts[k])
        changed = True
        while changed:
            changed = False
            for name, values in assigns.items():
                uses = loads.get(name, [])
                if uses and all(self.inside(u) for u in uses):
                    for value in values:
                        if id(value) not in self.roots:
                            self.roots.add(id(value))
                            changed = True


def _simple_name_of_def(func: ast.FunctionDef) -> str:
    return _original_name(func.name)


def _original_name(name: str) -> str:
    """``x__invalid__mutmut_3`` → ``_invalid``; ``xǁTaskStageǁverify__mutmut_orig`` → ``verify``."""
    name = name.rsplit("__mutmut_", 1)[0]
    if "ǁ" in name:
        return name.rsplit("ǁ", 1)[1]
    return name[2:] if name.startswith("x_") else name


def message_args(call: ast.Call, exceptions: frozenset[str], module: MessageParams) -> Iterator[ast.AST]:
    name = _simple_name(call.func)
    if name is None:
        return
    positions: frozenset[int] = frozenset()
    keywords: frozenset[str] = frozenset()
    if name in SINK_ARGS:
        positions, keywords = SINK_ARGS[name]
    elif name in exceptions:
        positions, keywords = frozenset({0}), frozenset({"message", "msg"})
    elif (
        name in LOG_METHODS
        and isinstance(call.func, ast.Attribute)
        and _simple_name(call.func.value) in LOGGERS
    ):
        positions, keywords = frozenset(range(len(call.args))), frozenset(k.arg or "" for k in call.keywords)
    elif name in module.positions:
        positions, keywords = module.positions[name], module.names[name]
    for i, arg in enumerate(call.args):
        if i in positions and not isinstance(arg, ast.Starred):
            yield arg
    for kw in call.keywords:
        if kw.arg in keywords:
            yield kw.value


def module_message_params(tree: ast.Module, exceptions: frozenset[str], module: str) -> MessageParams:
    """Message parameters and message functions of one module, to a fixed point."""
    funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    optional: dict[str, frozenset[int]] = {}
    for func in funcs:
        args = [a.arg for a in func.args.posonlyargs + func.args.args]
        skip = 1 if args[:1] in (["self"], ["cls"]) else 0
        first_default = len(args) - len(func.args.defaults)
        optional[func.name] = frozenset(i - skip for i in range(first_default, len(args)))
    returns = frozenset(MESSAGE_RETURNS.get(module, ()))
    params = MessageParams({}, {}, frozenset(), optional, returns)
    while True:
        positions: dict[str, frozenset[int]] = {}
        names: dict[str, frozenset[str]] = {}
        for func in funcs:
            regions = Regions(func, exceptions, params)
            args = [a.arg for a in func.args.posonlyargs + func.args.args]
            skip = 1 if args[:1] in (["self"], ["cls"]) else 0
            found: set[str] = set()
            for arg in args[skip:]:
                uses = [
                    n for n in ast.walk(func) if isinstance(n, ast.Name) and n.id == arg
                    and isinstance(n.ctx, ast.Load)
                ]  # fmt: skip
                if uses and all(regions.inside(u) for u in uses):
                    found.add(arg)
            if found:
                positions[func.name] = frozenset(i - skip for i, a in enumerate(args) if a in found)
                names[func.name] = frozenset(found)
        candidate = MessageParams(positions, names, params.message_functions, optional, returns)
        found = _message_functions(funcs, exceptions, candidate)
        new = MessageParams(positions, names, found, optional, returns)
        if new == params:
            return new
        params = new


def _message_functions(
    funcs: list[ast.FunctionDef], exceptions: frozenset[str], params: MessageParams
) -> frozenset[str]:
    """Private functions that are only ever called, and only where the result is message text."""
    regions = {id(f): Regions(f, exceptions, params) for f in funcs}
    sites: dict[str, list[tuple[ast.FunctionDef, ast.Call]]] = {}
    for func in funcs:
        for node in _own_nodes(func):
            if isinstance(node, ast.Call) and _simple_name(node.func):
                sites.setdefault(_simple_name(node.func) or "", []).append((func, node))
    callees = {id(call.func) for calls in sites.values() for _, call in calls}
    found = set(params.message_functions)
    for func in funcs:
        name = func.name
        private = name.startswith("_") and not name.startswith("__")
        calls = sites.get(name, [])
        if not private or not calls or _referenced_otherwise(funcs, name, callees):
            continue
        if all(regions[id(holder)].inside(call) for holder, call in calls):
            found.add(name)
    return frozenset(found)


def _own_nodes(func: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``func`` outside the functions nested in it."""
    stack: list[ast.AST] = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _referenced_otherwise(funcs: list[ast.FunctionDef], name: str, callees: set[int]) -> bool:
    """Whether ``name`` is used other than called (passed as a callback, stored…)."""
    for func in funcs:
        for node in ast.walk(func):
            if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                if _simple_name(node) == name and id(node) not in callees:
                    return True
    return False


def is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))
