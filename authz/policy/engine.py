"""Cedar policies and schema, parsed and validated once; one evaluation per request.

``Policies.load(dir)`` reads ``schema.cedarschema`` and every ``*.cedar`` file (in name order),
refuses anything that does not parse or validate against the schema with a ``PolicyFileError``
naming the file and line, and keeps pre-parsed handles: nothing is parsed per request.

A decision is Cedar's: default deny, ``forbid`` wins, any evaluation error denies. The reason
of a deny is the ``@reason`` annotation of the first determining forbid (cedarpy names
policies by position, ``policy0``…, which is mapped back to each policy's annotations).

Cedar is a pure function of the policies and the request, and an evaluation costs tens of
µs, so verdicts are remembered per distinct input (a bounded memo, new with every load): an
agent repeating a call pays for a dictionary lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from authz.cache import BoundedCache
from authz.errors import PolicyError

SCHEMA_FILE = "schema.cedarschema"
_POSITIONAL = re.compile(r"^\[(policy\d+)\]\s*(.*)$", re.S)


class PolicyFileError(PolicyError):
    """A policy or the schema cannot be used; names the file and, where known, the line."""

    def __init__(self, file: Path, line: int | None, problem: str) -> None:
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {problem}")
        self.file, self.line, self.problem = file, line, problem


@dataclass(frozen=True)
class PolicyInput:
    agent: str
    agent_attrs: Mapping[str, Any]  # owner, status
    action: str  # the operation
    principal: str  # the target
    principal_attrs: Mapping[str, Any]  # exists, kind, privileged, groups, active, roles
    context: Mapping[str, Any]


#: One request as stage 8 shapes it: every attribute and context key the pipeline sends, which
#: the schema must declare (checked at load: a schema that lacks one would deny every request).
SAMPLE_PRINCIPAL: Mapping[str, Any] = {
    "exists": True, "kind": "human", "privileged": False, "groups": [], "active": True, "roles": [],
}  # fmt: skip
SAMPLE_CONTEXT: Mapping[str, Any] = {
    "intent": "account_support", "break_glass": False, "on_behalf_of": "", "delegation_depth": 0,
    "approvals": 0, "approvers": [], "task_calls": 0, "reversible": True, "hour": 12, "group": "",
    "group_exists": False, "group_privileged": False,
}  # fmt: skip


@dataclass(frozen=True)
class PolicyVerdict:
    allowed: bool
    reason: str | None  # the determining forbid's @reason; None for an allow or a default deny
    policies: tuple[str, ...]  # @id (else positional id) of the determining policies
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Meta:
    id: str
    reason: str | None


_APPLIES = "appliesTo { principal: [Agent], resource: [Principal], context: RequestContext }"


def _with_actions(schema_text: str, actions: Mapping[str, str]) -> str:
    """``schema_text`` with a declaration for each of ``actions`` it does not declare."""
    missing = []
    for name, op_class in sorted(actions.items()):
        probe = f"permit (principal, action == Action::{json.dumps(name)}, resource);"
        if not cedarpy.validate_policies(probe, schema_text).validation_passed:
            missing.append(f"action {json.dumps(name)} in [{json.dumps(op_class)}] {_APPLIES};")
    if not missing:
        return schema_text
    return schema_text + "\n// Declared from the route table (route packs):\n" + "\n".join(missing) + "\n"


def _policy_starts(text: str) -> list[int]:
    """The line (1-based) on which each policy of ``text`` starts: its first annotation or effect."""
    starts: list[int] = []
    inside = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if not inside and (line.startswith("@") or line.startswith(("permit", "forbid"))):
            starts.append(number)
            inside = True
        if inside and line.endswith(";"):
            inside = False
    return starts


class Policies:
    MEMO_LIMIT = 16_384

    def __init__(
        self, policy_set: Any, schema: Any, meta: list[_Meta], files: list[Path], schema_text: str
    ) -> None:
        self._set, self._schema, self._meta, self.files = policy_set, schema, meta, files
        self._schema_text = schema_text
        self._memo: BoundedCache[Hashable, PolicyVerdict] = BoundedCache(self.MEMO_LIMIT)

    def declares(self, action: str) -> bool:
        """Whether the schema declares ``action``: a route whose operation it does not is denied
        by every policy (found at load, not at the first request)."""
        probe = f"permit (principal, action == Action::{json.dumps(action)}, resource);"
        return bool(cedarpy.validate_policies(probe, self._schema_text).validation_passed)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self._meta]

    @classmethod
    def load(cls, directory: Path, actions: Mapping[str, str] | None = None) -> Policies:
        """The policies of ``directory``; ``actions`` (operation → class, from the route table)
        are declared in their class's action group where the schema does not declare them, so
        route packs need no schema edits and class-wide policies cover their operations."""
        schema_path = directory / SCHEMA_FILE
        try:
            schema_text = _with_actions(schema_path.read_text(encoding="utf-8"), actions or {})
            schema = cedarpy.Schema.from_str(schema_text)
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyFileError(schema_path, None, f"cannot be read: {exc}") from None
        except ValueError as exc:
            raise PolicyFileError(schema_path, None, f"is not a valid Cedar schema: {exc}") from None
        files = sorted(directory.glob("*.cedar"))
        if not files:
            raise PolicyFileError(directory, None, "holds no *.cedar policy file")
        texts = [cls._checked(path, schema_text) for path in files]
        combined = "\n".join(texts)
        meta = cls._annotations(combined)
        policies = cls(cedarpy.PolicySet.from_str(combined), schema, meta, files, schema_text)
        policies._check_inputs(schema_path, next(iter(actions or {}), None))
        policies._check_classes(schema_path, actions or {})
        return policies

    def _check_classes(self, schema_path: Path, actions: Mapping[str, str]) -> None:
        """Each operation is in its class's action group, as the route table says: a schema that
        declares it in another would let class-wide policies judge it as something else."""
        for op_class in sorted(set(actions.values())):
            text = f"permit (principal, action in Action::{json.dumps(op_class)}, resource);"
            probe = Policies(
                cedarpy.PolicySet.from_str(text), self._schema, [_Meta("probe", None)], [], self._schema_text
            )
            for action in sorted(a for a, c in actions.items() if c == op_class):
                sample = PolicyInput(
                    "spiffe://example.org/agent", {"owner": "owner", "status": "active"}, action, "alice",
                    SAMPLE_PRINCIPAL, SAMPLE_CONTEXT,
                )  # fmt: skip
                if not probe._evaluate(sample).allowed:
                    raise PolicyFileError(
                        schema_path, None, f"declares {action} outside the action group {op_class}, "
                        f"the class the route table gives it",
                    )  # fmt: skip

    def _check_inputs(self, schema_path: Path, action: str | None) -> None:
        """The schema declares every attribute the pipeline sends (an upgrade adds some)."""
        if action is None:
            return
        sample = PolicyInput(
            "spiffe://example.org/agent", {"owner": "owner", "status": "active"}, action, "alice",
            SAMPLE_PRINCIPAL, SAMPLE_CONTEXT,
        )  # fmt: skip
        errors = [e for e in self._evaluate(sample).errors if "entities" in e or "context" in e]
        if errors:
            problem = errors[0].rsplit(": ", 1)[-1]
            raise PolicyFileError(
                schema_path, None, f"does not declare what agent-authz sends (see policies/): {problem}"
            )

    @staticmethod
    def _checked(path: Path, schema_text: str) -> str:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyFileError(path, None, f"cannot be read: {exc}") from None
        starts = _policy_starts(text)
        try:
            cedarpy.PolicySet.from_str(text)
        except ValueError as exc:
            line = _first_unparsable(text, starts)
            raise PolicyFileError(path, line, f"{_named(text, starts, line)}does not parse: {exc}") from None
        result = cedarpy.validate_policies(text, schema_text)
        if not result.validation_passed:
            first = str(result.errors[0])
            match = _POSITIONAL.match(first)
            line = None
            if match:
                index = int(match.group(1)[len("policy") :])
                start = starts[index] if index < len(starts) else None
                name = _policy_id(text, starts, start) or match.group(1)
                first = match.group(2).replace(f"`{match.group(1)}`", f"`{name}`")
                line = _line_naming(text, starts, start, first.replace(f"`{name}`", ""))
            raise PolicyFileError(path, line, f"fails schema validation: {first}")
        return text

    @staticmethod
    def _annotations(text: str) -> list[_Meta]:
        policies = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]
        meta: list[_Meta] = []
        for index in range(len(policies)):
            annotations = policies[f"policy{index}"].get("annotations", {})
            meta.append(_Meta(annotations.get("id", f"policy{index}"), annotations.get("reason")))
        return meta

    def decide(self, request: PolicyInput) -> PolicyVerdict:
        return self.remembered(_key(request), lambda: request)

    def remembered(self, key: Hashable | None, build: Callable[[], PolicyInput]) -> PolicyVerdict:
        """The verdict for the input ``build`` makes, which ``key`` must identify completely;
        ``build`` is called only when the verdict is not remembered (None: never remember)."""
        verdict = self._memo.get(key) if key is not None else None
        if verdict is None:
            verdict = self._evaluate(build())
            if key is not None and not verdict.errors:
                self._memo.put(key, verdict)
        return verdict

    def _evaluate(self, request: PolicyInput) -> PolicyVerdict:
        entities = [
            {
                "uid": {"type": "Agent", "id": request.agent},
                "attrs": dict(request.agent_attrs),
                "parents": [],
            },
            {
                "uid": {"type": "Principal", "id": request.principal},
                "attrs": dict(request.principal_attrs),
                "parents": [],
            },
        ]
        cedar_request = {
            "principal": {"type": "Agent", "id": request.agent},
            "action": {"type": "Action", "id": request.action},
            "resource": {"type": "Principal", "id": request.principal},
            "context": dict(request.context),
        }
        try:
            result = cedarpy.is_authorized(cedar_request, self._set, entities, schema=self._schema)
        except Exception as exc:  # noqa: BLE001 - any failure to evaluate is a deny
            return PolicyVerdict(False, None, (), (f"evaluation failed: {exc}",))
        determining = [self._meta[int(p[len("policy") :])] for p in result.diagnostics.reasons]
        errors = tuple(str(e) for e in result.diagnostics.errors)
        allowed = bool(result.allowed) and not errors
        reason = None if allowed else next((m.reason for m in determining if m.reason), None)
        return PolicyVerdict(allowed, reason, tuple(m.id for m in determining), errors)


def _frozen(value: Any) -> Hashable:
    if isinstance(value, bool) or value is None:
        return (value,)  # never equal to 1 or 0
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(_frozen(v) for v in value)  # Cedar has sets only: order is irrelevant
    raise TypeError(f"unexpected {type(value).__name__}")


def _key(request: PolicyInput) -> Hashable | None:
    """Everything Cedar sees, as one hashable value; None if something cannot be one (no memo)."""
    try:
        return (
            request.agent,
            _frozen(request.agent_attrs),
            request.action,
            request.principal,
            _frozen(request.principal_attrs),
            _frozen(request.context),
        )
    except TypeError:
        return None


_ANNOTATED_ID = re.compile(r'@id\(\s*"((?:[^"\\]|\\.)*)"\s*\)')
_QUOTED = re.compile(r"`([^`]+)`")


def _span(text: str, starts: list[int], start: int | None) -> list[str]:
    """The lines of the policy starting on line ``start`` (up to the next policy)."""
    if start is None:
        return []
    lines = text.splitlines()
    later = [s for s in starts if s > start]
    return lines[start - 1 : (later[0] - 1 if later else len(lines))]


def _policy_id(text: str, starts: list[int], start: int | None) -> str | None:
    """The policy's ``@id`` (what operators call it), if it has one."""
    found = _ANNOTATED_ID.search("\n".join(_span(text, starts, start)))
    return found.group(1) if found else None


def _named(text: str, starts: list[int], start: int | None) -> str:
    name = _policy_id(text, starts, start)
    return f"policy `{name}` " if name else ""


def _line_naming(text: str, starts: list[int], start: int | None, problem: str) -> int | None:
    """The first line of the policy that holds a name the problem quotes (`privilegd`), else
    the policy's first line: Cedar's validator reports no positions."""
    names = [n for n in _QUOTED.findall(problem) if not n.startswith(("Action::", "policy"))]
    for offset, line in enumerate(_span(text, starts, start)):
        code = line.split("//", 1)[0]
        if any(re.search(rf"\b{re.escape(n)}\b", code) for n in names):
            return (start or 1) + offset
    return start


def _first_unparsable(text: str, starts: list[int]) -> int | None:
    """The line of the first policy that does not parse on its own."""
    lines = text.splitlines(keepends=True)
    bounds = [*starts, len(lines) + 1]
    for begin, end in zip(bounds, bounds[1:], strict=False):
        chunk = "".join(lines[begin - 1 : end - 1])
        try:
            cedarpy.PolicySet.from_str(chunk)
        except ValueError:
            return begin
    return starts[0] if starts else 1
