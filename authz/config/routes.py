"""The route table: ``[[routes]]`` → ``Route``, refused when two routes could match one request.

Routes are matched by method and segment count, literal segments exactly; a ``{param}`` takes
any one segment. If two routes of a method could both match some path — a literal against a
``{param}``, or two literals an upstream that folds case would take as one — the table shadows:
whichever is listed first decides, and a route added "ahead" can turn a password reset into a
read. Such a table is refused at load, naming both routes with their lines. (``HEAD`` counts
as ``GET``: frameworks answer one with the other's handler.)

``route_warnings`` lists what ``config check`` points out without refusing: routes whose path
or operation looks like a credential, MFA, key, role or group change but whose class says
``read`` or ``write``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from authz.config.derive import read_derive, read_operation
from authz.config.model import ID_SCHEMES, JSON_SCALARS, METHODS, JsonType, Route
from authz.config.packs import Inclusion, inclusions
from authz.config.table import Table, route_lines
from authz.names import NameRule, fold, key_skeleton

_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,=-]+$")
_KEY = re.compile(r"^[^\x00-\x1f\x7f]+$")
NAME_RULES = tuple(r.value for r in NameRule)


def read_routes(top: Table, source_text: str, default_names: NameRule) -> tuple[Route, ...]:
    """The config's ``[[routes]]`` and those of the packs it includes, none shadowing another."""
    lines = route_lines(source_text)
    entries = [
        (_where(top.file, i, route), route)
        for i, t in enumerate(top.tables("routes"))
        for route in [_route(t, default_names, lines[i] if i < len(lines) else None)]
    ]
    for inclusion in inclusions(top):
        entries.extend(_pack_routes(inclusion, default_names))
    for i, (where, route) in enumerate(entries):
        for earlier_where, earlier in entries[:i]:
            if overlap(earlier, route):
                raise top.fail(
                    "routes",
                    f"{earlier_where} and {where} can match the same request: the first listed "
                    "would decide it. Make the templates disjoint",
                )
    if not entries:
        raise top.fail("routes", "at least one route (or an included pack) is required")
    routes = tuple(route for _, route in entries)
    _check_classes(top, routes)
    return routes


def _pack_routes(inclusion: Inclusion, default_names: NameRule) -> list[tuple[str, Route]]:
    pack, found = inclusion.pack, []
    rule = inclusion.names or pack.names or default_names
    for i, t in enumerate(pack.routes):
        data = dict(t.data)
        data["path"] = inclusion.prefix + str(data.get("path", ""))
        data.setdefault("ids", inclusion.ids or pack.ids)
        line = pack.lines[i] if i < len(pack.lines) else None
        route = replace(_route(Table(pack.file, t.prefix, data), rule, line), pack=pack.name)
        found.append((_where(pack.file, i, route), route))
    return found


def _ids(t: Table) -> str:
    value = t.text("ids", "names")
    if value not in ID_SCHEMES:
        raise t.fail("ids", f"must be one of {', '.join(ID_SCHEMES)}")
    return str(value)


def _check_classes(top: Table, routes: tuple[Route, ...]) -> None:
    """One operation, one class: the policy's action groups and stage 6 must agree on it."""
    classes: dict[str, str] = {}
    for route in routes:
        pairs = [(route.operation, route.op_class)]
        pairs += [(r.operation, r.op_class) for r in route.derive.rules] if route.derive else []
        for operation, op_class in pairs:
            if classes.setdefault(operation, op_class) != op_class:
                problem = f"operation {operation!r} has class {classes[operation]!r} and {op_class!r}"
                raise top.fail("routes", f"{problem}: one operation, one class")


def _where(file: Path, index: int, route: Route) -> str:
    name = f"{route.pack}.toml" if route.pack else file.name  # a pack's line is in its own file
    line = f"{name}:{route.line}" if route.line else name
    return f"routes[{index}] ({line}) {route.describe()}"


