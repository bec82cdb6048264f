"""``[[packs]]``: route packs shipped with agent-authz (``authz/packs/*.toml``), included by name.

A platform team fronting a SCIM endpoint, Keycloak, Okta or Microsoft Graph includes the
vendor's pack instead of writing its routes::

    [[packs]]
    name = "scim2"
    prefix = "/scim/v2"          # where the upstream serves the API
    names = "case-insensitive"   # optional: how the upstream compares names (the pack's default)
    ids = "directory"            # optional: paths name accounts by the upstream's ids (the pack's default)

A pack is a TOML file of ``[[routes]]`` (relative paths) under a ``[pack]`` header that says
where it was checked and what it does not cover. Its routes join the route table and are held
to every rule of it: none may shadow another, the config's own included.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from authz.config.model import ID_SCHEMES
from authz.config.table import Table, route_lines, string_list
from authz.names import NameRule

NAME_RULES = tuple(r.value for r in NameRule)

PACKS = ("scim2", "keycloak", "okta", "msgraph")


@dataclass(frozen=True)
class Pack:
    name: str
    file: Path  # for messages: the pack's file name
    description: str
    source: str
    names: NameRule | None  # the upstream's name rule, unless the config says otherwise
    ids: str  # how its paths name accounts (``ID_SCHEMES``), unless the config says otherwise
    not_covered: tuple[str, ...]
    routes: tuple[Table, ...]  # the route tables, paths relative to the prefix
    lines: tuple[int | None, ...]


@dataclass(frozen=True)
class Inclusion:
    pack: Pack
    prefix: str
    names: NameRule | None  # from the config, else the pack's
    ids: str | None  # from the config, else the pack's


def pack_text(name: str) -> str:
    return resources.files("authz.packs").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_pack(name: str) -> Pack:
    """Pack ``name`` as shipped."""
    text = pack_text(name)
    file = Path(f"authz/packs/{name}.toml")
    top = Table(file, "", tomllib.loads(text))
    meta = top.table("pack")
    pack = Pack(
        name=name,
        file=file,
        description=meta.text("description"),
        source=meta.text("source"),
        names=_names(meta),
        ids=_ids(meta) or "names",
        not_covered=tuple(string_list(meta, "not_covered")),
        routes=tuple(top.tables("routes")),
        lines=tuple(route_lines(text)),
    )
    meta.done()
    top.done()
    return pack


def inclusions(top: Table) -> list[Inclusion]:
    found = []
    for t in top.tables("packs"):
        name = t.text("name")
        if name not in PACKS:
            raise t.fail("name", f"is not a route pack agent-authz ships ({', '.join(PACKS)})")
        prefix = t.text("prefix", "", nonempty=False)
        if prefix and (not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix):
            raise t.fail("prefix", "must be empty or /segment/... without a trailing '/'")
        found.append(Inclusion(load_pack(name), prefix, _names(t), _ids(t)))
        t.done()
    return found


def _names(t: Table) -> NameRule | None:
    value = t.opt_str("names")
    if value is not None and value not in NAME_RULES:
        raise t.fail("names", f"must be one of {', '.join(NAME_RULES)}")
    return None if value is None else NameRule(value)


def _ids(t: Table) -> str | None:
    value = t.opt_str("ids")
    if value is not None and value not in ID_SCHEMES:
        raise t.fail("ids", f"must be one of {', '.join(ID_SCHEMES)}")
    return value
