"""The house rules, checked: short modules and functions, no import cycles, plain data imports no
stage, tests mirror the code. A change that breaks one fails here, not in a review."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("authz", "tests", "bench", "proto")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
TABLE_LINES = 5  # a literal (list, dict, tuple, set) this long is a table of data, not logic
#: Modules of plain data and vocabulary: what every stage may import, and what imports no stage.
PLAIN = ("authz.model", "authz.effects", "authz.reasons", "authz.errors", "authz.headers", "authz.wellknown")


def python_files(*roots: str) -> list[Path]:
    files = [p for r in roots for p in (ROOT / r).rglob("*.py")]
    return sorted(p for p in files if "_proto" not in p.parts and "mutants" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", python_files(*SOURCES), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_short(path: Path) -> None:
    lines = path.read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, f"{lines} lines: split it by concern"


def _table_lines(node: ast.AST) -> int:
    """Lines of ``node`` taken by literal tables of data."""
    total = 0
    for child in ast.walk(node):
        if isinstance(child, ast.List | ast.Dict | ast.Tuple | ast.Set) and child.end_lineno:
            span = child.end_lineno - child.lineno + 1
            if span >= TABLE_LINES:
                total += span
                break  # the outermost table only
    return total


def functions(path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            length = node.end_lineno - node.lineno + 1 - _table_lines(node)
            yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", length


def test_functions_are_short() -> None:
    long = [f"{where} ({n} lines)" for p in python_files(*SOURCES) for where, n in functions(p)]
    long = [entry for entry in long if int(entry.rsplit("(", 1)[1].split()[0]) > MAX_FUNCTION_LINES]
    assert long == [], "functions over 60 lines (outside tables of data)"


def imports(path: Path, known: set[str]) -> set[str]:
    """The authz modules ``path`` imports anywhere in it (``TYPE_CHECKING`` and functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("authz"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("authz"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in known else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in python_files("authz")}
    known = set(files)
    return {name: imports(path, known) - {name} for name, path in files.items()}


def test_no_import_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt in graph and state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt in graph and nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # A package's __init__ importing its own submodules is its public face, not a cycle.
    real = [c for c in cycles if not all(m.startswith(c[0]) or c[0].startswith(m) for m in c)]
    assert real == []


def test_plain_data_imports_no_stage() -> None:
    graph = import_graph()
    for name in PLAIN:
        bad = sorted(
            m for m in graph[name] if m.startswith(("authz.stages", "authz.pipeline", "authz.server"))
        )
        assert bad == [], f"{name} imports {bad}"


def test_unit_tests_mirror_the_code() -> None:
    """Every test module under tests/unit/<package>/ is named after a module of that package."""
    unit = ROOT / "tests" / "unit"
    strays = []
    for test in sorted(unit.rglob("test_*.py")):
        package = test.parent.relative_to(unit)
        source = ROOT / "authz" / package
        stem = test.stem[len("test_") :]
        if not any((source / f"{stem.split('_')[0]}.py").exists() or (source / f"{m}.py").exists()
                   for m in _prefixes(stem)):  # fmt: skip
            strays.append(str(test.relative_to(ROOT)))
    assert strays == [], "test modules not named after a module of their package"


def _prefixes(stem: str) -> list[str]:
    parts = stem.split("_")
    return ["_".join(parts[:i]) for i in range(len(parts), 0, -1)]