def _same_method(a: str, b: str) -> bool:
    return {a, b} <= {"GET", "HEAD"} or a == b


def overlap(a: Route, b: Route) -> bool:
    """Whether some request path could match both routes."""
    if not _same_method(a.method, b.method) or len(a.segments) != len(b.segments):
        return False
    for x, y in zip(a.segments, b.segments, strict=True):
        if not (x.startswith("{") or y.startswith("{") or fold(x) == fold(y)):
            return False
    return True


def _route(t: Table, default_names: NameRule, line: int | None) -> Route:
    method = t.text("method")
    if method not in METHODS:
        raise t.fail("method", f"must be one of {', '.join(METHODS)}")
    path = t.text("path")
    params = _template_params(t, path)
    operation, op_class = read_operation(t)
    principal = t.table("principal")
    param, body_field = principal.opt_str("path_param"), principal.opt_str("body_field")
    principal.done()
    derive, refuse = read_derive(t), t.opt_str("refuse")
    if param is None and body_field is None and derive is None and refuse is None:
        raise t.fail("principal", "needs path_param and/or body_field")
    if param is not None and param not in params:
        raise t.fail("principal.path_param", f"{{{param}}} is not in the path template")
    allow_query, query_names = _query(t)
    route = Route(
        method,
        path,
        operation,
        op_class,
        param,
        body_field,
        reversible=t.flag("reversible", False),
        allow_query=allow_query,
        approval=t.flag("approval", False),
        enforce=t.flag("enforce", True),
        query_names=query_names,
        body=_body(t, "body", t.data.get("body")) if "body" in t.data else None,
        names=_names(t, default_names),
        group_param=_group_param(t, params),
        derive=derive,
        refuse=refuse,
        line=line,
        ids=_ids(t),
    )
    t.data.pop("body", None)
    _check_binding_keys(t, route)
    t.done()
    return route


def _template_params(t: Table, path: str) -> list[str]:
    if not path.startswith("/") or path == "/" or path.endswith("/") or "//" in path:
        raise t.fail("path", "must be /segment/... without empty segments or a trailing '/'")
    params: list[str] = []
    for segment in path.strip("/").split("/"):
        match = _PARAM.fullmatch(segment)
        if match:
            params.append(match.group(1))
        elif segment in (".", "..") or not _LITERAL.fullmatch(segment):
            raise t.fail("path", f"segment {segment!r} is neither a literal nor {{param}}")
    if len(set(params)) != len(params):
        raise t.fail("path", "a {param} is used twice")
    return params


def _query(t: Table) -> tuple[bool, frozenset[str] | None]:
    """``allow_query = true`` (any parameter the reading rules allow) or a list of names."""
    value = t.data.pop("allow_query", False)
    if isinstance(value, bool):
        return value, None
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return True, frozenset(value)
    raise t.fail("allow_query", "must be true, false or a list of parameter names")


def _names(t: Table, default: NameRule) -> NameRule:
    value = t.text("names", default.value)
    if value not in NAME_RULES:
        raise t.fail("names", f"must be one of {', '.join(NAME_RULES)}")
    return NameRule(value)


def _group_param(t: Table, params: list[str]) -> str | None:
    """The ``{param}`` naming the group (``group = "…"``; a ``{group}`` parameter by default)."""
    value = t.opt_str("group")
    if value is None:
        return "group" if "group" in params else None
    if value not in params:
        raise t.fail("group", f"{{{value}}} is not in the path template")
    return value


