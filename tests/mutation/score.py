"""Per-module mutation scores from mutmut's results in ``mutants/`` (``make mutation``).

    score = killed / (total - message-text mutants - equivalent mutants)

``killed`` counts mutants a test failed on (mutmut's "killed"), plus "timeout" and "segfault"
(the mutant made a test hang or crash: noticed). Everything else that was run — "survived",
"no tests", "suspicious" — is not killed.

**Message-text mutants** are found from the code, not marked in it: a mutant is one when
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

**Equivalent mutants** are listed in ``tests/mutation/equivalent.toml``, each with its module,
mutmut's id, the mutated line (checked against the mutant, so a stale entry is reported, not
silently subtracted) and why no test can tell it from the original.

Run: ``python tests/mutation/score.py [--markdown FILE] [--survivors] [--fail-under 95]``
from the repository root after ``mutmut run``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import json
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"
EQUIVALENT = Path(__file__).resolve().parent / "equivalent.toml"

KILLED = {1, 3}  # killed; 3 is an internal pytest error while running the mutant: a kill too
NOTICED = {36, -24, 24, 152, 255, -11, -9}  # timeout (SIGXCPU…) and crashes: the tests noticed
STATUS = {
    0: "survived",
    1: "killed",
    3: "killed",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "type check",
    None: "not checked",
}

#: Calls whose argument at these positions (or keywords) is message text.
SINK_ARGS: dict[str, tuple[frozenset[int], frozenset[str]]] = {
    "Denied": (frozenset({1}), frozenset({"message"})),  # Denied(reason, message, extra, stage)
    "deny": (frozenset({1}), frozenset({"message"})),  # Decision.deny(reason, message)
    "ConfigError": (frozenset({0, 1, 2}), frozenset({"file", "key", "problem"})),
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


# ---------------------------------------------------------------- which calls carry a message


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
                if isinstance(node, ast.Return) and node.value is not None and _is_text(node.value):
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


# ---------------------------------------------------------------- comparing a mutant with its original


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
        if id(node) in regions.returned_text and not _is_text(other):
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


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _unnamed(func: ast.FunctionDef) -> ast.AST:
    """The function without its name: mutmut names each copy differently."""
    return ast.Tuple(elts=[func.args, *func.body, *(func.returns and [func.returns] or [])], ctx=ast.Load())


# ---------------------------------------------------------------- reading mutmut's results


@dataclasses.dataclass
class Mutant:
    key: str  # mutmut's id, e.g. authz.stages.task.xǁTaskStageǁverify__mutmut_3
    module: str  # authz/stages/task.py
    exit_code: int | None
    message_text: bool = False
    equivalent: str | None = None  # the reason, when listed
    diff: list[str] = dataclasses.field(default_factory=list)

    @property
    def counts(self) -> bool:
        """Whether the mutant counts in the score (neither message text nor equivalent)."""
        return not self.message_text and self.equivalent is None

    @property
    def status(self) -> str:
        return STATUS.get(self.exit_code, "suspicious")

    @property
    def killed(self) -> bool:
        return self.exit_code in KILLED or self.exit_code in NOTICED


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    found: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[item.name] = item
    return found


def _diff_lines(source: list[str], orig: ast.FunctionDef, mutant: ast.FunctionDef) -> list[str]:
    a = source[orig.lineno - 1 : orig.end_lineno]
    b = source[mutant.lineno - 1 : mutant.end_lineno]
    a[0], b[0] = a[0].replace(orig.name, "f", 1), b[0].replace(mutant.name, "f", 1)
    return [
        line[0] + " " + line[1:].strip()
        for line in difflib.unified_diff(a, b, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def read_module(meta: Path, exceptions: frozenset[str]) -> list[Mutant]:
    source_path = meta.with_suffix("")  # mutants/authz/x.py
    module = str(source_path.relative_to(MUTANTS))
    data = json.loads(meta.read_text())
    original = ast.parse((ROOT / module).read_text())
    params = module_message_params(original, exceptions, module)
    text = source_path.read_text()
    tree = ast.parse(text)
    lines = text.splitlines()
    functions = _functions(tree)
    regions_cache: dict[str, Regions] = {}
    mutants = []
    for key, exit_code in data["exit_code_by_key"].items():
        name = key.rsplit(".", 1)[1]
        orig_name = name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
        m = Mutant(key, module, exit_code)
        orig, mutant = functions.get(orig_name), functions.get(name)
        if orig is not None and mutant is not None:
            if orig_name not in regions_cache:
                regions_cache[orig_name] = Regions(orig, exceptions, params)
            m.message_text = is_message_text(orig, mutant, regions_cache[orig_name])
            m.diff = _diff_lines(lines, orig, mutant)
        mutants.append(m)
    return mutants


def read_equivalent(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text()).get("mutant", []))


def apply_equivalent(mutants: Iterable[Mutant], entries: list[dict[str, str]]) -> list[str]:
    """Mark the listed mutants; return problems (stale or unknown entries)."""
    by_key = {m.key: m for m in mutants}
    problems = []
    for entry in entries:
        m = by_key.get(entry["id"])
        if m is None:
            problems.append(f"equivalent.toml: {entry['id']} is not a mutant (any more)")
            continue
        if entry.get("module") != m.module:
            problems.append(f"equivalent.toml: {entry['id']} is in {m.module}, not {entry.get('module')}")
        mutated = [line[2:] for line in m.diff if line.startswith("+")]
        if entry["mutated"].strip() not in mutated:
            problems.append(f"equivalent.toml: {entry['id']} now mutates {mutated}, not {entry['mutated']!r}")
            continue
        m.equivalent = entry["reason"]
    return problems


# ---------------------------------------------------------------- the report


@dataclasses.dataclass
class Score:
    module: str
    total: int = 0
    killed: int = 0
    message_text: int = 0
    equivalent: int = 0
    survived: int = 0  # not killed, and neither message text nor equivalent
    not_checked: int = 0

    @property
    def counted(self) -> int:
        return self.total - self.message_text - self.equivalent

    @property
    def killed_counted(self) -> int:
        return self.killed

    @property
    def score(self) -> float:
        return 100.0 if self.counted == 0 else 100.0 * self.killed / self.counted


def score(mutants: Iterable[Mutant]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for m in mutants:
        s = scores.setdefault(m.module, Score(m.module))
        s.total += 1
        if m.counts and m.exit_code is None:
            s.not_checked += 1
        if m.message_text:
            s.message_text += 1
        elif m.equivalent is not None:
            s.equivalent += 1
        elif m.killed:
            s.killed += 1
        else:
            s.survived += 1
    return scores


def table(scores: dict[str, Score], markdown: bool) -> str:
    head = ("module", "total", "killed", "message text", "equivalent", "survived", "score")
    rows = [
        (s.module, s.total, s.killed, s.message_text, s.equivalent, s.survived, f"{s.score:.1f}%")
        for s in sorted(scores.values(), key=lambda s: s.module)
    ]
    fields = ("total", "killed", "message_text", "equivalent", "survived", "not_checked")
    all_ = Score("all", *(sum(getattr(s, f) for s in scores.values()) for f in fields))
    rows.append(("**all**" if markdown else "all", all_.total, all_.killed, all_.message_text,
                 all_.equivalent, all_.survived, f"{all_.score:.1f}%"))  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| `" + str(r[0]) + "` | " + " | ".join(str(c) for c in r[1:]) + " |" for r in rows[:-1]]
        lines.append("| " + " | ".join(str(c) for c in rows[-1]) + " |")
        return "\n".join(lines)
    width = max(len(str(r[0])) for r in rows)
    out = [f"{head[0]:<{width}}  " + "  ".join(f"{h:>12}" for h in head[1:])]
    out += [f"{r[0]:<{width}}  " + "  ".join(f"{c!s:>12}" for c in r[1:]) for r in rows]
    return "\n".join(out)


def collect() -> tuple[list[Mutant], list[str]]:
    exceptions = exception_classes(ROOT / "authz")
    mutants = [m for meta in sorted(MUTANTS.rglob("*.py.meta")) for m in read_module(meta, exceptions)]
    problems = apply_equivalent(mutants, read_equivalent(EQUIVALENT))
    return mutants, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--survivors", action="store_true", help="list the mutants that count and survived")
    parser.add_argument("--message-text", action="store_true", help="list the message-text mutants")
    parser.add_argument("--json", type=Path, help="write every mutant's classification here")
    parser.add_argument("--fail-under", type=float, help="exit 1 if a module scores less")
    parser.add_argument(
        "--ids", action="store_true", help="only print the ids of the mutants that count and were not run"
    )
    args = parser.parse_args(argv)
    if not MUTANTS.exists():
        print("no mutants/ folder: run `make mutation` (mutmut run) first", file=sys.stderr)
        return 2
    mutants, problems = collect()
    if args.ids:
        print("\n".join(m.key for m in mutants if m.counts and m.exit_code is None))
        return 0
    scores = score(mutants)
    print(table(scores, args.markdown))
    for m in mutants:
        counted = not m.message_text and m.equivalent is None
        if (args.survivors and counted and not m.killed) or (args.message_text and m.message_text):
            print(f"\n{m.key}  [{m.status}]")
            print("\n".join("    " + line for line in m.diff))
    if args.json:
        args.json.write_text(
            json.dumps([dataclasses.asdict(m) for m in mutants], indent=1, ensure_ascii=False)
        )
    for problem in problems:
        print(problem, file=sys.stderr)
    unchecked = sum(s.not_checked for s in scores.values())
    if unchecked:
        print(f"{unchecked} mutants were not checked (an interrupted run?)", file=sys.stderr)
    if args.fail_under is not None:
        low = [s.module for s in scores.values() if s.score < args.fail_under]
        if low or problems or unchecked:
            print(f"under {args.fail_under}%: {', '.join(low) or 'none'}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
