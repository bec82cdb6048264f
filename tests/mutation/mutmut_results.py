"""Reading mutmut's results in ``mutants/``: every mutant of every mutated module, its exit code
(``STATUS``), whether it is message text, and its diff against the original function."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
from pathlib import Path

from message_text import Regions, module_message_params
from mutant_diff import is_message_text

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"

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