def _body(t: Table, key: str, value: Any) -> JsonType:
    """A body schema, e.g. ``{ user = "string", profile = { title = "string?" }, tags = "string[]",
    emails = [{ value = "string" }] }``."""
    if isinstance(value, str):
        base, nullable = (value[:-1], True) if value.endswith("?") else (value, False)
        if base.endswith("[]") and base[:-2] in JSON_SCALARS:
            return JsonType("array", items=JsonType(base[:-2]), nullable=nullable)
        if base in JSON_SCALARS:
            return JsonType(base, nullable=nullable)
        raise t.fail(key, f"type {value!r} is not one of {', '.join(JSON_SCALARS)} (with [] or ?)")
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], dict):
            raise t.fail(key, "an array of objects is written [{ key = type, … }]")
        return JsonType("array", items=_body(t, f"{key}[0]", value[0]))
    if isinstance(value, dict):
        fields = tuple((name, _body(t, f"{key}.{name}", item)) for name, item in value.items())
        _check_keys(t, key, [name for name, _ in fields])
        return JsonType("object", fields=fields)
    raise t.fail(key, "must be a type name, a table of keys or a list of one table")


def _check_keys(t: Table, key: str, names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        if not name or not _KEY.fullmatch(name):
            raise t.fail(key, f"key {name!r} is not a usable JSON key")
        skeleton = key_skeleton(name)
        if skeleton in seen:
            problem = f"keys {seen[skeleton]!r} and {name!r} would be read as one by lenient upstreams"
            raise t.fail(key, problem)
        if fold(name) == "_method":
            raise t.fail(key, "a _method key would override the HTTP method")
        seen[skeleton] = name


def _check_binding_keys(t: Table, route: Route) -> None:
    """A schema declares the principal field at the top, as a string, and no path parameter."""
    if route.body is None:
        return
    params = {key_skeleton(p): p for p in route.params}
    field = route.principal_body_field
    for name, shape in route.body.fields:
        if name == field:
            if shape.kind != "string" or shape.nullable:
                raise t.fail(f"body.{name}", "the principal field must be a string")
        elif key_skeleton(name) in params or (field and key_skeleton(name) == key_skeleton(field)):
            problem = "may be read as a principal or path parameter, which the route reads elsewhere"
            raise t.fail(f"body.{name}", problem)
    if field is not None and field not in route.body.field_map:
        raise t.fail("body", f"must declare the principal field {field!r}")


_CHANGE_WORDS = re.compile(
    r"password|passwd|reset|mfa|factor|otp|credential|secret|key|token|role|group|member|admin|"
    r"privilege|permission|grant|suspend|disable|enable|lifecycle|session|revoke|rotate",
    re.I,
)


_CHANGE_VERBS = re.compile(r"reset|rotate|grant|revoke|suspend|disable|enable|assign|unlock|activate", re.I)


def route_warnings(routes: tuple[Route, ...], file: Path) -> list[str]:
    warnings = []
    for i, route in enumerate(routes):
        if route.op_class not in ("read", "write") or route.refuse or route.derive or route.pack:
            continue  # refused; its body's attributes decide; a shipped pack's, classed and tested
        text = f"{route.path} {route.operation}"
        pattern = _CHANGE_VERBS if route.method in ("GET", "HEAD") else _CHANGE_WORDS
        words = sorted({m.group(0).lower() for m in pattern.finditer(text)})
        if words or (route.op_class == "read" and route.method not in ("GET", "HEAD")):
            why = f"its path or operation says {', '.join(words)}" if words else "it changes state"
            warnings.append(
                f"{_where(file, i, route)} has class {route.op_class!r} but {why}: is it a credential, "
                "MFA, key, role or group change (credential_change, privilege_change, key_export)?"
            )
    return warnings


def listen_warnings(listen: str, field: str, file: Path) -> list[str]:
    host = listen.rpartition(":")[0].strip("[]")
    if host in ("127.0.0.1", "::1", "localhost") or host.startswith("127."):
        return []
    return [
        f"{file.name}: {field} = {listen!r} is not a loopback address and the Check port is plaintext: "
        "anyone who reaches it can ask for decisions; keep it on loopback next to Envoy"
    ]


def upstream_names(top: Table) -> NameRule:
    upstream = top.table("upstream")
    rule = _names(upstream, NameRule.EXACT)
    upstream.done()
    return rule
