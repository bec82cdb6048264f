"""``[directory]``: where live attributes of target principals come from (stage 7).

[directory]
kind = "scim"                          # or "http" (url with {name}) or "file" (path)
url = "https://iam.internal/scim/v2"   # the SCIM base URL
token_file = "/run/secrets/scim-token" # a bearer token, read once at start; never inline
privileged_groups = ["*-admins"]       # globs over displayNames
"""

from __future__ import annotations

import re
from typing import Any

from authz.config.model import DirectoryConfig
from authz.config.table import Table, string_list
from authz.directory.file import DirectoryFileError, FileDirectory

KINDS = ("http", "file", "scim")


def read_directory(t: Table) -> DirectoryConfig:
    d = DirectoryConfig("")
    kind = t.text("kind")
    if kind not in KINDS:
        raise t.fail("kind", f"must be one of {', '.join(KINDS)}")
    url = t.opt_str("url") if kind in ("http", "scim") else None
    group_url = t.opt_str("group_url") if kind == "http" else None
    path = t.path("path") if kind == "file" else None
    if path is not None:
        try:
            FileDirectory(path)  # read again by the server; a broken file stops it here
        except DirectoryFileError as exc:
            raise t.fail("path", str(exc)) from None
    for key, value in (("url", url), ("group_url", group_url)):
        if kind == "http" and (key == "url" or value is not None) and not _lookup_url(value):
            raise t.fail(key, "must be an http(s) URL containing {name}")
    if kind == "scim" and (url is None or not re.match(r"https?://[^/?#{}]+(/[^?#{}]*)?$", url)):
        raise t.fail("url", "must be the SCIM base URL, http(s)://host[:port]/path")
    scim = _scim(t) if kind == "scim" else {}
    rule = t.text("reads_when_unavailable", d.reads_when_unavailable)
    if rule not in ("deny", "allow"):
        raise t.fail("reads_when_unavailable", 'must be "deny" or "allow"')
    unknown = t.text("unknown_targets", d.unknown_targets)
    if unknown not in ("deny", "allow"):
        raise t.fail("unknown_targets", 'must be "deny" or "allow"')
    cfg = DirectoryConfig(
        kind=kind,
        url=url,
        path=path,
        ttl=t.integer("ttl", d.ttl, minimum=0),
        timeout_ms=t.integer("timeout_ms", d.timeout_ms),
        max_concurrency=t.integer("max_concurrency", d.max_concurrency),
        reads_when_unavailable=rule,
        group_url=group_url,
        unknown_targets=unknown,
        **scim,
    )
    t.done()
    return cfg


def _scim(t: Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "token_file" in t.data:
        token_path = t.path("token_file")
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise t.fail("token_file", f"cannot be read: {exc}") from None
        if not token or any(c.isspace() for c in token):
            raise t.fail("token_file", "must hold one bearer token (no spaces)")
        out["token"] = token
    if "token" in t.data:
        raise t.fail("token", "a token is never inline: put it in token_file")
    if "service_types" in t.data:
        out["service_types"] = tuple(string_list(t, "service_types"))
    for key in ("privileged_roles", "privileged_groups"):
        if t.data.get(key) == []:  # none is privileged
            out[key] = tuple(t._take(key, list, []))
        elif key in t.data:
            out[key] = tuple(string_list(t, key))
    return out


def _lookup_url(url: str | None) -> bool:
    return url is not None and "{name}" in url and re.match(r"https?://", url) is not None
